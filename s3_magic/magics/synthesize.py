"""``%%s3_synthesize`` (start a run from a YAML cell) and ``%s3_rationales`` (edit the rationales)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument

from s3_magic.magics.args import FOLDER, PAGE, SETTINGS, call, options, parse


@options(
    argument("task", nargs="?", help="line form: a task file or built-in task name; the cell body wins"),
    argument("--name", help="run name (default: task-date-time-id)"),
    argument("--rationales-only", action="store_true", help="stop after the rationales, to edit them first"),
    *FOLDER,
    *SETTINGS,
    *PAGE,
)
def s3_synthesize(self: Any, line: str, cell: str | None = None) -> Any:
    """Start an S3 run: the cell body is the task in YAML. Makes the rationales and the seed data, showing
    samples as they arrive; then shows the rationales per label and a sample browser.

    As a line magic without a task, it goes on with the current run (e.g. after
    ``%%s3_synthesize --rationales-only`` and editing the rationales).
    """
    ns = parse(s3_synthesize, line)
    if cell is not None and cell.strip():
        ns.task = cell
    return call(self, "synthesize", ns, trait_defaults=ns.task is not None)


@options(
    argument("--label", help="with --text: the label whose rationales are replaced"),
    argument("--text", dest="texts", action="append", help="a rationale (repeat); replaces the label's ones"),
)
def s3_rationales(self: Any, line: str) -> Any:
    """Show the current run's rationales per label in an editor (edit or delete them before seed synthesis)."""
    return call(self, "rationales", parse(s3_rationales, line))
