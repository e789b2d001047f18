"""Shared test tools: where the real data lives, a scripted LLM responder, and a tiny word-count student."""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from s3_magic.example import Example
from s3_magic.llm.fake import FakeBackend
from s3_magic.student.base import Predictions, Student

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("S3_MAGIC_DATA", REPO.parent / "shared" / "data"))

WORDS = [
    "acting",
    "plot",
    "pacing",
    "score",
    "soundtrack",
    "dialogue",
    "ending",
    "camera",
    "story",
    "cast",
    "humor",
    "tension",
    "visuals",
    "script",
    "editing",
    "direction",
    "characters",
    "mood",
    "lighting",
    "costumes",
    "sets",
    "music",
    "rhythm",
    "twist",
    "drama",
    "romance",
    "action",
    "chase",
    "finale",
    "opening",
    "scenes",
    "performance",
    "lead",
    "villain",
    "hero",
    "sidekick",
    "city",
    "forest",
    "ocean",
    "night",
    "winter",
    "summer",
    "train",
    "castle",
]
POSITIVE = ["wonderful", "delightful", "brilliant", "moving", "charming", "superb", "gripping", "lovely"]
NEGATIVE = ["dull", "tedious", "clumsy", "boring", "awful", "bland", "messy", "lifeless"]


def needs_data() -> Path:
    if not (DATA / "sst2" / "dev.jsonl").exists():
        pytest.skip(f"shared data not found at {DATA}; set S3_MAGIC_DATA")
    return DATA


def scripted_reply(prompt) -> str:
    """Plausible LLM output for each of the engine's prompts, different for every sample."""
    text = prompt.messages[-1]["content"]
    rng = random.Random(hashlib.sha256((text + prompt.sample).encode()).hexdigest())
    if "one reason per line" in text:
        return "Sure! Here are some reasons:\n" + "\n".join(f"{i + 1}. {w} quality" for i, w in enumerate(WORDS[:12]))
    sentiment = POSITIVE if re.search(r"\bpositive\b|definitely true", text) else NEGATIVE
    words = rng.sample(WORDS, 6)
    return f'"{rng.choice(sentiment).capitalize()} {words[0]} and {rng.choice(sentiment)} {" ".join(words[1:])}."'


@pytest.fixture
def fake_llm():
    """Every fake backend the engine creates answers with :func:`scripted_reply`."""
    FakeBackend.reset()
    FakeBackend.default_responder = scripted_reply
    yield FakeBackend
    FakeBackend.reset()


def fake_calls() -> int:
    return sum(len(b.history) for b in FakeBackend.instances)


class WordCountStudent(Student):
    """Multinomial naive Bayes over lower-cased words: a real (if tiny) classifier for fast tests."""

    def fit(self, examples: Sequence[Example], seed: int = 0, progress=None, weights=None, warm_start=False) -> dict:
        self.counts = {lab: Counter() for lab in self.labels}
        self.prior = Counter()
        for i, e in enumerate(examples):
            w = 1 if weights is None else max(1, round(weights[i]))  # a weight counts the example w times
            self.prior[e.label] += w
            for _ in range(w):
                self.counts[e.label].update(_words(e))
        self.vocab = set().union(*self.counts.values())
        return {"seconds": 0.0, "n": len(examples)}

    def predict(self, examples: Sequence[Example], progress=None) -> Predictions:
        labels, confs, probs = [], [], []
        total = sum(self.prior.values())
        for e in examples:
            scores = []
            for lab in self.labels:
                c, n = self.counts[lab], sum(self.counts[lab].values())
                s = math.log((self.prior[lab] + 1) / (total + len(self.labels)))
                s += sum(math.log((c[w] + 1) / (n + len(self.vocab) + 1)) for w in _words(e))
                scores.append(s)
            m = max(scores)
            exp = [math.exp(s - m) for s in scores]
            p = [x / sum(exp) for x in exp]
            best = max(range(len(p)), key=p.__getitem__)
            labels.append(self.labels[best])
            confs.append(p[best])
            probs.append(p)
        return Predictions(labels, confs, probs)


def _words(e: Example) -> list[str]:
    return re.findall(r"[a-z']+", (e.text + " " + (e.text_b or "")).lower())


@pytest.fixture
def toy_student(monkeypatch):
    """Make the engine train :class:`WordCountStudent` instead of a transformer."""
    import s3_magic.engine.training as training

    monkeypatch.setattr(training, "make_student", lambda ctx: WordCountStudent(ctx.task.label_names))
    return WordCountStudent


def sst2_task(**changes) -> dict:
    """A small SST-2 task on the real data with the fake LLM."""
    task = {
        "name": "sst2-test",
        "labels": ["negative", "positive"],
        "validation": {"path": str(needs_data() / "sst2" / "dev.jsonl"), "limit": 120},
        "split": {"validation": 60, "seed": 0},
        "sizes": {"rationales_per_label": 6, "rationales_per_example": 2, "seed_examples": 40,
                  "examples_per_error": 2, "rounds": 2},
        "llm": {"spec": "fake:scripted"},
        "prompts": {"text_kind": "movie review"},
    }  # fmt: skip
    for dotted, value in changes.items():
        node = task
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return task


@pytest.fixture
def shell():
    """A real IPython shell with the extension loaded; the notebook's current run and widgets reset afterwards."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from s3_magic import notebook as nb
    from s3_magic.views import base

    ip = InteractiveShell.instance()
    with capture_output():
        ip.run_line_magic("load_ext", "s3_magic")
    yield ip
    nb.STATE.session, nb.STATE.folder = None, "s3_runs"
    base.WIDGETS = None
