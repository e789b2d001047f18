"""Malformed LLM output in a whole run: empty, refusals, bare preambles, the wrong label, duplicates, copies of
validation or test examples, absurd length, non-text, prompt echoes, loops,
talk about the task itself. Each is rejected with its reason,
counted in the round summary, kept with its raw output for inspection, and never trained on.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import WordCountStudent, needs_data, scripted_reply, sst2_task, students

from s3_magic.session import Session
from s3_magic.summaries import rejection_summary

GOOD = "The acting was superb and the story kept me hooked from the first scene until the very end."
NEAR = "The acting was truly superb and the story kept me hooked from the first scene until the very end."
CLEANED = "A charming, heartfelt film with a cast that clearly loved every minute of it."


def long_text() -> str:
    """Over 150 words of real, varied prose (training sentences, never in validation or test)."""
    lines = (needs_data() / "sst2" / "train.jsonl").read_text().splitlines()[:60]
    return " ".join(json.loads(line)["text"] for line in lines)


def seed_outputs(s: Session) -> dict[int, tuple[str, str | None]]:
    """Seed sample -> (raw output, expected verdict or None for accepted); ``{label}`` / ``{other}`` filled later."""
    val = next(e.text for e in s.ctx.data.validation if 6 <= len(e.text.split()) <= 40)
    test = next(e.text for e in s.ctx.data.test if 6 <= len(e.text.split()) <= 40)
    return {
        0: ("", "empty"),
        1: ("  \n\t ", "empty"),
        2: ("I'm sorry, but I can't help with that request.", "refusal"),
        3: ("As an AI language model, I do not have opinions about movies.", "refusal"),
        4: ("Sure! Here is a {label} movie review:", "empty"),
        5: ("{other} review: This film was a tedious mess from start to end.", "wrong_label"),
        6: (GOOD, "ok"),
        7: (GOOD, "duplicate"),
        8: (NEAR, "near_duplicate"),
        9: (val, "copies_validation"),
        10: (test, "copies_test"),
        11: (long_text(), "too_long"),
        12: ("{{}}[]<>/|\\ 0101 %%% ### @@@ 12345 !!!", "not_text"),
        13: ("```python\nprint(1)\nx = [i for i in range(3)]\n```", "not_text"),
        14: ("\x00\x01\x02\ufffd\ufffd", "not_text"),
        15: ("{prompt}", "prompt_echo"),
        16: ("great " * 60, "repetitive"),
        17: ("ok then", "too_short"),
        18: ("Sure! Here is a {label} movie review:\n\n" + CLEANED, "ok"),
        19: ("I'd like to keep the tone of the original {label} review but make the plot sound fresher.", "meta_talk"),
    }


class RecordingStudent(WordCountStudent):
    trained: list[list] = []  # noqa: RUF012 - one list per fit, read by the test

    def fit(self, examples, seed=0, progress=None):
        RecordingStudent.trained.append(list(examples))
        return super().fit(examples, seed, progress)


@pytest.fixture
def recording_student():
    RecordingStudent.trained = []
    return RecordingStudent


def test_malformed_outputs_are_filtered_counted_and_never_trained_on(tmp_path, fake_llm, recording_student):
    task = sst2_task(**{"sizes__seed_examples": 30, "sizes__rounds": 1, "sizes__examples_per_error": 2})
    probe = Session.create(task, folder=tmp_path / "probe")
    outputs = seed_outputs(probe)

    def reply(prompt):
        text, sample = prompt.messages[-1]["content"], prompt.sample
        if sample.startswith("seed:") and int(sample[5:]) in outputs:
            label = "positive" if "positive" in text else "negative"
            other = "negative" if label == "positive" else "positive"
            raw = outputs[int(sample[5:])][0]
            return raw.format(label=label, other=other.capitalize(), prompt=text) if "{" in raw else raw
        if sample.startswith("r1:") and sample.endswith(":0"):
            return "I'm sorry, but I can't write that."  # the first extrapolation of every error is refused
        return scripted_reply(prompt)

    fake_llm.responder = reply
    s = Session.create(task, folder=tmp_path / "run", student_factory=students(recording_student))
    rows = s.run()

    verdicts = {e.gen_key: e.verdict for e in s.examples()}
    for i, (raw, reason) in outputs.items():
        assert verdicts[f"seed:{i}"] == reason, f"seed:{i} {raw[:40]!r}"
    others = [v for k, v in verdicts.items() if k.startswith("seed:") and int(k[5:]) not in outputs]
    assert set(others) == {"ok"}, "the well-formed outputs pass"
    expected = Counter(reason for _, reason in outputs.values() if reason != "ok")
    assert rows[0].rejected == dict(expected), "round 0's summary counts every reason"
    n_errors = len(s.errors(0))
    assert rows[1].rejected["refusal"] == n_errors and n_errors > 0
    summary = rejection_summary(rows)
    assert all(f"{reason} {n}" in summary for reason, n in (expected + Counter(refusal=n_errors)).items())

    by_key = {e.gen_key: e for e in s.examples()}
    assert by_key["seed:18"].text == CLEANED, "a preamble is cut, the review kept"
    assert by_key["seed:2"].raw_output == outputs[2][0], "a rejected output keeps its raw text"
    assert all(not e.accepted for k, e in by_key.items() if e.verdict != "ok")

    assert len(RecordingStudent.trained) == 2
    for r, trained in enumerate(RecordingStudent.trained):
        accepted = [(e.text, e.label) for e in s.examples(max_round=r, accepted=True)]
        assert sorted((e.text, e.label) for e in trained) == sorted(accepted), f"round {r} trains on accepted only"
        rejected = {e.text for e in s.examples(max_round=r) if not e.accepted}
        rejected |= {e.raw_output for e in s.examples(max_round=r) if not e.accepted}
        rejected -= {text for text, _ in accepted}  # a duplicate's text is its accepted original's
        assert not rejected & {e.text for e in trained}, "no rejected text (raw or cleaned) is trained on"
        assert [e.text for e in trained].count(GOOD) == 1, "a duplicated output is trained on once"
