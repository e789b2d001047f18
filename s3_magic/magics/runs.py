"""Runs on disk: ``%s3_runs``, ``%s3_resume``, ``%s3_export``."""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument

from s3_magic.magics.args import FOLDER, SETTINGS, call, options, parse


@options(*FOLDER)
def s3_runs(self: Any, line: str) -> Any:
    """List the runs in the run folder, newest first."""
    return call(self, "runs", parse(s3_runs, line))


@options(
    argument("run_id", nargs="?", help="run to open (default: the newest in the folder)"),
    argument("--run", action="store_true", help="also finish the run (all its rounds)"),
    *FOLDER,
    *SETTINGS,
)
def s3_resume(self: Any, line: str) -> Any:
    """Open an existing run as the current one (to inspect it or go on); --run finishes it."""
    return call(self, "resume", parse(s3_resume, line))


@options(
    argument("path", help="file (jsonl, csv, parquet) or folder (hf) to write"),
    argument("--format", default="jsonl", choices=["jsonl", "csv", "parquet", "hf"], help="output format"),
    argument("--include-rejected", action="store_true", help="also write examples the filters or you rejected"),
)
def s3_export(self: Any, line: str) -> Any:
    """Export the current run's synthetic dataset with its provenance."""
    return call(self, "export", parse(s3_export, line))
