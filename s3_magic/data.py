"""Labelled data (validation / test / gold) as :class:`~s3_magic.example.Example` records, and checks on it.

Importing this module stays light: pandas, pyarrow and datasets are imported only when a reader needs them.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from s3_magic.data_sources import Columns, DataSource, Table, data_root, expand_path, raw_key, read_memory, read_source
from s3_magic.errors import ConfigError, DataError
from s3_magic.example import Example

__all__ = [
    "Columns",
    "DataSource",
    "check_disjoint",
    "check_labelled_set",
    "data_root",
    "expand_path",
    "grouped_split",
    "load_examples",
    "normalised",
    "stratified_split",
]

_SHOWN = 5  # offending values / rows named in an error
_INT = re.compile(r"[+-]?\d+")


def load_examples(
    source: Any,
    *,
    labels: Sequence[str],
    pair: bool,
    prefix: str,
    base_dir: Path | None = None,
    spec: Columns | dict[str, Any] | None = None,
) -> list[Example]:
    """Load labelled examples with uids ``f"{prefix}:{row}"`` (row = index in the original data, before sampling).

    ``source`` is a :class:`DataSource`, a dict of its fields, a file path, a pandas DataFrame, a
    ``datasets.Dataset`` or a list of dicts; ``spec`` overrides column names, ``label_map`` and ``limit``
    for the last four. Relative paths resolve against ``base_dir`` (default: the cwd).
    """
    cols = _validated(Columns, spec) if spec is not None else None
    if isinstance(source, dict):
        source = _validated(DataSource, source)
    elif isinstance(source, (str, Path)):
        if isinstance(cols, DataSource):
            source = cols.model_copy(update={"path": str(source), "hub": None})
        else:
            source = DataSource(**(cols.model_dump() if cols else {}), path=str(source))
    table: Table | None
    if isinstance(source, DataSource):
        cols = source
        _check_pair(cols, pair)
        table = read_source(source, base_dir)
    else:
        cols = cols or Columns()
        _check_pair(cols, pair)
        table = read_memory(source)
        if table is None:
            raise DataError(
                f"cannot load examples from {type(source).__name__}; pass a file path, a DataSource, "
                "a pandas DataFrame, a datasets.Dataset or a list of dicts"
            )
    examples = _examples(table, cols, list(labels), pair, prefix)
    if cols.limit is not None and cols.limit < len(examples):
        examples = stratified_split(examples, cols.limit, cols.seed)[0]
    return examples


def check_labelled_set(examples: Sequence[Example], labels: Sequence[str], name: str = "validation") -> None:
    """A labelled set must be non-empty and hold examples of at least two labels."""
    if not examples:
        raise DataError(f"the {name} set is empty; give a file with labelled examples")
    present = {ex.label for ex in examples}
    if len(present) < 2:
        (only,) = present
        missing = ", ".join(label for label in labels if label != only) or "another label"
        raise DataError(
            f"the {name} set needs examples of at least two labels; found only {only!r} "
            f"({len(examples)} examples); add examples of: {missing}"
        )


def check_disjoint(
    validation: Sequence[Example], test: Sequence[Example], names: tuple[str, str] = ("validation", "test")
) -> None:
    """No example (normalised text and text_b) may be in both sets."""
    seen = {_key(ex) for ex in validation}
    shared = [ex for ex in test if _key(ex) in seen]
    if shared:
        shown = shared[0].text if len(shared[0].text) <= 80 else shared[0].text[:77] + "..."
        raise DataError(
            f"{len(shared)} {names[1]} example(s) also appear in the {names[0]} set, e.g. {shown!r}; "
            f"remove them from one of the two sets so the {names[1]} score is honest"
        )


def stratified_split(examples: Sequence[Example], first: int, seed: int) -> tuple[list[Example], list[Example]]:
    """Split into ``first`` examples and the rest, keeping label proportions; both parts keep the original order."""
    if len(examples) < 2:
        raise DataError(f"cannot split {len(examples)} example(s) in two; give at least 2 labelled examples")
    if not 0 < first < len(examples):
        raise DataError(
            f"cannot take {first} of {len(examples)} examples for the first part of a split; "
            f"use a size between 1 and {len(examples) - 1}"
        )
    by_label: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_label.setdefault(ex.label, []).append(i)
    order = sorted(by_label)
    quotas = _quotas([len(by_label[label]) for label in order], first)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label, quota in zip(order, quotas, strict=True):
        chosen.update(rng.sample(by_label[label], quota))
    return _parts(examples, chosen)


def grouped_split(
    examples: Sequence[Example], first: int, seed: int, pair: bool
) -> tuple[list[Example], list[Example]]:
    """Split off about ``first`` examples, stratified by label, keeping examples that share a text together.

    Examples with the same normalised text (on a pair task: the same first text) form one group, and a group
    is never divided, so no text of one part reappears in the other. Each label's share is filled with whole
    groups in an order drawn from ``seed``; both parts keep the original order.
    """
    if not 0 < first < len(examples):
        raise DataError(
            f"cannot take {first} of {len(examples)} examples for the check split; "
            f"set check.size between 1 and {len(examples) - 1} (or check.fraction: 0 to turn it off)"
        )
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(normalised(ex.text) if pair else _key(ex)[0], []).append(i)
    by_label: dict[str, list[list[int]]] = {}
    for members in groups.values():
        by_label.setdefault(examples[members[0]].label, []).append(members)
    counts = {label: sum(examples[i].label == label for i in range(len(examples))) for label in by_label}
    order = sorted(by_label)
    quotas = _quotas([counts[label] for label in order], first)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label, quota in zip(order, quotas, strict=True):
        pool = list(by_label[label])
        rng.shuffle(pool)
        taken = 0
        for members in pool:
            if taken >= quota:
                break
            chosen.update(members)
            taken += len(members)
    return _parts(examples, chosen)


def _parts(examples: Sequence[Example], chosen: set[int]) -> tuple[list[Example], list[Example]]:
    """The ``chosen`` examples and the others, each in the original order."""
    first = [ex for i, ex in enumerate(examples) if i in chosen]
    return first, [ex for i, ex in enumerate(examples) if i not in chosen]


def _quotas(counts: list[int], first: int) -> list[int]:
    """Largest-remainder shares of ``first``; every class gets at least one when there is room for it."""
    total = sum(counts)
    exact = [first * c / total for c in counts]
    quotas = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(exact[i] - quotas[i]), i))
    for i in by_remainder[: first - sum(quotas)]:
        quotas[i] += 1
    if first >= len(counts):
        for i, q in enumerate(quotas):
            if q == 0:
                quotas[i] = 1
                quotas[max(range(len(quotas)), key=lambda j: quotas[j])] -= 1
    return quotas


def normalised(text: str) -> str:
    """Lower case with runs of white space made one space: the form texts are compared in."""
    return " ".join(text.lower().split())


def _key(ex: Example) -> tuple[str, str | None]:
    return normalised(ex.text), None if ex.text_b is None else normalised(ex.text_b)


def _validated(model: type[Columns], data: Any) -> Any:
    if isinstance(data, model):
        return data
    if isinstance(data, Columns):
        data = data.model_dump(include=set(Columns.model_fields))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "data source"
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown key {where!r} in the data source; remove it or check its spelling") from None
        value = err.get("input")
        got = f" (got {value!r})" if isinstance(value, (int, float, str)) and len(repr(value)) < 60 else ""
        raise ConfigError(f"data source {where}: {err['msg'].removeprefix('Value error, ')}{got}; fix it") from None


def _check_pair(cols: Columns, pair: bool) -> None:
    if pair and cols.text_b is None:
        raise DataError(
            "a pair task needs the column with the second text; set text_b in the data source "
            "(and text for the first), e.g. text: text_a, text_b: text_b"
        )


def _examples(table: Table, cols: Columns, labels: list[str], pair: bool, prefix: str) -> list[Example]:
    if not table.rows:
        raise DataError(f"{table.name} has no rows; give a file with labelled examples")
    needed = [cols.text, *([cols.text_b] if pair and cols.text_b is not None else []), cols.label]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(
            f"{table.name} has no column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(table.columns) or 'none'}); set text / text_b / label to the right column names"
        )
    text_cols = needed[:-1]
    empty = [i for i, row in enumerate(table.rows) if any(_is_missing(row.get(c)) for c in text_cols)]
    if empty:
        raise DataError(
            f"{table.name} has empty text in row(s) {_few(empty)} (counting from 0); fill in or remove those rows"
        )
    names = _label_names(table, cols, labels)
    return [
        Example(
            text=str(row[cols.text]),
            label=names[i],
            text_b=str(row[cols.text_b]) if pair and cols.text_b else None,
            uid=f"{prefix}:{i}",
        )
        for i, row in enumerate(table.rows)
    ]


def _label_names(table: Table, cols: Columns, labels: list[str]) -> list[str]:
    """The task label name of every row; raises DataError naming the values it cannot map."""
    raw = [row.get(cols.label) for row in table.rows]
    unlabelled = [i for i, v in enumerate(raw) if _is_missing(v)]
    if unlabelled:
        raise DataError(
            f"{table.name} has no label in row(s) {_few(unlabelled)} (counting from 0); label or remove them"
        )
    keys = [raw_key(v) for v in raw]
    mapping = {k: _map_label(k, cols.label_map, labels, table.name) for k in dict.fromkeys(keys)}
    unknown = [k for k, name in mapping.items() if name is None]
    if unknown:
        raise DataError(
            f"{table.name} has label value(s) {_few(unknown)} that are not task labels ({', '.join(labels)}); "
            "add a label_map from raw values to label names"
        )
    return [mapping[k] for k in keys]  # type: ignore[misc]


def _map_label(key: str, label_map: dict[str, str] | None, labels: list[str], name: str) -> str | None:
    if label_map and key in label_map:
        target = label_map[key]
        if target not in labels:
            raise DataError(f"label_map maps {key!r} to {target!r}, which is not a task label; use one of {labels}")
        return target
    if key in labels:
        return key
    folded = {label.lower(): label for label in labels}
    if key.lower() in folded:
        return folded[key.lower()]
    if _INT.fullmatch(key):
        index = int(key)
        if not 0 <= index < len(labels):
            raise DataError(
                f"{name} has label {index}, out of range for {len(labels)} labels (0..{len(labels) - 1} = "
                f"{', '.join(labels)}); fix the label or add a label_map"
            )
        return labels[index]
    return None


def _is_missing(value: Any) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _few(items: Sequence[Any]) -> str:
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
