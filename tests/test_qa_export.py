"""The export of a ``kind: qa`` run: Hugging Face ``squad`` rows with provenance, in every format, loadable again
with :func:`s3_magic.qa.load_qa`; and its dataset card."""

from __future__ import annotations

import json

import pytest
from conftest import FAKE
from qa_tools import question_reply, squad_task

from s3_magic.export import answer_start, export_rows
from s3_magic.qa import load_qa
from s3_magic.session import Session

SQUAD_KEYS = ["id", "title", "context", "question", "answers"]
PROVENANCE = {"round", "kind", "from_uid", "from_text", "backend", "model", "prompt_hash", "verdict", "accepted"}


@pytest.fixture
def qa_llm():
    FAKE.reset(question_reply)
    yield FAKE
    FAKE.reset()


@pytest.fixture
def qa_run(qa_llm, tmp_path):
    with Session.create(squad_task(sizes__rounds=1), folder=tmp_path / "runs", name="qa-export") as s:
        s.run()
        yield s


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_exported_questions_load_back_as_squad_with_valid_spans(qa_run, tmp_path, fmt):
    out = qa_run.export(tmp_path / f"data.{fmt}", format=fmt)
    loaded = load_qa(str(out))
    accepted = qa_run.examples(accepted=True)
    assert len(loaded) == len(accepted) > 0
    by_id = {str(r.id): r for r in accepted}
    for q in loaded:
        stored = by_id[q.uid]
        assert (q.context, q.question, q.answer.text) == (stored.text, stored.text_b, stored.label)
        assert q.answer.start == stored.origin["answer_start"]
        assert q.title == stored.origin["title"] != ""


def test_squad_rows_carry_provenance(qa_run):
    rows = export_rows(qa_run.store, qa_run.run_id)
    assert all(list(r)[:5] == SQUAD_KEYS and set(r) >= PROVENANCE for r in rows)
    assert not {"text", "text_b", "label", "rationales"} & set(rows[0]), "squad form, not the classification columns"
    assert {r["kind"] for r in rows} == {"seed", "extrapolated"} and {r["round"] for r in rows} == {0, 1}
    assert all(r["backend"] == "fake" and r["prompt_hash"] and r["verdict"] == "ok" for r in rows)
    validation = {q.uid: q for q in qa_run.ctx.data.qa.validation}
    for r in rows:
        if r["kind"] == "extrapolated":
            source = validation[r["from_uid"]]
            assert r["from_text"] == source.question and r["context"] == source.context
            assert r["answers"] == {"text": [source.answer.text], "answer_start": [source.answer.start]}
        else:
            assert r["from_uid"] == "" and r["from_text"] == ""


def test_rejected_questions_are_exported_only_when_asked(qa_llm, tmp_path):
    def some_without_a_mark(prompt) -> str:
        reply = question_reply(prompt)
        return reply.rstrip("?") + "." if int(prompt.meta["answer_start"]) % 2 else reply

    qa_llm.responder = some_without_a_mark
    with Session.create(squad_task(sizes__rounds=0), folder=tmp_path, name="some-rejected") as s:
        s.synthesize()
        accepted = export_rows(s.store, s.run_id)
        every = export_rows(s.store, s.run_id, include_rejected=True)
    rejected = [r for r in every if not r["accepted"]]
    assert rejected and all(r["verdict"] == "not_a_question" for r in rejected)
    assert len(accepted) + len(rejected) == len(every) and all(r["accepted"] for r in accepted)


def test_an_edited_context_keeps_a_valid_span(qa_run, tmp_path):
    row = qa_run.examples(accepted=True)[0]
    qa_run.edit(row.id, "An introduction. " + row.text, row.text_b)
    loaded = {q.uid: q for q in load_qa(str(qa_run.export(tmp_path / "edited.jsonl")))}
    q = loaded[str(row.id)]
    assert q.context.startswith("An introduction. ")
    assert q.context[q.answer.start : q.answer.end] == row.label


@pytest.mark.parametrize(
    ("context", "answer", "start", "expected"),
    [
        ("the cat sat on the mat", "the mat", 15, 15),  # the stored span
        ("the cat sat on the mat", "the", 9, 0),  # not there: the first occurrence
        ("the cat sat on the mat", "the", 0, 0),
        ("the cat sat on the mat", "a dog", 4, -1),  # gone from the context
        ("the cat sat on the mat", "cat", None, 4),
    ],
)
def test_answer_start(context, answer, start, expected):
    assert answer_start(context, answer, start) == expected


def test_the_dataset_card_says_it_is_question_answering(qa_run, tmp_path):
    pytest.importorskip("datasets")
    out = qa_run.export(tmp_path / "ds", format="hf")
    card = (out / "README.md").read_text()
    rows = qa_run.rounds()
    assert "task_categories: [question-answering]" in card and "text-classification" not in card
    assert "Extractive question answering in Hugging Face `squad` form" in card
    header = next(line for line in card.splitlines() if line.startswith("| round"))
    assert header == "| round | train | new | rejected | validation F1 | check F1 | test F1 |"
    for r in rows:
        cells = " | ".join(f"{100 * x:.1f}%" for x in (r.val_f1, r.check_f1, r.test_f1))
        assert f"| {r.round} | {r.n_train} | {r.new_accepted} | {sum(r.rejected.values())} | {cells} |" in card
    assert "Validation F1 is optimistic" in card and "check F1 is on real questions held out" in card
    assert f"Last round 1: check F1 {100 * rows[1].check_f1:.1f}%" in card
    assert "- `answers`: the answer span" in card and "- `label`" not in card and "Labels:" not in card


def test_the_csv_export_holds_answers_as_json(qa_run, tmp_path):
    import pandas as pd

    frame = pd.read_csv(qa_run.export(tmp_path / "data.csv", format="csv"))
    answers = json.loads(frame["answers"][0])
    assert list(frame.columns[:5]) == SQUAD_KEYS and set(answers) == {"text", "answer_start"}
