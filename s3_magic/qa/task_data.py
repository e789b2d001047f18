"""A ``kind: qa`` task's questions: the contexts pool, validation, check and test parts, kept apart by article.

Where the task gives neither ``contexts`` nor ``test``, the validation source is split by article
(:func:`~s3_magic.qa.data.split_by_article`). Given files are checked against each other: a test article or
context that reappears in the pool or the validation questions is refused with a one-line error.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s3_magic.data import normalised
from s3_magic.errors import DataError
from s3_magic.qa.data import check_articles_disjoint, load_qa, split_by_article
from s3_magic.qa.records import Answer, QAExample
from s3_magic.task import TaskSpec


@dataclass
class QAData:
    """The questions of a QA run. ``pool``: real questions whose contexts and answer spans seed questions are
    written for (their questions are never shown); ``validation``: the questions the loop steers by (its errors
    are extrapolated); ``check``: held out of the loop (never extrapolated, never shown): the honest estimate;
    ``test``: report only."""

    pool: list[QAExample]
    validation: list[QAExample]
    check: list[QAExample] = field(default_factory=list)
    test: list[QAExample] = field(default_factory=list)
    #: pool contexts left out, by reason (``check``: a check question's context)
    dropped_contexts: dict[str, int] = field(default_factory=dict)

    def by_uid(self) -> dict[str, QAExample]:
        """Every validation, check and test question by uid."""
        return {ex.uid: ex for part in (self.validation, self.check, self.test) for ex in part}


def load_qa_data(task: TaskSpec) -> QAData:
    """Load and check the questions of a ``kind: qa`` task (see the module docs)."""
    base = Path(task.base_dir) if task.base_dir else None
    spec = task.qa
    questions = load_qa(task.validation, prefix="val", base_dir=base)
    test = load_qa(task.test, prefix="test", base_dir=base) if task.test is not None else []
    if task.contexts is not None:
        pool = load_qa(task.contexts, prefix="ctx", base_dir=base)
        validation = _limited(questions, spec.validation, spec.split_seed)
    else:
        n_test = 0 if task.test is not None else spec.test
        split = split_by_article(questions, spec.validation, n_test, spec.split_seed, spec.validation_articles)
        pool, validation, test = split.pool, split.validation, test or split.test
    if test:
        check_articles_disjoint(validation, test)
        check_articles_disjoint(pool, test, names=("contexts", "test"))
    validation, check = split_check(task, validation)
    pool, dropped = _without_contexts(pool, check)
    if not pool:
        raise DataError("no contexts are left for seed questions; give a contexts file with more articles")
    return QAData(pool=pool, validation=validation, check=check, test=test, dropped_contexts=dropped)


def _limited(questions: list[QAExample], size: int, seed: int) -> list[QAExample]:
    if len(questions) <= size:
        return questions
    keep = set(random.Random(seed).sample(range(len(questions)), size))
    return [q for i, q in enumerate(questions) if i in keep]


def split_check(task: TaskSpec, validation: list[QAExample]) -> tuple[list[QAExample], list[QAExample]]:
    """Hold the check split out of the validation questions, whole contexts at a time (questions on one
    context share it, and extrapolation writes new questions on the validation contexts)."""
    from s3_magic.engine.context import check_size

    size = check_size(task, len(validation), "questions")
    if size == 0:
        return validation, []
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(validation):
        groups.setdefault(normalised(ex.context), []).append(i)
    order = sorted(groups)
    random.Random(f"{task.seed}:check").shuffle(order)
    chosen: set[int] = set()
    for key in order:
        if len(chosen) >= size:
            break
        chosen.update(groups[key])
    if len(chosen) >= len(validation):
        raise DataError("every validation question shares a context with the check split; lower check.fraction")
    rest = [ex for i, ex in enumerate(validation) if i not in chosen]
    check = [_renamed(ex, "check") for i, ex in enumerate(validation) if i in chosen]
    return rest, check


def _renamed(ex: QAExample, prefix: str) -> QAExample:
    uid = ex.uid if not ex.uid.startswith("val:") else ex.uid.replace("val:", f"{prefix}:", 1)
    return QAExample(ex.question, ex.context, ex.answers, uid, ex.title)


def _without_contexts(pool: list[QAExample], check: Sequence[QAExample]) -> tuple[list[QAExample], dict[str, int]]:
    held = {normalised(ex.context) for ex in check}
    kept = [ex for ex in pool if normalised(ex.context) not in held]
    dropped = len({normalised(ex.context) for ex in pool} & held)
    return kept, ({"check": dropped} if dropped else {})


def seed_spans(pool: Sequence[QAExample]) -> list[tuple[str, Answer, str]]:
    """The distinct (context, answer span, title) of the pool, in pool order: what seed questions are written for."""
    seen: set[tuple[str, int, str]] = set()
    spans: list[tuple[str, Answer, str]] = []
    for ex in pool:
        for answer in ex.answers:
            key = (ex.context, answer.start, answer.text)
            if key not in seen:
                seen.add(key)
                spans.append((ex.context, answer, ex.title))
    return spans
