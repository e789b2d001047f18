"""Export a run's synthetic data with its provenance: JSONL, CSV or a saved Hugging Face dataset (with a dataset
card, ``README.md``, that says how the data was made and how well a student trained on it did per round)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s3_magic.atomic import staged
from s3_magic.errors import ConfigError, StoreError
from s3_magic.store import RunStore

FORMATS = ("jsonl", "csv", "hf")
CARD = "README.md"
#: what the exported columns hold (for the dataset card)
COLUMN_NOTES = {
    "id": "the example's id in the run",
    "text": "the example (on a pair task: the first text, a real context)",
    "text_b": "the second text of a pair, written by the LLM",
    "label": "the label the LLM was asked to write",
    "round": "0: seed data; r > 0: extrapolated from the student's errors of round r - 1",
    "kind": "seed (from sampled rationales), extrapolated (from a validation error) or zerogen",
    "rationales": "JSON list of the rationales a seed example was written from",
    "from_uid": "the validation example an extrapolation came from",
    "from_text": "that validation example's text",
    "backend": "the LLM backend", "model": "the LLM", "prompt_hash": "hash of the prompt",
    "verdict": "ok, or why the filters rejected it", "accepted": "whether training uses it",
    "edited": "whether a person edited the text",
}  # fmt: skip


def export_rows(store: RunStore, run_id: str, include_rejected: bool = False) -> list[dict[str, Any]]:
    """Flat records: the example, where it came from, and its verdicts."""
    pair = store.get_run(run_id)["task"]["spec"].get("kind") == "pair"
    rows = store.examples(run_id, accepted=None if include_rejected else True)
    out = []
    for r in rows:
        origin = r.origin
        rec: dict[str, Any] = {"id": r.id, "text": r.text or ""}
        if pair:
            rec["text_b"] = r.text_b or ""
        rec.update(
            label=r.label, round=r.round, kind=r.kind,
            rationales=json.dumps(origin.get("rationales", []), ensure_ascii=False),
            from_uid=origin.get("from_uid", ""), from_text=origin.get("from_text", ""),
            backend=r.backend or "", model=r.model or "", prompt_hash=r.prompt_hash or "",
            verdict=r.verdict, accepted=r.accepted, edited=r.edited,
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
    if format != "hf" and target.is_dir():
        raise ConfigError(f"{str(target)!r} is a folder; give a file path for --format {format} (or use --format hf)")
    with staged(target) as out:
        if format == "jsonl":
            with out.open("w", encoding="utf-8") as fh:
                for rec in rows:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        elif format == "csv":
            import pandas as pd

            pd.DataFrame(rows).to_csv(out, index=False)
        else:
            from datasets import Dataset

            Dataset.from_list(rows).save_to_disk(str(out))
            card = out / CARD
            old = card.read_text(encoding="utf-8") + "\n\n" if card.exists() else ""
            card.write_text(old + dataset_card(store, run_id, rows, include_rejected), encoding="utf-8")
    return target


def dataset_card(store: RunStore, run_id: str, rows: list[dict[str, Any]], include_rejected: bool = False) -> str:
    """A Hugging Face dataset card (Markdown with YAML front matter) for the exported ``rows`` of a run: the run,
    the task, the LLM, the rounds (training size, validation / check / test accuracy, rejections), the filter
    rejections, the final model (when one was trained) and the columns."""
    from s3_magic.summaries import accuracy_phrase, final_summary, rejections, rounds_markdown

    spec = store.get_run(run_id)["task"]["spec"]
    final = store.final(run_id)
    rounds = store.rounds(run_id)
    labels: dict[str, int] = {}
    for r in rows:
        labels[r["label"]] = labels.get(r["label"], 0) + 1
    which = "every example, with the ones rejected (`accepted` false)" if include_rejected else "accepted examples"
    out = [
        "---",
        "tags: [synthetic, s3-magic]",
        "task_categories: [text-classification]",
        "---",
        "",
        f"# Synthetic data of run `{run_id}` (task `{spec.get('name')}`)",
        "",
        f"{len(rows):,} {which}, written by `{spec.get('llm', {}).get('spec')}` with s3-magic's "
        f"`{spec.get('method', 's3')}` method (S3, Synthesis Step by Step: a small student is trained on the "
        "synthetic data and the examples it gets wrong among real labelled ones are extrapolated into new data, "
        "round by round).",
    ]
    if spec.get("description"):
        out += ["", f"Task: {spec['description']}"]
    out += ["", "Labels: " + ", ".join(f"`{k}` {v:,}" for k, v in labels.items()) + "."]
    evaluated = [r for r in rounds if r.val_acc is not None]
    out += ["", "## Rounds", ""]
    if rounds:
        out.append(rounds_markdown(rounds))
        out += ["", "`train`: examples the student was trained on; `new`: examples accepted that round; "
                "`rejected`: examples the filters threw out that round."]  # fmt: skip
        notes = ["validation accuracy is optimistic, since the loop extrapolated the student's errors on those "
                 "examples"]  # fmt: skip
        if any(r.check_acc is not None for r in evaluated):
            notes.append("check accuracy is on real labelled examples held out of the loop (never extrapolated, "
                         "never shown to the LLM): the honest estimate every choice reads")  # fmt: skip
        if any(r.test_acc is not None for r in evaluated):
            notes.append("test accuracy is only reported, never used to decide anything")
        note = "; ".join(notes)
        out += ["", note[0].upper() + note[1:] + "."]
        last = f"Last round {evaluated[-1].round}: {accuracy_phrase(evaluated[-1])}." if evaluated else ""
        out += ["", last or "No round is evaluated yet."]
    else:
        out.append("No data is made yet.")
    out += ["", "## Filter rejections", ""]
    total = rejections(rounds)
    if total:
        out += ["| reason | examples |", "| --- | ---: |"]
        out += [f"| {k} | {v:,} |" for k, v in total.items()]
    else:
        out.append("The filters rejected nothing.")
    if final:
        out += ["", "## Final model", "", "```text", final_summary(final), "```"]
    present = [k for k in COLUMN_NOTES if rows and k in rows[0]]
    out += ["", "## Columns", ""] + [f"- `{k}`: {COLUMN_NOTES[k]}" for k in present]
    return "\n".join(out) + "\n"
