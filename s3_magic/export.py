"""Export a run's synthetic data with its provenance: JSONL, CSV or a saved Hugging Face dataset."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from s3_magic.errors import ConfigError, StoreError
from s3_magic.store import RunStore

FORMATS = ("jsonl", "csv", "hf")


def export_rows(store: RunStore, run_id: str, include_rejected: bool = False) -> list[dict[str, Any]]:
    """Flat records: the example, where it came from, and its verdicts."""
    pair = store.get_run(run_id)["task"]["spec"].get("kind") == "pair"
    rows = store.examples(run_id, accepted=None if include_rejected else True)
    out = []
    for r in rows:
        origin = r["origin"]
        rec: dict[str, Any] = {"id": r["id"], "text": r["text"] or ""}
        if pair:
            rec["text_b"] = r["text_b"] or ""
        rec.update(
            label=r["label"], round=r["round"], kind=r["kind"],
            rationales=json.dumps(origin.get("rationales", []), ensure_ascii=False),
            from_uid=origin.get("from_uid", ""), from_text=origin.get("from_text", ""),
            backend=r["backend"] or "", model=r["model"] or "", prompt_hash=r["prompt_hash"] or "",
            verdict=r["verdict"], accepted=bool(r["accepted"]), edited=bool(r["edited"]),
        )  # fmt: skip
        out.append(rec)
    return out


def export_run(
    store: RunStore, run_id: str, path: str | Path, format: str = "jsonl", include_rejected: bool = False
) -> Path:
    """Write the run's examples to ``path``; the file (or folder) appears whole or not at all."""
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    rows = export_rows(store, run_id, include_rejected)
    if not rows:
        raise StoreError(f"run {run_id!r} has no examples to export yet; synthesise some first")
    target = Path(path).expanduser()
    parent = target.resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"folder {str(parent)!r} does not exist; create it or choose another output path")
    tmp = Path(tempfile.mkdtemp(prefix=".s3-export-", dir=parent))
    try:
        staged = tmp / "out"
        if format == "jsonl":
            with staged.open("w", encoding="utf-8") as fh:
                for rec in rows:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        elif format == "csv":
            import pandas as pd

            pd.DataFrame(rows).to_csv(staged, index=False)
        else:
            from datasets import Dataset

            Dataset.from_list(rows).save_to_disk(str(staged))
        if target.is_dir() and format == "hf":
            shutil.rmtree(target)
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
