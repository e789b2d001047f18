"""Where labelled data comes from: the :class:`DataSource` spec and readers that turn it into plain rows.

Only pydantic is imported here; pandas, pyarrow and datasets are imported inside the readers that need them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from s3_magic.errors import DataError

Format = Literal["jsonl", "json", "csv", "tsv", "parquet", "hf"]
FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "tsv", "parquet", "hf")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DATA_ENV = "S3_MAGIC_DATA"


class Columns(BaseModel):
    """Which columns hold the texts and the label, how raw labels map to label names, and sampling."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="text", min_length=1)
    #: the column with the second text of sentence-pair tasks (e.g. ``text_b`` in RTE)
    text_b: str | None = Field(default=None, min_length=1)
    label: str = Field(default="label", min_length=1)
    #: raw label value (as a string, so ``0`` is ``"0"``) -> task label name
    label_map: dict[str, str] | None = None
    #: keep a stratified sample of this many rows
    limit: int | None = Field(default=None, gt=0)
    seed: int = 0

    @field_validator("label_map", mode="before")
    @classmethod
    def _keys_as_strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {raw_key(k): str(val) for k, val in v.items()}
        return v


class _Origin(BaseModel):
    """Where the data is; ``split`` also picks a split of a saved ``DatasetDict`` folder."""

    model_config = ConfigDict(extra="forbid")

    #: JSONL, JSON, CSV, TSV, Parquet or a ``Dataset.save_to_disk`` folder; ``${VAR}``/``${VAR:-default}`` expand
    path: str | None = Field(default=None, min_length=1)
    hub: str | None = Field(default=None, min_length=1)
    config: str | None = None
    split: str = "train"
    format: Format | None = None


class DataSource(Columns, _Origin):
    """A labelled data set: a local file/folder (``path``) or a Hugging Face Hub data set (``hub``)."""

    @model_validator(mode="after")
    def _one_origin(self) -> DataSource:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of path (a local file) or hub (a Hugging Face dataset name)")
        return self


def raw_key(value: Any) -> str:
    """A raw label value as the string used for ``label_map`` keys: ints as digits, True/False as 1/0."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def data_root() -> Path:
    """``$S3_MAGIC_DATA`` if set, else the first ``shared/data`` folder found walking up from the cwd, else the
    Hub copies that ``s3-magic data`` wrote (:func:`hub_copies`), if there are any."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    copies = hub_copies()
    if any(copies.glob("*/*.jsonl")):
        return copies
    raise DataError(
        f"no shared/data folder found above {str(cwd)!r}; set {DATA_ENV} to the folder that holds the data, "
        "or run s3-magic data to read the built-in tasks' data sets from the Hugging Face Hub once"
    )


def hub_copies() -> Path:
    """Where the built-in tasks' data sets read from the Hub are kept: ``data`` under the user cache
    (``$S3_MAGIC_CACHE`` or ``~/.cache/s3_magic``)."""
    from s3_magic.llm.embedded import cache_root

    return cache_root() / "data"


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_path(path: str) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``~``; ``${S3_MAGIC_DATA}`` falls back to :func:`data_root`."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = os.environ.get(name)
        if default is not None and not value:
            return default
        if name == DATA_ENV and not value:
            return str(data_root())
        if value is None:
            raise DataError(f"path {path!r} uses ${{{name}}} but it is not set; set it or write ${{{name}:-default}}")
        return value

    return os.path.expanduser(_VAR.sub(sub, path))


@dataclass
class Table:
    """Rows read from a source, with its column names and a name for error messages."""

    rows: list[dict[str, Any]]
    columns: list[str]
    name: str
    #: the file line of each row, for files read line by line (JSONL); None elsewhere
    lines: list[int] | None = None

    def where(self, row: int) -> str:
        """Where row ``row`` is, for error messages: ``line 12`` in a JSONL file, else ``row 11 (counting from 0)``."""
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"row {row} (counting from 0)"


