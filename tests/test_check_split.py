"""The check split: real labelled examples held out of the loop, the estimate every choice reads.

The check examples are never extrapolated, never shown to the LLM, never read by the judge; pair tasks keep each
premise on one side; contexts that overlap the check or test split are left out or refused; early stopping, the
best round and the final model's recipe read check accuracy only.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import DATA, WordCountStudent, needs_data, sst2_task, students

from s3_magic.data import normalised
from s3_magic.engine.final import paired_gain, replaces
from s3_magic.engine.loop import best_round, should_stop
from s3_magic.errors import DataError
from s3_magic.records import EVALUATED, Round
from s3_magic.session import Session


class RecordingStudent(WordCountStudent):
    """Records every training set and every set it is asked to predict."""

    fits: list[list[str]] = []  # noqa: RUF012 - read by the tests
    predicted: list[list[str]] = []  # noqa: RUF012

    def fit(self, examples, seed=0, progress=None, weights=None, warm_start=False):
        RecordingStudent.fits.append([e.text for e in examples])
        return super().fit(examples, seed, progress, weights)

    def predict(self, examples, progress=None):
        RecordingStudent.predicted.append([e.uid for e in examples])
        return super().predict(examples, progress)


@pytest.fixture
def recording_student():
    RecordingStudent.fits, RecordingStudent.predicted = [], []
    return RecordingStudent


def rte_task(**extra) -> dict:
    needs_data()
    task = {
        "name": "rte-check",
        "kind": "pair",
        "labels": {"entailment": {"word": "definitely true"}, "not_entailment": {"word": "false"}},
        "validation": {"path": str(DATA / "rte" / "train.jsonl"), "text": "text_a", "text_b": "text_b", "limit": 120},
        "test": {"path": str(DATA / "rte" / "dev.jsonl"), "text": "text_a", "text_b": "text_b"},
        "contexts": {"path": str(DATA / "rte" / "train.jsonl"), "text": "text_a", "text_b": "text_b"},
        "sizes": {"rationales_per_example": 0, "seed_examples": 30, "examples_per_error": 2, "rounds": 1},
        "llm": {"spec": "fake:x"},
        "student": {"mode": "wordcount"},
        "drop_test_contexts": True,  # RTE train and dev share 24 premises
    }
    task.update(extra)
    return task


def test_the_check_split_is_stratified_disjoint_and_reproducible(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    data = s.data
    assert len(data.check) == 15 and len(data.validation) == 45
    assert all(e.uid.startswith("check:") for e in data.check) and all(
        e.uid.startswith("val:") for e in data.validation
    )
    assert {normalised(e.text) for e in data.check}.isdisjoint(normalised(e.text) for e in data.validation)
    whole = Counter(e.label for e in [*data.check, *data.validation])
    held = Counter(e.label for e in data.check)
    for label, n in whole.items():
        assert abs(held[label] - 15 * n / 60) < 1, "stratified by label"
    again = Session.create(sst2_task(), folder=tmp_path / "again")
    assert again.data.check == data.check, "the task seed fixes the split"
    other = Session.create(sst2_task(seed=3), folder=tmp_path / "other")
    assert other.data.check != data.check


def test_check_split_sizes_and_off(tmp_path, fake_llm):
    sized = Session.create(sst2_task(**{"check__size": 10}), folder=tmp_path / "sized")
    assert len(sized.data.check) == 10 and len(sized.data.validation) == 50
    off = Session.create(sst2_task(**{"check__fraction": 0.0}), folder=tmp_path / "off")
    assert off.data.check == [] and len(off.data.validation) == 60
    rows = off.run()
    assert all(r.check_acc is None and r.n_check is None for r in rows), "no check split, no check accuracy"
    with pytest.raises(DataError, match=r"lower check\.size") as info:
        Session.create(sst2_task(**{"check__size": 59}), folder=tmp_path / "big")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "big").exists(), "nothing written for a refused task"


def test_check_examples_never_reach_the_llm_the_errors_or_the_judge(tmp_path, fake_llm, recording_student):
    task = sst2_task(**{"filters__judge_confidence": 0.6, "sizes__rounds": 2})
    s = Session.create(task, folder=tmp_path, student_factory=students(recording_student))
    rows = s.run()
    check_texts = {e.text for e in s.data.check}
    check_uids = {e.uid for e in s.data.check}
    for prompt in s.ctx.llm.backend.history:
        sent = json.dumps(prompt.messages)
        assert not any(text in sent for text in check_texts), "a check example was shown to the LLM"
    for r in rows:
        assert not {e["uid"] for e in s.errors(r.round)} & check_uids, "a check example became an error"
        assert r.n_check == 15 and 0.0 <= r.check_acc <= 1.0
    for batch in recording_student.fits:
        assert not check_texts & set(batch), "the student or the judge trained on a check example"
    assert any(set(batch) == check_uids for batch in recording_student.predicted), "the check split is scored"
    assert all(e.origin.get("from_uid", "val:").startswith("val:") for e in s.examples(kind="extrapolated"))


def test_pair_tasks_keep_each_premise_on_one_side_and_out_of_the_contexts(tmp_path, fake_llm):
    s = Session.create(rte_task(), folder=tmp_path)
    data = s.data
    check_premises = {normalised(e.text) for e in data.check}
    assert check_premises, "a check split was made"
    assert check_premises.isdisjoint(normalised(e.text) for e in data.validation)
    assert check_premises.isdisjoint(normalised(c) for c in data.contexts)
    assert data.dropped_contexts.get("check", 0) >= len(check_premises)
    s.run()
    for e in s.examples():
        assert normalised(e.text) not in check_premises, "a check premise reached the synthetic data"


def test_contexts_that_overlap_the_test_split_are_refused_or_dropped(tmp_path, fake_llm):
    test = {"path": str(DATA / "rte" / "dev.jsonl"), "text": "text_a", "text_b": "text_b"}
    leaky = rte_task(contexts=test, drop_test_contexts=False)
    with pytest.raises(DataError, match="drop_test_contexts") as info:
        Session.create(leaky, folder=tmp_path / "leaky")
    assert "\n" not in str(info.value) and "contexts are first texts of the test split" in str(info.value)
    assert not (tmp_path / "leaky").exists()
    mixed = tmp_path / "mixed.jsonl"
    lines = (DATA / "rte" / "train.jsonl").read_text().splitlines()[:200]
    lines += (DATA / "rte" / "dev.jsonl").read_text().splitlines()[:20]
    mixed.write_text("\n".join(lines) + "\n")
    dropping = rte_task(contexts={**test, "path": str(mixed)}, drop_test_contexts=True)
    s = Session.create(dropping, folder=tmp_path / "dropped")
    test_premises = {normalised(e.text) for e in s.data.test}
    assert s.data.dropped_contexts["test"] > 0
    assert test_premises.isdisjoint(normalised(c) for c in s.data.contexts)


def fabricate_rounds(s: Session, rows: list[dict]) -> None:
    for i, stats in enumerate(rows):
        s.store.set_round(s.run_id, Round(i, EVALUATED, n_train=10 * (i + 1), **stats))


def test_early_stop_and_the_best_round_read_check_accuracy_only(tmp_path, fake_llm):
    s = Session.create(sst2_task(**{"stop__patience": 1}), folder=tmp_path)
    # validation climbs and test climbs, check peaks at round 1: an early stop or a best round that read
    # validation or test accuracy would differ
    fabricate_rounds(
        s,
        [
            {"val_acc": 0.60, "check_acc": 0.70, "test_acc": 0.60},
            {"val_acc": 0.70, "check_acc": 0.80, "test_acc": 0.65},
            {"val_acc": 0.90, "check_acc": 0.75, "test_acc": 0.90},
        ],
    )
    assert best_round(s.ctx) == 1 and s.best_round() == 1
    assert should_stop(s.ctx), "round 2 brought no check gain"
    fabricate_rounds(s, [{"val_acc": 0.9, "check_acc": 0.6, "test_acc": 0.9}, {"val_acc": 0.5, "check_acc": 0.7}])
    s.store.set_round(s.run_id, Round(2, "generated"))
    assert not should_stop(s.ctx), "check accuracy rose while validation fell"
    assert best_round(s.ctx) == 1


def test_final_model_choice_reads_check_accuracy_never_test(tmp_path, fake_llm):
    lines = (DATA / "sst2" / "dev.jsonl").read_text().splitlines()
    (tmp_path / "val.jsonl").write_text("\n".join(lines[:60]) + "\n")
    (tmp_path / "test.jsonl").write_text("\n".join(lines[60:140]) + "\n")
    flipped = [json.loads(x) for x in lines[60:140]]
    for row in flipped:
        row["label"] = "negative" if row["label"] == "positive" else "positive"
    (tmp_path / "flipped.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flipped))

    def final(test_file: str, name: str) -> dict:
        recipes = ["real", "joint", "weighted", "agree"]
        task = sst2_task(**{"final__recipes": recipes, "final__min_gain_se": 0, "sizes__rounds": 1})
        task.pop("split")
        task.update(validation={"path": str(tmp_path / "val.jsonl")}, test={"path": str(tmp_path / test_file)})
        s = Session.create(task, folder=tmp_path / name)
        s.run()
        result = s.final()
        assert result == s.final_result() and result["round"] == s.best_round()
        return result

    result = final("test.jsonl", "a")
    best = max(result["candidates"], key=lambda c: c["check_acc"])
    assert result["recipe"] == best["recipe"] and result["check_acc"] == best["check_acc"]
    assert result["n_real"] == 60 and result["refit_with_check"], "the kept model learnt every real label"
    assert result["path"] is None, "a student that cannot be saved is still chosen and scored"
    agree = next(c for c in result["candidates"] if c["recipe"] == "agree")
    assert agree["left_out"] > 0, "the teacher trained on the real labels disagrees with some synthetic examples"
    if result["recipe"] == "agree":
        assert result["left_out"] and all(uid.startswith("syn:") for uid in result["left_out"])
    else:
        assert result["left_out"] == []
    # flipping every test label moves the test accuracies, never the choice
    other = final("flipped.jsonl", "b")
    assert [c["check_acc"] for c in other["candidates"]] == [c["check_acc"] for c in result["candidates"]]
    assert (other["recipe"], other["round"]) == (result["recipe"], result["round"])
    for a, b in zip(other["candidates"], result["candidates"], strict=True):
        assert a["test_acc"] == pytest.approx(1 - b["test_acc"])
    assert len({c["test_acc"] for c in result["candidates"]}) > 1, (
        "the recipes differ, so a test-read choice would show"
    )


def test_a_later_recipe_replaces_the_first_only_by_a_clear_check_margin():
    assert paired_gain([1, 1, 0, 1], [1, 0, 0, 1]) == (0.25, 0.25)
    assert replaces([1, 1, 0, 1], [1, 0, 0, 1], 0.0)[0] and not replaces([1, 1, 0, 1], [1, 0, 0, 1], 1.0)[0]
    clear = [1.0] * 30 + [0.0] * 20
    assert replaces(clear, [0.0] * 50, 1.0)[0], "30 more right of 50: far beyond one standard error"
    assert not replaces([0.0] * 50, [0.0] * 50, 0.0)[0], "a tie keeps the recipe chosen so far"


@pytest.mark.parametrize(("margin", "first_kept"), [(1000.0, True), (0.0, False)])
def test_the_final_choice_prefers_the_first_recipe_unless_the_check_split_tells(tmp_path, fake_llm, margin, first_kept):
    task = sst2_task(**{"final__recipes": ["real", "joint", "weighted"], "final__min_gain_se": margin})
    s = Session.create(task, folder=tmp_path)
    s.run()
    result = s.final()
    first, *later = result["candidates"]
    assert first["recipe"] == "real" and "gain" not in first and result["min_gain_se"] == margin
    assert all({"gain", "gain_se", "over"} <= set(c) for c in later)
    if first_kept:
        assert result["recipe"] == "real"
    else:
        assert result["check_acc"] == max(c["check_acc"] for c in result["candidates"])
