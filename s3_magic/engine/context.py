"""Everything one run's steps share: the task, its data, the store, the LLM and progress reporting."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3_magic.errors import DataError
from s3_magic.example import Example
from s3_magic.llm.base import Backend, GenParams
from s3_magic.llm.cached import CachedLLM
from s3_magic.store import RunStore
from s3_magic.task import TaskSpec

if TYPE_CHECKING:
    from s3_magic.qa.task_data import QAData

#: makes the run's LLM backend (instead of the task's ``llm.spec``)
BackendFactory = Callable[[], Backend]
#: makes a fresh, untrained student for a task (instead of its ``student.mode``), like setfit's ``model_init``
StudentFactory = Callable[[TaskSpec], Any]


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
    #: the real labelled examples the loop steers by: errors are extrapolated, the judge trains on them
    validation: list[Example]
    test: list[Example]
    contexts: list[str]
    gold: list[Example]
    #: real labelled examples held out of the loop (never extrapolated, shown to the LLM or judged): the honest
    #: estimate each round reports and every choice reads
    check: list[Example] = field(default_factory=list)
    #: contexts left out of the pool, by reason (``check``: a check example's first text; ``test``: a test one)
    dropped_contexts: dict[str, int] = field(default_factory=dict)
    #: a ``kind: qa`` task's questions (its classification parts above are then empty)
    qa: QAData | None = None


def load_task_data(task: TaskSpec) -> TaskData:
    """Load and check validation, check, test, pair contexts and gold data of a task (a QA task's questions)."""
    if task.is_qa:
        from s3_magic.qa.task_data import load_qa_data

        qa = load_qa_data(task)
        return TaskData(validation=[], test=[], contexts=[], gold=[], dropped_contexts=qa.dropped_contexts, qa=qa)
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
    validation, check = split_check(task, validation)
    contexts: list[str] = []
    dropped: dict[str, int] = {}
    if pair:
        if task.contexts is not None:
            ctx_examples = load_examples(task.contexts, labels=labels, pair=True, prefix="ctx", base_dir=base)
            contexts = list(dict.fromkeys(e.text for e in ctx_examples))
            contexts, dropped = guarded_contexts(task, contexts, check, test)
        else:
            contexts = list(dict.fromkeys(e.text for e in validation))
    gold = validation
    if task.gold is not None:
        gold = load_examples(task.gold, labels=labels, pair=pair, prefix="gold", base_dir=base)
    return TaskData(
        validation=validation, test=test, contexts=contexts, gold=gold, check=check, dropped_contexts=dropped
    )


def split_check(task: TaskSpec, validation: list[Example]) -> tuple[list[Example], list[Example]]:
    """Hold the check split out of the labelled examples (see :class:`~s3_magic.task.CheckSpec`)."""
    from s3_magic.data import check_labelled_set, grouped_split

    size = check_size(task, len(validation), "labelled examples")
    if size == 0:
        return validation, []
    check, rest = grouped_split(validation, size, task.seed, task.is_pair)
    check_labelled_set(rest, task.label_names, name="validation (after the check split)")
    check = [Example(e.text, e.label, e.text_b, e.uid.replace("val:", "check:", 1)) for e in check]
    return rest, check


def check_size(task: TaskSpec, n: int, noun: str) -> int:
    """The size of the check split out of ``n`` labelled ``noun`` (``check.size``, or ``check.fraction`` of them);
    a DataError when it would leave fewer than two to steer the loop."""
    spec = task.check
    size = spec.size if spec.size is not None else round(spec.fraction * n)
    if size and size >= n - 1:
        raise DataError(
            f"a check split of {size} leaves {n - size} of {n} {noun} to steer the loop; "
            "lower check.size or check.fraction (e.g. 0.25)"
        )
    return size


def guarded_contexts(
    task: TaskSpec, contexts: list[str], check: list[Example], test: list[Example]
) -> tuple[list[str], dict[str, int]]:
    """The contexts pool without check or test first texts.

    A context that is the first text of a check example is dropped (the check split is the tool's own, so the
    user cannot remove it from the file); one that is a test first text is refused unless the task sets
    ``drop_test_contexts``, since it would turn test premises into training pairs.
    """
    from s3_magic.data import normalised

    test_texts = {normalised(e.text) for e in test}
    check_texts = {normalised(e.text) for e in check}
    leaking = [c for c in contexts if normalised(c) in test_texts]
    if leaking and not task.drop_test_contexts:
        shown = leaking[0] if len(leaking[0]) <= 60 else leaking[0][:57] + "..."
        raise DataError(
            f"{len(leaking)} of {len(contexts)} contexts are first texts of the test split, e.g. {shown!r}; "
            "give contexts from another file than the test set, or set drop_test_contexts: true to leave them out"
        )
    dropped = {"test": len(leaking), "check": sum(normalised(c) in check_texts for c in contexts)}
    kept = [c for c in contexts if normalised(c) not in test_texts and normalised(c) not in check_texts]
    if not kept:
        raise DataError(
            "no contexts are left once the check and test first texts are taken out; give a larger contexts file"
        )
    return kept, {k: v for k, v in dropped.items() if v}


def make_backend(task: TaskSpec, factory: BackendFactory | None = None) -> Backend:
    """The backend for ``task``'s LLM (``factory`` overrides it); raises BackendError for an unknown provider,
    a bad option or a missing API key, so callers can make it before writing anything."""
    if factory is not None:
        return factory()
    from s3_magic.llm import get_backend

    return get_backend(task.llm.spec, **task.llm.backend_options)


@dataclass
class RunContext:
    task: TaskSpec
    store: RunStore
    run_id: str
    data: TaskData
    reporter: Reporter = field(default_factory=Reporter)
    #: override the backend (tests pass a scripted one; the notebook reuses a loaded model)
    backend_factory: BackendFactory | None = None
    #: override the student (tests pass a tiny one; code its own classifier); called with the task for every student
    student_factory: StudentFactory | None = None
    #: near-duplicate index over real and accepted examples, built on first use (reset when a user edits data)
    deduper: Any = None
    #: the student trained on the validation examples that checks new synthetic labels (engine.judge), on first use
    judge: Any = None
    #: the student the last final step kept (and saved), for use in this process
    final_student: Any = None
    _llm: CachedLLM | None = None

    def rng(self, step: str) -> random.Random:
        """A random generator that depends only on the task seed and the step name."""
        return random.Random(f"{self.task.seed}:{step}")

    @property
    def llm(self) -> CachedLLM:
        if self._llm is None:
            return self.use_backend(make_backend(self.task, self.backend_factory))
        return self._llm

    def new_student(self) -> Any:  # -> Student (imported lazily: the built-in ones pull in torch)
        """A fresh, untrained student: from :attr:`student_factory` when given, else the task's student mode."""
        if self.student_factory is not None:
            return self.student_factory(self.task)
        from s3_magic.student import make_student

        spec = self.task.student
        return make_student(self.task.label_names, spec.mode, spec.model, **spec.mode_options)

    def use_backend(self, backend: Backend) -> CachedLLM:
        """Make the run's LLM calls with ``backend`` (through the cache and budget); the previous one is closed."""
        self.close()
        backend.notice = self.reporter.message
        if backend.observes:  # a backend whose answers depend on earlier ones learns those of this run
            backend.observe([row.raw_output for row in self.store.examples(self.run_id) if row.raw_output])
        spec = self.task.llm
        params = GenParams(temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens)
        self._llm = CachedLLM(
            backend, self.store, params, run_id=self.run_id, budget_tokens=spec.budget_tokens,
            price=spec.price(), budget_usd=spec.budget_usd,
        )  # fmt: skip
        return self._llm

    def close(self) -> None:
        if self._llm is not None:
            self._llm.backend.close()
            self._llm = None
