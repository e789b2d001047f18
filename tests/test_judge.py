"""The validation judge (filters.judge_confidence): a student trained on the validation examples rejects new
synthetic examples it confidently labels otherwise, records why, and never sees the test split."""

from __future__ import annotations

import pytest
from conftest import WordCountStudent, scripted_reply, sst2_task, students

from s3_magic.session import Session
from s3_magic.student.base import Predictions

OTHER = {"positive": "negative", "negative": "positive"}


class MarkerStudent(WordCountStudent):
    """Naive Bayes, but sure of the label a ``zz<label>`` marker names, and never sure otherwise."""

    fits: list[list[str]] = []  # noqa: RUF012 - uids of each fit, read by the tests

    def fit(self, examples, seed=0, progress=None):
        MarkerStudent.fits.append([e.uid for e in examples])
        return super().fit(examples, seed, progress)

    def predict(self, examples, progress=None):
        base = super().predict(examples)
        labels, confs = [], []
        for e, label, conf in zip(examples, base.labels, base.confidences, strict=True):
            marked = [lab for lab in self.labels if f"zz{lab}" in e.text]
            labels.append(marked[0] if marked else label)
            confs.append(0.97 if marked else min(conf, 0.6))
        probs = [[c if lab == label else 1 - c for lab in self.labels] for label, c in zip(labels, confs, strict=True)]
        return Predictions(labels, confs, probs)


@pytest.fixture
def marker_student():
    """A ``student_factory`` of :class:`MarkerStudent` (its record of fits emptied)."""
    MarkerStudent.fits = []
    return students(MarkerStudent)


def marking_reply(prompt) -> str:
    """Every third seed answer and every extrapolation of sample 0 carries the *other* label's marker."""
    text = scripted_reply(prompt)
    asked = "positive" if "positive" in prompt.messages[-1]["content"] else "negative"
    sample = prompt.sample
    if (sample.startswith("seed:") and int(sample[5:]) % 3 == 0) or (sample.startswith("r") and sample.endswith(":0")):
        return text[:-1] + f' zz{OTHER[asked]}"'
    if sample.startswith("seed:") and int(sample[5:]) % 3 == 1:
        return text[:-1] + f' zz{asked}"'  # a marker that agrees: kept
    return text


def test_judge_rejects_confident_disagreements_and_trains_on_validation_only(tmp_path, fake_llm, marker_student):
    fake_llm.responder = marking_reply
    s = Session.create(sst2_task(filters__judge_confidence=0.9), folder=tmp_path, student_factory=marker_student)
    rows = s.run()

    examples = s.examples()
    judged = [e for e in examples if e.verdict == "judge_disagrees"]
    assert judged and all(f"zz{OTHER[e.label]}" in e.text and not e.accepted for e in judged)
    wrong = [e for e in examples if f"zz{OTHER[e.label]}" in e.text]
    assert all(e.verdict in ("judge_disagrees", "duplicate", "near_duplicate") for e in wrong)
    agreeing = [e for e in examples if f"zz{e.label}" in e.text]
    assert agreeing and all(e.verdict != "judge_disagrees" for e in agreeing)
    for row in rows:
        n = sum(e.round == row.round for e in judged)
        assert row.judge_rejected == row.rejected.get("judge_disagrees", 0) == n
    assert rows[1].judge_rejected > 0, "extrapolations are judged too"

    val = {e.uid for e in s.ctx.data.validation}
    test = {e.uid for e in s.ctx.data.test}
    judge_fit, *student_fits = MarkerStudent.fits
    assert set(judge_fit) == val and not set(judge_fit) & test, "the judge learns from the validation split only"
    assert len(student_fits) == len(rows), "the judge is trained once per run"
    rejected = {f"syn:{e.id}" for e in judged}
    assert all(not set(fit) & rejected for fit in student_fits), "a rejected example is never trained on"

    again = Session.open(s.run_id, folder=tmp_path, student_factory=marker_student)
    assert again.run() == rows and again.examples() == examples, "a finished run is not judged again"


def test_judge_is_off_by_default_and_only_judges_s3(tmp_path, fake_llm, marker_student):
    fake_llm.responder = marking_reply
    plain = Session.create(sst2_task(sizes__rounds=0), folder=tmp_path / "plain", student_factory=marker_student).run()
    assert plain[0].judge_rejected is None and MarkerStudent.fits and len(MarkerStudent.fits) == 1
    task = sst2_task(method="zerogen", filters__judge_confidence=0.9, sizes__seed_examples=12)
    zerogen = Session.create(task, folder=tmp_path / "zerogen", student_factory=marker_student).run()
    assert "judge_disagrees" not in zerogen[0].rejected, "ZeroGen has no feedback from validation"


def test_judge_leaves_edited_examples_alone(tmp_path, fake_llm, marker_student):
    fake_llm.responder = marking_reply
    s = Session.create(
        sst2_task(filters__judge_confidence=0.9, sizes__rounds=1), folder=tmp_path, student_factory=marker_student
    )
    s.run()
    mine = next(e for e in s.examples(round_no=1) if e.verdict == "ok")
    s.edit(mine.id, f"My own words about the film zz{OTHER[mine.label]}.")
    s.ctx.judge = None
    from s3_magic.engine.judge import judge_round

    assert judge_round(s.ctx, 1) == {} or judge_round(s.ctx, 1)["judge_rejected"] == 0
    assert next(e for e in s.examples() if e.id == mine.id).accepted
