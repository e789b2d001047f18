"""Whole ``kind: qa`` runs with the scripted LLM and the memory QA student: the article split, seed questions on
the pool, error extrapolation on the validation contexts, the question filters, EM/F1 per round, the check split
steering, kill and resume."""

from __future__ import annotations

import pytest
from conftest import FAKE
from qa_tools import question_reply, squad_task

from s3_magic.errors import BackendError, ConfigError
from s3_magic.session import Session
from s3_magic.task import TaskSpec


@pytest.fixture
def qa_llm():
    FAKE.reset(question_reply)
    yield FAKE
    FAKE.reset()


def contexts(questions) -> set[str]:
    return {q.context for q in questions}


def test_a_qa_run_writes_seed_questions_on_the_pool_and_extrapolates_validation_errors(qa_llm, tmp_path):
    s = Session.create(squad_task(), folder=tmp_path)
    table = s.run()
    qa = s.ctx.data.qa
    assert [r.round for r in table] == [0, 1, 2] and all(r.evaluated for r in table)
    for r in table:
        assert r.val_f1 is not None and r.check_f1 is not None and r.test_f1 is not None
        assert 0 <= r.val_em <= r.val_f1 <= 100 and r.n_check == len(qa.check) and r.val_acc is None
    held = contexts(qa.check) | contexts(qa.test)
    rows = s.store.examples(s.run_id)
    seeds = [r for r in rows if r.kind == "seed"]
    assert len(seeds) == 16 and contexts(qa.pool) >= {r.text for r in seeds}
    for r in rows:
        assert r.text[r.origin["answer_start"] :].startswith(r.label), "the answer is a span of the stored context"
        assert r.text not in held, "no check or test context reaches the LLM"
    extrapolated = [r for r in rows if r.kind == "extrapolated"]
    assert {r.verdict for r in extrapolated} == {"ok"}, "a new question on a validation context is no copy of it"
    val_by_uid = {q.uid: q for q in qa.validation}
    assert extrapolated and all(r.origin["from_uid"] in val_by_uid for r in extrapolated)
    for r in extrapolated:
        source = val_by_uid[r.origin["from_uid"]]
        assert (r.text, r.label, r.origin["answer_start"]) == (source.context, source.answer.text, source.answer.start)
    errors = s.store.errors(s.run_id, 0)
    assert len(errors) == table[0].n_errors > 0 and {e["uid"] for e in errors} <= set(val_by_uid)
    # the memory student answers the validation questions it saw extrapolations of: round 1 reads better
    assert table[1].val_f1 > table[0].val_f1
    trained = s.training_examples(1)
    accepted = {r.gen_key for r in rows if r.accepted and r.round <= 1}
    assert {q.uid for q in trained} == accepted and len(trained) == table[1].n_train
    assert all(q.context[q.answer.start :].startswith(q.answer.text) for q in trained), "QA examples, spans intact"


def test_the_question_filters_reject_with_counted_reasons(qa_llm, tmp_path):
    replies = iter([
        "Here is the question: What happened to the team in that year?",
        "The passage describes an event.",
        "Why?",
        "__ANSWER__",
        "What does the passage say about the council and its members?",
    ])  # fmt: skip

    def reply(prompt) -> str:
        text = next(replies)
        return f"What is {prompt.meta['answer']} known for in this passage?" if text == "__ANSWER__" else text

    qa_llm.responder = reply
    s = Session.create(squad_task(sizes__rounds=0, sizes__seed_examples=5), folder=tmp_path)
    table = s.run()
    verdicts = sorted(r.verdict for r in s.store.examples(s.run_id))
    assert verdicts == ["contains_answer", "not_a_question", "ok", "ok", "too_short"]
    assert table[0].rejected == {"contains_answer": 1, "not_a_question": 1, "too_short": 1}
    kept = sorted(r.text_b for r in s.store.examples(s.run_id, accepted=True))
    assert kept == ["What does the passage say about the council and its members?",
                    "What happened to the team in that year?"]  # fmt: skip


