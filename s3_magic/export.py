"""Export a run's synthetic data with its provenance: JSONL, CSV, Parquet or a saved Hugging Face dataset (with a
dataset card, ``README.md``, that says how the data was made and how well a student trained on it did per round).

A ``kind: qa`` run exports rows in Hugging Face ``squad`` form (``id``, ``title``, ``context``, ``question``,
``answers: {text: [...], answer_start: [...]}``) with the same provenance columns, so
:func:`s3_magic.qa.load_qa` (or any SQuAD reader) loads them back; CSV holds ``answers`` as JSON text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s3_magic.atomic import staged
from s3_magic.errors import ConfigError, StoreError
from s3_magic.records import Round, SyntheticExample
from s3_magic.store import RunStore

FORMATS = ("jsonl", "csv", "parquet", "hf")
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
#: the columns of a QA export that differ from a classification one (the rest are in :data:`COLUMN_NOTES`)
QA_COLUMN_NOTES = {
    "id": "the question's id in the run",
    "title": "the article the context comes from",
    "context": "a real paragraph (seed: from the contexts pool; extrapolated: the validation question's)",
    "question": "the question, written by the LLM",
    "answers": "the answer span the LLM was asked to write a question for: {text: [answer], answer_start: [start]} "
    "(answer_start counts characters of the context from 0; -1 where an edited context no longer holds it)",
    "from_text": "that validation question",
}


def export_rows(store: RunStore, run_id: str, include_rejected: bool = False) -> list[dict[str, Any]]:
    """Flat records: the example, where it came from, and its verdicts (a QA run's in ``squad`` form)."""
    kind = store.get_run(run_id)["task"]["spec"].get("kind")
    rows = store.examples(run_id, accepted=None if include_rejected else True)
    if kind == "qa":
        return [qa_row(r) for r in rows]
    out = []
    for r in rows:
        origin = r.origin
        rec: dict[str, Any] = {"id": r.id, "text": r.text or ""}
        if kind == "pair":
            rec["text_b"] = r.text_b or ""
        rec.update(
            label=r.label, round=r.round, kind=r.kind,
            rationales=json.dumps(origin.get("rationales", []), ensure_ascii=False),
            from_uid=origin.get("from_uid", ""), from_text=origin.get("from_text", ""),
        )  # fmt: skip
        rec.update(provenance(r))
        out.append(rec)
    return out


def provenance(r: SyntheticExample) -> dict[str, Any]:
    """Which LLM wrote an example, from which prompt, and what the filters and the user made of it."""
    return {
        "backend": r.backend or "", "model": r.model or "", "prompt_hash": r.prompt_hash or "",
        "verdict": r.verdict, "accepted": r.accepted, "edited": r.edited,
    }  # fmt: skip


def qa_row(r: SyntheticExample) -> dict[str, Any]:
    """A synthetic question in Hugging Face ``squad`` form (``text`` is the context, ``text_b`` the question,
    ``label`` the answer) with its provenance."""
    context, answer = r.text or "", r.label
    return {
        "id": str(r.id), "title": str(r.origin.get("title", "")), "context": context, "question": r.text_b or "",
        "answers": {"text": [answer], "answer_start": [answer_start(context, answer, r.origin.get("answer_start"))]},
        "round": r.round, "kind": r.kind,
        "from_uid": r.origin.get("from_uid", ""), "from_text": r.origin.get("from_text", ""),
        **provenance(r),
    }  # fmt: skip


def answer_start(context: str, answer: str, start: Any) -> int:
    """Where ``answer`` starts in ``context``: the stored ``start`` where the span is there, else its first
    occurrence (a person may have edited the context), else -1."""
    if isinstance(start, int) and start >= 0 and context[start : start + len(answer)] == answer:
        return start
    return context.find(answer) if answer else -1


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

            pd.DataFrame([_flat(rec) for rec in rows]).to_csv(out, index=False)
        elif format == "parquet":
            import pandas as pd

            pd.DataFrame(rows).to_parquet(out, index=False)
        else:
            from datasets import Dataset

            Dataset.from_list(rows).save_to_disk(str(out))
            card = out / CARD
            old = card.read_text(encoding="utf-8") + "\n\n" if card.exists() else ""
            card.write_text(old + dataset_card(store, run_id, rows, include_rejected), encoding="utf-8")
    return target


def _flat(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` with nested values (a QA row's ``answers``) as JSON text, for CSV."""
    return {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in rec.items()}


def dataset_card(store: RunStore, run_id: str, rows: list[dict[str, Any]], include_rejected: bool = False) -> str:
    """A Hugging Face dataset card (Markdown with YAML front matter) for the exported ``rows`` of a run: the run,
    the task, the LLM, the rounds (training size, validation / check / test accuracy, or a QA run's F1,
    rejections), the filter rejections, the final model (when one was trained) and the columns."""
    from s3_magic.summaries import final_summary

    spec = store.get_run(run_id)["task"]["spec"]
    qa = spec.get("kind") == "qa"
    final = store.final(run_id)
    which = "every example, with the ones rejected (`accepted` false)" if include_rejected else "accepted examples"
    wrong = "questions it answers wrong among real ones" if qa else "examples it gets wrong among real labelled ones"
    out = [
        "---",
        "tags: [synthetic, s3-magic]",
        f"task_categories: [{'question-answering' if qa else 'text-classification'}]",
        *(["task_ids: [extractive-qa]"] if qa else []),
        "---",
        "",
        f"# Synthetic data of run `{run_id}` (task `{spec.get('name')}`)",
        "",
        f"{len(rows):,} {which}, written by `{spec.get('llm', {}).get('spec')}` with s3-magic's "
        f"`{spec.get('method', 's3')}` method (S3, Synthesis Step by Step: a small student is trained on the "
        f"synthetic data and the {wrong} are extrapolated into new data, round by round).",
    ]
    if spec.get("description"):
        out += ["", f"Task: {spec['description']}"]
    out += ["", _qa_contents(rows) if qa else _labels_line(rows)]
    out += ["", "## Rounds", "", *_rounds_section(store.rounds(run_id), qa)]
    out += ["", "## Filter rejections", "", *_rejections_section(store.rounds(run_id))]
    if final:
        out += ["", "## Final model", "", "```text", final_summary(final), "```"]
    notes = {**COLUMN_NOTES, **QA_COLUMN_NOTES} if qa else COLUMN_NOTES
    present = [k for k in notes if rows and k in rows[0]]
    out += ["", "## Columns", ""] + [f"- `{k}`: {notes[k]}" for k in present]
    return "\n".join(out) + "\n"


def _labels_line(rows: list[dict[str, Any]]) -> str:
    labels: dict[str, int] = {}
    for r in rows:
        labels[r["label"]] = labels.get(r["label"], 0) + 1
    return "Labels: " + ", ".join(f"`{k}` {v:,}" for k, v in labels.items()) + "."


def _qa_contents(rows: list[dict[str, Any]]) -> str:
    contexts = len({r["context"] for r in rows})
    articles = len({r["title"] for r in rows if r["title"]})
    return (
        f"Extractive question answering in Hugging Face `squad` form: {len(rows):,} questions on {contexts:,} "
        f"real contexts ({articles:,} articles), each answered by a span of its context."
    )


def _rounds_section(rounds: list[Round], qa: bool) -> list[str]:
    from s3_magic.summaries import accuracy_phrase, rounds_markdown

    if not rounds:
        return ["No data is made yet."]
    score = "F1" if qa else "accuracy"
    what = "questions" if qa else "examples"
    evaluated = [r for r in rounds if (r.val_f1 if qa else r.val_acc) is not None]
    out = [rounds_markdown(rounds), "", f"`train`: {what} the student was trained on; `new`: {what} accepted that "
           f"round; `rejected`: {what} the filters threw out that round."]  # fmt: skip
    notes = [f"validation {score} is optimistic, since the loop extrapolated the student's errors on those {what}"]
    if any((r.check_f1 if qa else r.check_acc) is not None for r in evaluated):
        real = "questions" if qa else "labelled examples"
        notes.append(f"check {score} is on real {real} held out of the loop (never extrapolated, never shown to "
                     "the LLM): the honest estimate every choice reads")  # fmt: skip
    if any((r.test_f1 if qa else r.test_acc) is not None for r in evaluated):
        notes.append(f"test {score} is only reported, never used to decide anything")
    note = "; ".join(notes)
    last = f"Last round {evaluated[-1].round}: {accuracy_phrase(evaluated[-1])}." if evaluated else ""
    return [*out, "", note[0].upper() + note[1:] + ".", "", last or "No round is evaluated yet."]


def _rejections_section(rounds: list[Round]) -> list[str]:
    from s3_magic.summaries import rejections

    total = rejections(rounds)
    if not total:
        return ["The filters rejected nothing."]
    return ["| reason | examples |", "| --- | ---: |", *(f"| {k} | {v:,} |" for k, v in total.items())]
