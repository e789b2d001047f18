"""The data samples a benchmark task with its own test file (IMDb) cannot express as a plain data source.

Two samples are written as JSONL files into the benchmark's run folder, once, and the arms' tasks point at them:

* the **fixed test sample** (``test-<n>-seed<t>.jsonl``): a sample of ``n`` reviews of the task's test file,
  stratified by the file's label shares (IMDb: 1,000 negative and 1,000 positive), drawn with the task's fixed test
  seed ``t`` (the same for every benchmark seed) from the test reviews whose text is not in the labelled pool, each
  text once (IMDb's test file repeats about 200 reviews, and 19 of its reviews are also in the train sample: left
  in, a seed's 200 labelled reviews could contain a test review);
* the **gold-large sample** of seed ``s`` (``seed<s>-gold_large-<n>-outside<v>.jsonl``): ``n`` pool reviews
  outside that seed's ``v`` labelled examples (by row and by text), stratified by the pool's label shares and
  drawn with seed ``s``.

The labelled examples themselves are a plain data source (the pool with ``limit`` and ``seed``), read by the engine
exactly as here. Each file is a function of the data files and the sizes only; one that exists is used as it is.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from s3_magic import ConfigError, Example, load_examples, normalised, write_atomic

if TYPE_CHECKING:
    from s3_magic_bench.protocol import Protocol


def _load(path: str, protocol: Protocol, limit: int | None = None, seed: int = 0, prefix: str = "val") -> list[Example]:
    from s3_magic_bench.protocol import base_task

    source: dict[str, object] = {"path": path}
    if limit is not None:
        source.update(limit=limit, seed=seed)
    return load_examples(source, labels=base_task(protocol).label_names, pair=False, prefix=prefix)


def labelled_examples(protocol: Protocol, seed: int) -> list[Example]:
    """Seed ``seed``'s real labelled examples, read as the engine reads the arms' validation source."""
    return _load(protocol.bench_task.pool, protocol, limit=protocol.validation, seed=seed)


def fixed_test_examples(protocol: Protocol) -> list[Example]:
    """The fixed test sample (see the module doc), in the test file's order."""
    task = protocol.bench_task
    size = protocol.test_size
    if task.test is None or size is None:
        raise ConfigError(f"the {task.title} benchmark splits its pool; it has no test file to sample")
    pool_texts = {normalised(e.text) for e in _load(task.pool, protocol)}
    every = _load(task.test, protocol, prefix="test")
    seen: set[str] = set()
    candidates = []
    for e in every:
        key = normalised(e.text)
        if key not in pool_texts and key not in seen:
            seen.add(key)
            candidates.append(e)
    return proportional_sample(candidates, Counter(e.label for e in every), size, task.test_seed, task.unit)


def proportional_sample(
    examples: list[Example], shares: Mapping[str, int], size: int, seed: int, unit: str = "examples"
) -> list[Example]:
    """``size`` of ``examples`` with each label's count proportional to ``shares`` (largest remainders, ties to
    the first label in sorted order), drawn with ``seed``; in the original order."""
    total = sum(shares.values())
    labels = sorted(shares)
    exact = {label: size * shares[label] / total for label in labels}
    quotas = {label: math.floor(exact[label]) for label in labels}
    for label in sorted(labels, key=lambda lab: -(exact[lab] - quotas[lab]))[: size - sum(quotas.values())]:
        quotas[label] += 1
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label in labels:
        members = [i for i, e in enumerate(examples) if e.label == label]
        if quotas[label] > len(members):
            raise ConfigError(f"the sample needs {quotas[label]} {label} {unit}; only {len(members)} can be used")
        chosen.update(rng.sample(members, quotas[label]))
    return [e for i, e in enumerate(examples) if i in chosen]


def gold_large_examples(protocol: Protocol, seed: int) -> list[Example]:
    """Seed ``seed``'s gold-large sample: pool examples outside the seed's labelled examples (see the module doc)."""
    task, size = protocol.bench_task, protocol.gold_large_size
    labelled = labelled_examples(protocol, seed)
    uids, texts = {e.uid for e in labelled}, {normalised(e.text) for e in labelled}
    pool = _load(task.pool, protocol)
    rest = [e for e in pool if e.uid not in uids and normalised(e.text) not in texts]
    if size > len(rest):
        raise ConfigError(
            f"gold-large needs {size} {task.unit} outside the {len(labelled)} labelled ones; the pool has {len(rest)}"
        )
    return proportional_sample(rest, Counter(e.label for e in pool), size, seed, task.unit)


def write_examples(path: Path, examples: list[Example]) -> Path:
    """JSONL with ``text``, ``label`` and ``row`` (the example's row in its source file), written atomically."""
    lines = [json.dumps({"text": e.text, "label": e.label, "row": int(e.uid.rsplit(":", 1)[1])}) for e in examples]
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def fixed_test_file(protocol: Protocol, data_dir: Path) -> Path:
    """The fixed test sample's file in ``data_dir``, written on first use."""
    task = protocol.bench_task
    path = Path(data_dir) / f"test-{protocol.test_size}-seed{task.test_seed}.jsonl"
    return path if path.is_file() else write_examples(path, fixed_test_examples(protocol))


def pool_gold_file(protocol: Protocol, seed: int, data_dir: Path) -> Path:
    """Seed ``seed``'s gold-large file in ``data_dir``, written on first use."""
    name = f"seed{seed}-gold_large-{protocol.gold_large_size}-outside{protocol.validation}.jsonl"
    path = Path(data_dir) / name
    return path if path.is_file() else write_examples(path, gold_large_examples(protocol, seed))
