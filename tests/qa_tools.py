"""Test tools for ``kind: qa`` runs: a small SQuAD task, a scripted question writer and a tiny QA student.

:class:`MemoryQAStudent` is a real (if tiny) extractive reader: it remembers the answer spans it was trained on,
with the words of their questions, and answers a question with the remembered span of the same context whose
training questions share the most words with it (else the context's first three words).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from conftest import changed, needs_data

from s3_magic.options import Options
from s3_magic.qa.records import QAExample, QAPrediction
from s3_magic.student import register_student

SUBJECTS = ["the team", "the city", "the report", "the empire", "the group", "the river", "the event", "the council"]


def squad_task(**changes) -> dict:
    """A small SQuAD task on the real data with the fake LLM and the memory QA student."""
    task = {
        "name": "squad-test",
        "kind": "qa",
        "validation": {"path": str(needs_data() / "squad" / "dev_half.jsonl")},
        "qa": {"validation": 32, "test": 24, "validation_articles": 2},
        "check": {"fraction": 0.25},
        "sizes": {"seed_examples": 16, "examples_per_error": 1, "rounds": 2, "max_errors_per_round": 12},
        "llm": {"spec": "fake:scripted"},
        "student": {"mode": "memory_qa"},
    }  # fmt: skip
    return changed(task, changes)


def question_reply(prompt) -> str:
    """A plausible question for a QA prompt (seed, zerogen or error), different for every sample."""
    meta = prompt.meta
    rng = random.Random(hashlib.sha256((prompt.messages[-1]["content"] + prompt.sample).encode()).hexdigest())
    words = [w for w in re.findall(r"[A-Za-z]{5,}", meta.get("context", "")) if w.lower() not in meta["answer"].lower()]
    picked = " ".join(rng.sample(words, min(3, len(words))))
    if meta.get("step") == "error":
        return f"Question: Which detail about {rng.choice(SUBJECTS)} concerns {picked}?"
    return f"What does the passage say about {rng.choice(SUBJECTS)} and {picked}?"


class MemoryQAStudent:
    """See the module docs."""

    def __init__(self) -> None:
        self.memory: dict[str, list[tuple[set[str], str, int]]] = {}

    def fit(self, examples: Sequence[QAExample], seed: int = 0, progress=None) -> dict:
        self.memory = {}
        for ex in examples:
            self.memory.setdefault(ex.context, []).append((_words(ex.question), ex.answer.text, ex.answer.start))
        return {"seconds": 0.0, "n": len(examples)}

    def predict(self, examples: Sequence[QAExample], progress=None) -> list[QAPrediction]:
        out = []
        for ex in examples:
            known = self.memory.get(ex.context, [])
            if known:
                overlap, text, start = max((len(_words(ex.question) & w), t, s) for w, t, s in known)
                out.append(QAPrediction(text, start, float(overlap)))
            else:
                first = " ".join(ex.context.split()[:3])
                out.append(QAPrediction(first, 0, 0.0))
        return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


class MemoryQAOptions(Options):
    """The memory QA student takes no options."""


register_student("memory_qa", lambda labels, model="": MemoryQAStudent(), MemoryQAOptions, replace=True, kinds=("qa",))
