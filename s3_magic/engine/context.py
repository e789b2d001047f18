"""Everything one run's steps share: the task, its data, the store, the LLM and progress reporting."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3_magic.example import Example
from s3_magic.llm.base import Backend, GenParams
from s3_magic.llm.cached import CachedLLM
from s3_magic.store import RunStore
from s3_magic.task import TaskSpec


class Reporter:
    """Receives progress from the engine. The CLI and the notebook widgets subclass it."""

    def progress(self, step: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of ``step`` are finished."""

    def example(self, row: dict[str, Any]) -> None:
        """A synthetic example was stored (accepted or not)."""

    def message(self, text: str) -> None:
        """A one-line status message."""


@dataclass
class TaskData:
    validation: list[Example]
    test: list[Example]
    contexts: list[str]
    gold: list[Example]


def load_task_data(task: TaskSpec) -> TaskData:
    """Load and check validation, test, pair contexts and gold data of a task."""
    from s3_magic.data import check_disjoint, check_labelled_set, load_examples, stratified_split

    base = Path(task.base_dir) if task.base_dir else None
    labels, pair = task.label_names, task.is_pair
    validation = load_examples(task.validation, labels=labels, pair=pair, prefix="val", base_dir=base)
    test: list[Example] = []
    if task.split is not None:
        validation, test = stratified_split(validation, task.split.validation, task.split.seed)
        test = [Example(e.text, e.label, e.text_b, e.uid.replace("val:", "test:", 1)) for e in test]
    elif task.test is not None:
        test = load_examples(task.test, labels=labels, pair=pair, prefix="test", base_dir=base)
    check_labelled_set(validation, labels, name="validation")
    if test:
        check_disjoint(validation, test)
    contexts: list[str] = []
    if pair:
        if task.contexts is not None:
            ctx_examples = load_examples(task.contexts, labels=labels, pair=True, prefix="ctx", base_dir=base)
            contexts = list(dict.fromkeys(e.text for e in ctx_examples))
        else:
            contexts = list(dict.fromkeys(e.text for e in validation))
    gold = validation
    if task.gold is not None:
        gold = load_examples(task.gold, labels=labels, pair=pair, prefix="gold", base_dir=base)
    return TaskData(validation=validation, test=test, contexts=contexts, gold=gold)


def make_backend(task: TaskSpec, factory: Callable[[], Backend] | None = None) -> Backend:
    """The backend for ``task``'s LLM (``factory`` overrides it); raises BackendError for an unknown provider,
    a bad option or a missing API key, so callers can make it before writing anything."""
    if factory is not None:
        return factory()
    from s3_magic.llm import get_backend

    return get_backend(task.llm.spec, **task.llm.options)


@dataclass
class RunContext:
    task: TaskSpec
    store: RunStore
    run_id: str
    data: TaskData
    reporter: Reporter = field(default_factory=Reporter)
    #: override the backend (tests pass a scripted one; the notebook reuses a loaded model)
    backend_factory: Callable[[], Backend] | None = None
    #: near-duplicate index over real and accepted examples, built on first use (reset when a user edits data)
    deduper: Any = None
    #: the student trained on the validation examples that checks new synthetic labels (engine.judge), on first use
    judge: Any = None
    _llm: CachedLLM | None = None

    def rng(self, step: str) -> random.Random:
        """A random generator that depends only on the task seed and the step name."""
        return random.Random(f"{self.task.seed}:{step}")

    @property
    def llm(self) -> CachedLLM:
        if self._llm is None:
            return self.use_backend(make_backend(self.task, self.backend_factory))
        return self._llm

    def use_backend(self, backend: Backend) -> CachedLLM:
        """Make the run's LLM calls with ``backend`` (through the cache and budget); the previous one is closed."""
        self.close()
        backend.notice = self.reporter.message
        spec = self.task.llm
        params = GenParams(temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens)
        self._llm = CachedLLM(backend, self.store, params, run_id=self.run_id, budget_tokens=spec.budget_tokens)
        return self._llm

    def close(self) -> None:
        if self._llm is not None:
            self._llm.backend.close()
            self._llm = None