def test_a_copy_of_a_validation_question_is_rejected(qa_llm, tmp_path):
    def repeat(prompt) -> str:  # an error prompt: repeat the question (as a question: a few have no mark)
        question = prompt.meta.get("question")
        return question_reply(prompt) if question is None else question.strip().rstrip("?.") + "?"

    qa_llm.responder = repeat
    s = Session.create(squad_task(sizes__rounds=1), folder=tmp_path)
    s.run()
    extrapolated = s.store.examples(s.run_id, kind="extrapolated")
    assert extrapolated and {r.verdict for r in extrapolated} == {"copies_validation"}


def test_a_killed_qa_run_resumes_to_the_same_data(qa_llm, tmp_path):
    whole = Session.create(squad_task(), folder=tmp_path / "whole")
    whole.run()
    expected = [(r.gen_key, r.text, r.text_b, r.label, r.verdict) for r in whole.store.examples(whole.run_id)]

    task = squad_task(llm__spec="fake:scripted")
    s = Session.create(task, folder=tmp_path / "killed", name="killed", backend_factory=lambda: failing(20))
    with pytest.raises(BackendError):
        s.run()
    assert s.store.get_run("killed")["status"] == "failed"
    resumed = Session.open("killed", folder=tmp_path / "killed")
    resumed.run()
    got = [(r.gen_key, r.text, r.text_b, r.label, r.verdict) for r in resumed.store.examples("killed")]
    assert got == expected
    assert [r.val_f1 for r in resumed.rounds()] == [r.val_f1 for r in whole.rounds()]


def failing(after: int):
    backend = FAKE()
    backend.fail_after = after
    return backend


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": ["a", "b"]}, "a qa task has no labels"),
        ({"student": {"mode": "finetune"}}, "student mode 'finetune' is for a classification task"),
        ({"split": {"validation": 10}}, "a qa task is split by article"),
    ],
)
def test_a_qa_task_refuses_what_only_classification_takes(changes, message):
    with pytest.raises(ConfigError, match=message):
        TaskSpec.from_dict({**squad_task(), **changes})


def test_a_classification_task_refuses_the_qa_student():
    task = {"name": "t", "labels": ["a", "b"], "validation": {"path": "x.jsonl"}, "student": {"mode": "qa"}}
    with pytest.raises(ConfigError, match="student mode 'qa' is for a qa task"):
        TaskSpec.from_dict(task)


def test_the_qa_student_is_the_default_of_a_qa_task():
    task = squad_task()
    del task["student"]
    assert TaskSpec.from_dict(task).student.mode == "qa"


def test_the_final_qa_model_is_chosen_on_check_f1(qa_llm, tmp_path):
    s = Session.create(squad_task(sizes__rounds=1), folder=tmp_path)
    s.run()
    result = s.final()
    assert result["recipe"] in ("real", "joint", "weighted") and result["n_check"] == len(s.ctx.data.qa.check)
    assert {c["recipe"] for c in result["candidates"]} == {"agree", "joint", "real"} - {"agree"}
    assert all(0 <= c["check_f1"] <= 1 for c in result["candidates"])
    assert result["check_f1"] == max(c["check_f1"] for c in result["candidates"])
    assert result["n_synthetic"] == len(s.store.examples(s.run_id, max_round=s.best_round(), accepted=True))


def test_the_rounds_table_shows_f1_not_accuracy(qa_llm, tmp_path):
    from s3_magic.summaries import accuracy_phrase, rounds_table

    s = Session.create(squad_task(sizes__rounds=0), folder=tmp_path)
    rows = s.run()
    header = rounds_table(rows).splitlines()[0]
    assert "val F1" in header and "check F1" in header and "test F1" in header and "acc" not in header
    assert accuracy_phrase(rows[0]).startswith(f"check F1 {100 * rows[0].check_f1:.1f}%")
