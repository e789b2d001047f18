"""The built-in tasks' data files: the local data folder where there is one, else the same data sets from
the Hugging Face Hub.

The built-in tasks read files such as ``${S3_MAGIC_DATA}/sst2/dev.jsonl``. On a machine without that folder
(Binder, a laptop), :func:`ensure_data` downloads the same data sets from the Hub once, writes them in the
same JSONL form (same columns, label names instead of numbers) under the user cache, and points
``S3_MAGIC_DATA`` there, so tasks, notebooks and the command line read them unchanged.

>>> from s3_magic.hub_data import ensure_data          # doctest: +SKIP
>>> ensure_data("sst2/dev.jsonl")                      # doctest: +SKIP
PosixPath('/work/shared/data')
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3_magic.atomic import staged
from s3_magic.data_sources import DATA_ENV, DataSource, data_root, hub_copies, read_source
from s3_magic.errors import ConfigError, DataError


@dataclass(frozen=True)
class HubFile:
    """Where a local data file's rows come from on the Hub, and how its columns and labels map."""

    hub: str
    split: str
    #: Hub column -> local column (columns not named are dropped)
    columns: dict[str, str]
    #: label names by the Hub's integer label (0, 1, ...); empty for data without labels (question answering)
    labels: tuple[str, ...]
    config: str | None = None
    #: keep only the rows of these articles (the ``title`` column), in the Hub's order
    titles: tuple[str, ...] = ()
    #: strip outer spaces from texts (not where answer spans are character offsets into them)
    strip: bool = True
    #: keep a label-balanced sample of this many rows (random.Random(seed)), in the Hub's order
    sample: int | None = None
    seed: int = 42
    #: how the Hub copy differs from the local file, if it does
    note: str = ""


SST2 = ("negative", "positive")
RTE = ("entailment", "not_entailment")
RTE_COLUMNS = {"sentence1": "text_a", "sentence2": "text_b", "idx": "idx"}
SQUAD_COLUMNS = {name: name for name in ("id", "title", "context", "question", "answers")}
#: the 24 articles of ``squad/dev_half.jsonl``: the first of the two article-level halves of SQuAD v1.1 dev
SQUAD_DEV_HALF = (
    "Super_Bowl_50", "Warsaw", "Teacher", "Victoria_(Australia)", "Oxygen", "1973_oil_crisis", "Apollo_program",
    "European_Union_law", "Packet_switching", "Black_Death", "Geology", "Newcastle_upon_Tyne", "Genghis_Khan",
    "Immune_system", "Civil_disobedience", "Construction", "Harvard_University", "Jacksonville,_Florida",
    "University_of_Chicago", "Prime_number", "Islamism", "Imperialism", "French_and_Indian_War", "Force",
)  # fmt: skip

#: local file (relative to the data folder) -> its Hub source
HUB_FILES: dict[str, HubFile] = {
    "sst2/dev.jsonl": HubFile("stanfordnlp/sst2", "validation", {"sentence": "text"}, SST2),
    "sst2/train.jsonl": HubFile(
        "stanfordnlp/sst2", "train", {"sentence": "text"}, SST2, note="the Hub's row order differs from the local file"
    ),
    "rte/train.jsonl": HubFile("nyu-mll/glue", "train", RTE_COLUMNS, RTE, config="rte"),
    "rte/dev.jsonl": HubFile("nyu-mll/glue", "validation", RTE_COLUMNS, RTE, config="rte"),
    "imdb/test.jsonl": HubFile("stanfordnlp/imdb", "test", {"text": "text"}, SST2),
    "imdb/train_sample5000_seed42.jsonl": HubFile(
        "stanfordnlp/imdb", "train", {"text": "text"}, SST2, sample=5000, note="a different sample of 5,000"
    ),
    "squad/dev_half.jsonl": HubFile(
        "rajpurkar/squad", "validation", SQUAD_COLUMNS, (), titles=SQUAD_DEV_HALF, strip=False
    ),
}


#: where Hub copies are written: the folder :func:`~s3_magic.data_sources.data_root` falls back to
hub_cache = hub_copies


def data_files(sets: Sequence[str] = ()) -> list[str]:
    """The data files of the named data sets (``sst2``, ``rte``, ``imdb``, ``squad``; all when none is named)."""
    known = sorted({name.split("/")[0] for name in HUB_FILES})
    unknown = [s for s in sets if s not in known]
    if unknown:
        raise ConfigError(f"no built-in data set {', '.join(map(repr, unknown))}; use one of {', '.join(known)}")
    return [name for name in HUB_FILES if not sets or name.split("/")[0] in sets]


def local_root() -> Path | None:
    """The local data folder (``$S3_MAGIC_DATA`` or a ``shared/data`` above the cwd), or None when there is none."""
    try:
        return data_root()
    except DataError:
        return None


def ensure_data(*files: str, cache: str | Path | None = None, log: Callable[[str], None] | None = print) -> Path:
    """The folder that holds every file in ``files`` (e.g. ``"sst2/dev.jsonl"``); ``S3_MAGIC_DATA`` is set to it.

    The local data folder is used when it has them all; otherwise the files are read from the Hugging Face
    Hub (once) into ``cache`` (default :func:`hub_cache`).
    """
    unknown = [f for f in files if f not in HUB_FILES]
    if unknown:
        raise ConfigError(f"no Hub source known for {', '.join(unknown)}; use one of {', '.join(HUB_FILES)}")
    root = local_root()
    if root is None or not all((root / f).is_file() for f in files):
        root = Path(cache).expanduser() if cache is not None else hub_cache()
        for name in files:
            if not (root / name).is_file():
                src = HUB_FILES[name]
                if log:
                    log(f"reading {name} from the Hugging Face Hub ({src.hub}{'; ' + src.note if src.note else ''})")
                write_jsonl(root / name, hub_rows(src))
    os.environ[DATA_ENV] = str(root)
    if log:
        log(f"data folder: {root}")
    return root


def hub_rows(src: HubFile) -> list[dict[str, Any]]:
    """The Hub data set's rows in the local form: renamed columns, label names, texts without outer spaces
    (unless ``src.strip`` is off), only ``src.titles``' articles when given."""
    table = read_source(DataSource(hub=src.hub, config=src.config, split=src.split))
    needed = [*src.columns, *(["label"] if src.labels else []), *(["title"] if src.titles else [])]
    missing = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if missing:
        raise DataError(f"{table.name} has no column(s) {', '.join(missing)}; the Hub data set has changed")
    titles = set(src.titles)
    rows = []
    for raw in table.rows:
        if titles and raw["title"] not in titles:
            continue
        row = {new: _clean(raw[old]) if src.strip else raw[old] for old, new in src.columns.items()}
        if src.labels:
            label = raw["label"]
            if not isinstance(label, int) or not 0 <= label < len(src.labels):
                continue  # unlabelled rows (GLUE test splits use -1)
            row["label"] = src.labels[label]
        rows.append(row)
    if src.sample is not None and src.sample < len(rows):
        rows = _balanced_sample(rows, src.sample, src.seed)
    if not rows:
        raise DataError(f"{table.name} has no {'labelled ' if src.labels else ''}rows; check the split")
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as JSONL; the file appears whole or not at all."""
    with staged(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _balanced_sample(rows: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["label"], []).append(i)
    rng, keep = random.Random(seed), set()
    share = n // len(by_label)
    for label in sorted(by_label):
        idx = by_label[label]
        keep.update(rng.sample(idx, min(share, len(idx))))
    return [row for i, row in enumerate(rows) if i in keep]