def read_source(source: DataSource, base_dir: Path | None = None) -> Table:
    """Read a DataSource's rows (file, saved folder or Hub)."""
    if source.hub is not None:
        return _read_hub(source)
    path = Path(expand_path(source.path or ""))
    start = "the task file's folder" if base_dir is not None else "the current folder"
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    name = repr(str(path))
    if not path.exists():
        raise DataError(f"data file {name} not found; check the path (relative paths start at {start})")
    fmt = source.format or ("hf" if path.is_dir() else _SUFFIXES.get(path.suffix.lower()))
    if fmt is None:
        raise DataError(f"cannot tell the format of {name} from its suffix; set format to one of {', '.join(FORMATS)}")
    if fmt == "hf":
        return _read_saved(path, source.split, name)
    if fmt == "parquet":
        return _read_parquet(path, name)
    text = _read_text(path, name)
    if fmt == "jsonl":
        rows, lines = _parse_jsonl(text, name)
        return _table(rows, name, lines)
    if fmt == "json":
        return _table(_parse_json(text, name), name)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    rows = list(reader)
    return Table(rows, list(reader.fieldnames or []), name)


def read_memory(obj: Any) -> Table | None:
    """Rows of a pandas DataFrame, a ``datasets.Dataset`` or a list of dicts; None for anything else."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, pd.DataFrame):
        return Table(obj.to_dict("records"), [str(c) for c in obj.columns], "the DataFrame")
    ds = sys.modules.get("datasets")
    if ds is not None and isinstance(obj, ds.Dataset):
        return Table(obj.to_list(), list(obj.column_names), "the Dataset")
    if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
        return _table(obj, "the list of records")
    return None


def _table(rows: list[dict[str, Any]], name: str, lines: list[int] | None = None) -> Table:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return Table(rows, list(columns), name, lines)


def _read_text(path: Path, name: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} is not UTF-8 text (bad byte at offset {exc.start}); re-save it as UTF-8") from None


def _parse_jsonl(text: str, name: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The records of a JSONL text and the line number (from 1) of each."""
    rows, lines = [], []
    # split on newlines only: str.splitlines also breaks at \x85 and \u2028, which real reviews contain
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name} line {n} is not valid JSON ({exc.msg}); fix or remove that line") from None
        if not isinstance(row, dict):
            raise DataError(f"{name} line {n} is not a JSON object; write one {{...}} record per line")
        rows.append(row)
        lines.append(n)
    return rows, lines


def _parse_json(text: str, name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}); fix the file") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{name} must hold a JSON list of records [{{...}}, ...]; or save it as JSONL")
    return data


def _read_parquet(path: Path, name: str) -> Table:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        kind = exc.__class__.__name__
        raise DataError(f"cannot read {name} as Parquet ({kind}); check the file or set format") from None
    return Table(frame.to_dict("records"), [str(c) for c in frame.columns], name)


def _read_saved(path: Path, split: str, name: str) -> Table:
    import datasets

    try:
        data = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(
            f"{name} is not a folder saved with Dataset.save_to_disk ({exc.__class__.__name__}); "
            "check the path or set format"
        ) from None
    return _dataset_table(data, split, name)


def _read_hub(source: DataSource) -> Table:
    import datasets

    name = f"Hub dataset {source.hub!r}"
    try:
        data = datasets.load_dataset(source.hub, source.config, split=source.split)
    except (ConnectionError, TimeoutError) as exc:
        raise DataError(
            f"the Hugging Face Hub could not be reached for {source.hub!r} ({exc.__class__.__name__}); "
            "download the data and give a local path instead"
        ) from None
    except (FileNotFoundError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
        raise DataError(f"cannot load {name} ({detail}); check hub, config and split, or use a local path") from None
    return _dataset_table(data, source.split, name)


def _dataset_table(data: Any, split: str, name: str) -> Table:
    if hasattr(data, "column_names") and isinstance(data.column_names, dict):  # a DatasetDict
        if split not in data:
            raise DataError(f"{name} has no split {split!r}; set split to one of {', '.join(data)}")
        data = data[split]
    return Table(data.to_list(), list(data.column_names), name)
