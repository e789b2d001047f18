"""Shared test tools: where the real data lives, a scripted LLM, and a tiny word-count student.

Both are registered through the real registries when this module is imported (no patching): the scripted LLM as
provider ``fake`` (its backends are made by :data:`FAKE`, which the ``fake_llm`` fixture resets), the word-count
student as student mode ``wordcount`` and, able to take every final recipe and to save a model folder, as
``wordcount_final``. :func:`sst2_task` names both, so a test's runs use them through the Session, the CLI, the magics
and a child process alike; a test that needs its own student instance passes ``student_factory`` to the Session.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from s3_magic.example import Example
from s3_magic.llm import register_backend
from s3_magic.llm.fake import FakeBackend, Responder
from s3_magic.llm.options import NoOptions
from s3_magic.options import Options
from s3_magic.student import register_student
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


class FakeLLM:
    """The factory of provider ``fake``: a new :class:`FakeBackend` per backend the engine makes, answering with
    :attr:`responder` (as it is when the backend is made), kept in :attr:`instances` (newest last) so that tests can
    count the calls."""

    def __init__(self) -> None:
        self.instances: list[FakeBackend] = []
        self.responder: Responder | None = None

    def __call__(self, model: str = "", **options: object) -> FakeBackend:
        backend = FakeBackend(model, responder=self.responder, **options)
        self.instances.append(backend)
        return backend

    def reset(self, responder: Responder | None = None) -> None:
        self.instances, self.responder = [], responder

    def calls(self) -> int:
        return sum(len(b.history) for b in self.instances)


FAKE = FakeLLM()
register_backend("fake", FAKE, NoOptions, replace=True)


@pytest.fixture
def fake_llm() -> FakeLLM:
    """Every fake backend the engine creates answers with :func:`scripted_reply` (set ``fake_llm.responder`` to
    change that for the backends made afterwards)."""
    FAKE.reset(scripted_reply)
    yield FAKE
    FAKE.reset()


def fake_calls() -> int:
    """The calls answered by the ``fake`` backends made since the ``fake_llm`` fixture started."""
    return FAKE.calls()


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


class FinalWordCountStudent(WordCountStudent):
    """:class:`WordCountStudent` with warm starts (the counts add up, so ``two_stage`` runs) and ``save`` (a small
    model folder), so the final step runs every recipe and writes its folder in a second."""

    supports_warm_start = True
    can_save = True

    def fit(self, examples, seed=0, progress=None, weights=None, warm_start=False) -> dict:
        old = (self.counts, self.prior) if warm_start and hasattr(self, "counts") else None
        stats = super().fit(examples, seed=seed, progress=progress, weights=weights)
        if old is not None:
            for lab in self.labels:
                self.counts[lab].update(old[0][lab])
            self.prior.update(old[1])
            self.vocab = set().union(*self.counts.values())
        return stats

    def save(self, path: str) -> None:
        counts = {lab: dict(c) for lab, c in self.counts.items()}
        Path(path, "word_counts.json").write_text(json.dumps({"labels": self.labels, "counts": counts}))


class WordCountOptions(Options):
    """The word-count students take no options (the task's fine-tune options are kept, not passed)."""


register_student("wordcount", lambda labels, model="": WordCountStudent(labels), WordCountOptions, replace=True)
register_student(
    "wordcount_final", lambda labels, model="": FinalWordCountStudent(labels), WordCountOptions, replace=True
)


def students(cls: type[Student]):
    """A ``student_factory`` for a Session: each student is a ``cls(labels)`` (e.g. a recording word-count one)."""
    return lambda task: cls(task.label_names)


def sst2_task(**changes) -> dict:
    """A small SST-2 task on the real data with the fake LLM and the word-count student."""
    task = {
        "name": "sst2-test",
        "labels": ["negative", "positive"],
        "validation": {"path": str(needs_data() / "sst2" / "dev.jsonl"), "limit": 120},
        "split": {"validation": 60, "seed": 0},
        "sizes": {"rationales_per_label": 6, "rationales_per_example": 2, "seed_examples": 40,
                  "examples_per_error": 2, "rounds": 2},
        "llm": {"spec": "fake:scripted"},
        "student": {"mode": "wordcount"},
        "prompts": {"text_kind": "movie review"},
    }  # fmt: skip
    return changed(task, changes)


def changed(task: dict, changes: dict) -> dict:
    """``task`` with ``changes`` applied: keys are paths with ``__`` between the levels (``sizes__rounds``)."""
    for dotted, value in changes.items():
        node = task
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return task


@pytest.fixture
def shell():
    """A real IPython shell with the extension loaded; the notebook's current run is reset afterwards."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from s3_magic import twins

    ip = InteractiveShell.instance()
    with capture_output():
        ip.run_line_magic("load_ext", "s3_magic")
    yield ip
    twins.STATE.session, twins.STATE.folder = None, "s3_runs"
