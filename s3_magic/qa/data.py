"""Extractive-QA data in SQuAD form as :class:`~s3_magic.qa.records.QAExample` records, and the article split.

Rows look like Hugging Face ``squad``: ``{"id", "title", "context", "question", "answers": {"text": [...],
"answer_start": [...]}}``. They are read by the same readers as labelled data (:mod:`s3_magic.data_sources`:
JSONL split on ``\\n`` only, JSON, CSV with ``answers`` as JSON text, Parquet, saved datasets, the Hub), so a
path, a :class:`~s3_magic.data_sources.DataSource`, a list of dicts, a DataFrame or a ``datasets.Dataset`` work.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from s3_magic.data import _validated, normalised
from s3_magic.data_sources import DataSource, Table, read_memory, read_source
from s3_magic.errors import DataError
from s3_magic.qa.records import Answer, QAExample, example_problem

__all__ = [
    "QA_HUB",
    "ArticleSplit",
    "check_articles_disjoint",
    "load_qa",
    "load_qa_hub",
    "split_by_article",
]

REQUIRED = ("context", "question", "answers")
SCHEMA = '{"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}'
_ANSWERS = "{text: [...], answer_start: [...]}"

#: short names of the Hub's extractive-QA sets -> (Hub id, default config)
QA_HUB: dict[str, tuple[str, str | None]] = {
    "squad": ("rajpurkar/squad", None),
    # configs: adversarialQA (all three), dbidaf, dbert, droberta; the test splits have no answers
    "adversarial_qa": ("UCLNLP/adversarial_qa", "adversarialQA"),
}


def load_qa(source: Any, *, prefix: str = "qa", base_dir: Path | None = None) -> list[QAExample]:
    """Load SQuAD-form questions; each uid is the row's ``id``, or ``f"{prefix}:{row}"`` where there is none.

    Every answer span is checked against its context; a bad row raises a one-line DataError naming the file and
    line (or row). Relative paths resolve against ``base_dir`` (default: the cwd).
    """
    if isinstance(source, dict):
        source = _validated(DataSource, source)
    elif isinstance(source, (str, Path)):
        source = DataSource(path=str(source))
    table: Table | None
    if isinstance(source, DataSource):
        table = read_source(source, base_dir)
    else:
        table = read_memory(source)
        if table is None:
            raise DataError(
                f"cannot load questions from {type(source).__name__}; pass a file path, a DataSource, "
                "a pandas DataFrame, a datasets.Dataset or a list of dicts"
            )
    return _examples(table, prefix)


def load_qa_hub(name: str = "adversarial_qa", split: str = "validation", config: str | None = None) -> list[QAExample]:
    """Questions of a Hugging Face Hub data set: a short name of :data:`QA_HUB` or any Hub id in SQuAD form."""
    hub, default = QA_HUB.get(name, (name, None))
    return load_qa(DataSource(hub=hub, config=config or default, split=split), prefix=split)


def _examples(table: Table, prefix: str) -> list[QAExample]:
    if not table.rows:
        raise DataError(f"{table.name} has no rows; give a file of questions, one {SCHEMA} record each")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataError(
            f"{table.name} has no column(s) {', '.join(map(repr, missing))} (found: "
            f"{', '.join(map(str, table.columns)) or 'none'}); give SQuAD-form records {SCHEMA}"
        )
    examples, problems = [], []
    for i, row in enumerate(table.rows):
        try:
            example = _example(row, i, prefix)
        except _RowError as exc:
            problems.append((i, str(exc)))
            continue
        problem = example_problem(example)
        if problem:
            problems.append((i, problem))
        examples.append(example)
    if problems:
        i, problem = problems[0]
        more = f" ({len(problems) - 1} more row(s) have problems)" if len(problems) > 1 else ""
        raise DataError(f"{table.name} {table.where(i)} {problem}{more}; fix or remove it")
    _check_unique(examples, table)
    return examples


class _RowError(Exception):
    """A row that cannot be made into a QAExample; the message is the clause for the DataError."""


def _example(row: Mapping[str, Any], i: int, prefix: str) -> QAExample:
    uid = _text(row.get("id"))
    return QAExample(
        question=_text(row.get("question")),
        context=_text(row.get("context")),
        answers=_answers(row.get("answers")),
        uid=uid or f"{prefix}:{i}",
        title=_text(row.get("title")),
    )


def _answers(value: Any) -> tuple[Answer, ...]:
    if isinstance(value, str):  # CSV holds the answers as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _RowError(f"has answers {value[:40]!r} that are not JSON {_ANSWERS}") from None
    if not isinstance(value, Mapping) or "text" not in value or "answer_start" not in value:
        shown = type(value).__name__ if value is not None else "nothing"
        raise _RowError(f"has answers of the wrong form ({shown}, expected {_ANSWERS})")
    texts, starts = _listed(value["text"]), _listed(value["answer_start"])
    if len(texts) != len(starts):
        raise _RowError(f"has {len(texts)} answer text(s) but {len(starts)} answer_start value(s), not one per text")
    if not texts:
        raise _RowError("has no answer (answers.text is empty; a hidden test split has none, use one with answers)")
    return tuple(Answer(_text(t), _start(s)) for t, s in zip(texts, starts, strict=True))


def _listed(value: Any) -> list[Any]:
    if hasattr(value, "tolist"):  # numpy arrays from Parquet / pandas
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return [] if value is None else [value]


def _start(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    return value  # anything else is reported by span_problem


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _check_unique(examples: Sequence[QAExample], table: Table) -> None:
    seen: dict[str, int] = {}
    for i, ex in enumerate(examples):
        if ex.uid in seen:
            raise DataError(
                f"{table.name} {table.where(i)} repeats id {ex.uid!r} of {table.where(seen[ex.uid])}; "
                "give every question its own id"
            )
        seen[ex.uid] = i


class ArticleSplit(NamedTuple):
    """Three parts that share no article: contexts for seed synthesis, validation questions, test questions."""

    pool: list[QAExample]
    validation: list[QAExample]
    test: list[QAExample]

    def articles(self, part: str) -> set[str]:
        """The article keys (titles, or contexts where untitled) of ``part`` ("pool", "validation" or "test")."""
        return {ex.article for ex in getattr(self, part)}


def split_by_article(
    examples: Sequence[QAExample], n_validation: int, n_test: int, seed: int, validation_articles: int = 4
) -> ArticleSplit:
    """Split questions by article so that no article (hence no context) is on two sides.

    Articles are shuffled with ``seed``. The first ones, until they hold ``n_test`` questions, are the test
    articles; ``n_test`` of their questions are drawn as the test set and their other questions are left out,
    so no test context is ever seen by synthesis or training. The next articles, at least
    ``validation_articles`` of them (so the errors the loop extrapolates from are not all on one topic) and
    enough to hold ``n_validation`` questions, give the validation set the same way. Every remaining article
    forms the contexts pool that seed synthesis samples contexts and answer spans from: seed data is written
    on contexts the validation set does not share, so the validation score measures reading unseen contexts
    as the test score does. (Error extrapolation later writes questions on the validation contexts, as S3 does.)
    ``n_test`` 0 makes no test set, for a test set read from elsewhere. Each part keeps the original order.
    """
    if n_validation < 1 or n_test < 0:
        raise DataError(f"cannot split {n_validation} validation and {n_test} test questions; use sizes of 1 or more")
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.article, []).append(i)
    needed = 3 if n_test else 2
    if len(groups) < needed:
        raise DataError(
            f"the questions come from {len(groups)} article(s) but an article split needs at least {needed} "
            "(test, validation, contexts pool); give questions from more articles (titles)"
        )
    order = sorted(groups)
    rng = random.Random(seed)
    rng.shuffle(order)
    test_arts = _take(order, groups, n_test, 0, reserve=2) if n_test else []
    rest = order[len(test_arts) :]
    val_arts = _take(rest, groups, n_validation, validation_articles, reserve=1)
    pool_arts = rest[len(val_arts) :]
    for part, arts, size in (("test", test_arts, n_test), ("validation", val_arts, n_validation)):
        held = sum(len(groups[a]) for a in arts)
        if held < size:
            raise DataError(
                f"the {part} articles hold only {held} questions, fewer than the {size} asked for, with "
                f"{len(order)} articles and {len(examples)} questions in all; ask for fewer {part} questions"
            )
    test = _draw(groups, test_arts, n_test, rng)
    validation = _draw(groups, val_arts, n_validation, rng)
    pool = sorted(i for a in pool_arts for i in groups[a])
    return ArticleSplit([examples[i] for i in pool], [examples[i] for i in validation], [examples[i] for i in test])


def _take(order: list[str], groups: dict[str, list[int]], size: int, least: int, reserve: int) -> list[str]:
    """The first articles of ``order`` that hold ``size`` questions and number ``least`` or more, leaving
    ``reserve`` articles for the later parts."""
    taken: list[str] = []
    held = 0
    for article in order[: len(order) - reserve]:
        if held >= size and len(taken) >= least:
            break
        taken.append(article)
        held += len(groups[article])
    return taken


def _draw(groups: dict[str, list[int]], articles: list[str], size: int, rng: random.Random) -> list[int]:
    members = sorted(i for a in articles for i in groups[a])
    return sorted(rng.sample(members, size)) if size < len(members) else members


def check_articles_disjoint(
    first: Sequence[QAExample], second: Sequence[QAExample], names: tuple[str, str] = ("validation", "test")
) -> None:
    """No article title and no context may be in both sets (for sets read from separate files)."""
    titles = {ex.title for ex in first if ex.title}
    contexts = {normalised(ex.context) for ex in first}
    for ex in second:
        if ex.title and ex.title in titles:
            shared = f"article {ex.title!r}"
        elif normalised(ex.context) in contexts:
            shared = f"the context of question {ex.uid!r}"
        else:
            continue
        raise DataError(
            f"the {names[1]} set shares {shared} with the {names[0]} set; split by article so the "
            f"{names[1]} score is on unseen contexts"
        )
