"""The test split never reaches training or any step that chooses something.

The same task runs with its real test set, with the test labels flipped, with a sentinel test set built to
change every decision if it leaked (each validation text, lightly altered, with the opposite label), and with
no test set. The prompts sent to the LLM, the training sets, the filter verdicts, the errors, the early-stop
decision and every validation metric must be identical; only the reported test accuracy may differ.
"""

from __future__ import annotations

import json

import pytest
from conftest import WordCountStudent, needs_data, sst2_task, students

from s3_magic.session import Session

TIMING = {
    "data_seconds",
    "train_seconds",
    "eval_seconds",
    "judge_seconds",
    "gen_seconds",
    "completion_tok_s",
    "prompt_tok_s",
}


class RecordingStudent(WordCountStudent):
    """Records what it is trained on and asked to predict."""

    log: list[tuple[str, list[tuple[str, str]]]] = []  # noqa: RUF012 - read by the test

    def fit(self, examples, seed=0, progress=None):
        RecordingStudent.log.append(("fit", [(e.text, e.label) for e in examples]))
        return super().fit(examples, seed, progress)

    def predict(self, examples, progress=None):
        RecordingStudent.log.append(("predict", [(e.text, e.uid) for e in examples]))
        return super().predict(examples, progress)


@pytest.fixture
def recording_student():
    return RecordingStudent


def rows(start: int, n: int) -> list[dict]:
    lines = (needs_data() / "sst2" / "dev.jsonl").read_text().splitlines()[start : start + n]
    return [json.loads(line) for line in lines]


def flip(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def run_with_test(tmp_path, name: str, test_rows: list[dict] | None, fake_llm) -> dict:
    """Run the task with ``test_rows`` as its test set; return everything a leak could change."""
    val_file = tmp_path / "val.jsonl"
    val_file.write_text("".join(json.dumps(r) + "\n" for r in rows(0, 60)))
    task = sst2_task(**{"sizes__rounds": 4, "stop__patience": 1, "stop__min_delta": 0.0})
    task.pop("split")
    task["validation"] = {"path": str(val_file)}
    if test_rows is not None:
        test_file = tmp_path / f"{name}.jsonl"
        test_file.write_text("".join(json.dumps(r) + "\n" for r in test_rows))
        task["test"] = {"path": str(test_file)}
    RecordingStudent.log = []
    s = Session.create(task, folder=tmp_path / name, student_factory=students(RecordingStudent))
    table = s.run()
    prompts = [(p.messages, p.sample) for p in s.ctx.llm.backend.history]
    rounds = [{k: v for k, v in r.to_dict().items() if k not in TIMING | {"test_acc"}} for r in table]
    return {
        "session": s,
        "prompts": prompts,
        "trained": [batch for kind, batch in RecordingStudent.log if kind == "fit"],
        "predicted": [batch for kind, batch in RecordingStudent.log if kind == "predict"],
        "verdicts": [(e.gen_key, e.text, e.verdict, e.accepted) for e in s.examples()],
        "errors": [s.errors(r.round) for r in table],
        "rounds": rounds,
        "test_acc": [r.test_acc for r in table],
        "status": s.store.get_run(s.run_id)["message"],
    }


def test_test_split_changes_nothing_but_the_reported_test_accuracy(tmp_path, fake_llm, recording_student):
    test = rows(60, 60)
    runs = {
        "real": run_with_test(tmp_path, "real", test, fake_llm),
        "flipped": run_with_test(tmp_path, "flipped", [{**r, "label": flip(r["label"])} for r in test], fake_llm),
        "sentinel": run_with_test(
            tmp_path,
            "sentinel",
            [{"text": r["text"] + " indeed", "label": flip(r["label"])} for r in rows(0, 60)],
            fake_llm,
        ),
        "none": run_with_test(tmp_path, "none", None, fake_llm),
    }
    real = runs["real"]
    assert len(real["rounds"]) >= 2 and real["errors"][0], "the runs made rounds and errors to compare"
    for name, other in runs.items():
        for part in ("prompts", "trained", "verdicts", "errors", "rounds", "status"):
            assert other[part] == real[part], f"{part} differ between the real and the {name!r} test set"

    # the test set is used, for the report only: flipping its labels turns accuracy a into 1 - a
    assert all(a is not None for a in real["test_acc"])
    assert [round(1 - a, 9) for a in real["test_acc"]] == [round(b, 9) for b in runs["flipped"]["test_acc"]]
    assert runs["none"]["test_acc"] == [None] * len(real["rounds"])
    assert "stopped early" in real["status"], "the early-stop decision was taken (and taken alike)"

    # no test text reaches a prompt, a training set or an error; the student sees the test set only to predict it
    s: Session = real["session"]
    test_texts = {e.text for e in s.ctx.data.test}
    assert not any(t in m["content"] for msgs, _ in real["prompts"] for m in msgs for t in test_texts)
    assert not any(text in test_texts for batch in real["trained"] for text, _ in batch)
    assert all(e["uid"].startswith("val:") for errs in real["errors"] for e in errs)
    test_batches = [b for b in real["predicted"] if b and b[0][1].startswith("test:")]
    assert len(test_batches) == len(real["rounds"]) and all(len(b) == 60 for b in test_batches)
