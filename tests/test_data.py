"""Loading labelled data into Example records, and the checks on validation / test sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from s3_magic.data import (
    Columns,
    DataSource,
    check_disjoint,
    check_labelled_set,
    data_root,
    expand_path,
    load_examples,
    stratified_split,
)
from s3_magic.errors import ConfigError, DataError
from s3_magic.example import Example

SENT = ["negative", "positive"]
RTE = ["entailment", "not_entailment"]
SHARED = Path(os.environ.get("S3_MAGIC_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_shared = pytest.mark.skipif(not (SHARED / "sst2" / "dev.jsonl").is_file(), reason="shared data not found")

ROWS = [
    {"text": "a great film", "label": "positive"},
    {"text": "dull and slow", "label": "negative"},
    {"text": "loved it", "label": "positive"},
    {"text": "a waste of time", "label": "negative"},
]


def load(source, **kw):
    kw.setdefault("labels", SENT)
    kw.setdefault("pair", False)
    kw.setdefault("prefix", "val")
    return load_examples(source, **kw)


def one_line_error(exc_type, fn, *needles: str) -> str:
    """Run ``fn``; it must raise ``exc_type`` with a one-line message containing every needle."""
    with pytest.raises(exc_type) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg and msg.strip(), msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- the real shared data ------------------------------------------------------------------------------


@needs_shared
def test_sst2_dev() -> None:
    examples = load(SHARED / "sst2" / "dev.jsonl")
    assert len(examples) == 872
    assert Counter(ex.label for ex in examples) == {"negative": 428, "positive": 444}
    assert examples[0] == Example("it 's a charming and often affecting journey .", "positive", None, "val:0")
    assert [ex.uid for ex in examples[:3]] == ["val:0", "val:1", "val:2"]
    assert not any(ex.is_pair for ex in examples)


@needs_shared
def test_rte_dev_pairs() -> None:
    src = DataSource(path=str(SHARED / "rte" / "dev.jsonl"), text="text_a", text_b="text_b")
    examples = load_examples(src, labels=RTE, pair=True, prefix="rte")
    assert len(examples) == 277
    assert Counter(ex.label for ex in examples) == {"entailment": 146, "not_entailment": 131}
    first = examples[0]
    assert first.text.startswith("Dana Reeve") and first.text_b == "Christopher Reeve had an accident."
    assert first.label == "not_entailment" and first.uid == "rte:0"


@needs_shared
def test_sst2_dev_split_200_and_672() -> None:
    examples = load(SHARED / "sst2" / "dev.jsonl")
    val, test = stratified_split(examples, 200, seed=0)
    assert (len(val), len(test)) == (200, 672)
    assert Counter(ex.label for ex in val) == {"negative": 98, "positive": 102}  # 200 * 428/872 = 98.2
    assert Counter(ex.label for ex in test) == {"negative": 330, "positive": 342}
    check_labelled_set(val, SENT)
    check_disjoint(val, test)
    for part in (val, test):  # original order kept
        idx = [int(ex.uid.split(":")[1]) for ex in part]
        assert idx == sorted(idx)
    assert {ex.uid for ex in val} | {ex.uid for ex in test} == {ex.uid for ex in examples}
    again, _ = stratified_split(examples, 200, seed=0)
    other, _ = stratified_split(examples, 200, seed=1)
    assert again == val and other != val


@needs_shared
def test_env_var_path_and_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_MAGIC_DATA", str(SHARED))
    src = {"path": "${S3_MAGIC_DATA}/sst2/dev.jsonl", "limit": 100, "seed": 3}
    sample = load(src)
    assert len(sample) == 100
    assert Counter(ex.label for ex in sample) == {"negative": 49, "positive": 51}
    full = {ex.uid: ex for ex in load(SHARED / "sst2" / "dev.jsonl")}
    assert all(full[ex.uid] == ex for ex in sample)  # uids are rows of the original file
    assert load(src) == sample
    assert load({**src, "seed": 4}) != sample


def test_data_root_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shared" / "data" / "toy").mkdir(parents=True)
    write_jsonl(tmp_path / "shared" / "data" / "toy" / "dev.jsonl", ROWS)
    deep = tmp_path / "project" / "notebooks"
    deep.mkdir(parents=True)
    monkeypatch.delenv("S3_MAGIC_DATA", raising=False)
    monkeypatch.chdir(deep)
    assert data_root() == (tmp_path / "shared" / "data").resolve()
    assert len(load("${S3_MAGIC_DATA}/toy/dev.jsonl")) == 4
    monkeypatch.setenv("S3_MAGIC_DATA", str(tmp_path / "elsewhere"))
    assert data_root() == tmp_path / "elsewhere"


def test_data_root_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if any((p / "shared" / "data").is_dir() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("a shared/data folder exists above the temporary folder")
    monkeypatch.delenv("S3_MAGIC_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    one_line_error(DataError, data_root, "set S3_MAGIC_DATA")
    one_line_error(DataError, lambda: load("${S3_MAGIC_DATA}/x.jsonl"), "set S3_MAGIC_DATA")


def test_expand_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3M_DIR", "/data/here")
    monkeypatch.delenv("S3M_UNSET", raising=False)
    assert expand_path("${S3M_DIR}/a.jsonl") == "/data/here/a.jsonl"
    assert expand_path("${S3M_UNSET:-/fallback}/a.jsonl") == "/fallback/a.jsonl"
    assert expand_path("${S3M_DIR:-/fallback}/a.jsonl") == "/data/here/a.jsonl"
    assert expand_path("~/a.jsonl") == str(Path.home() / "a.jsonl")
    one_line_error(DataError, lambda: expand_path("${S3M_UNSET}/a.jsonl"), "S3M_UNSET", "set it")


# -- file formats ---------------------------------------------------------------------------------------


def test_csv_tsv_json_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text('text,label\n"a great film, really",positive\ndull,negative\n', encoding="utf-8")
    (tmp_path / "d.tsv").write_text("sentence\ty\na great film\t1\ndull\t0\n", encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps(ROWS), encoding="utf-8")
    csv_ex = load("d.csv", base_dir=tmp_path)
    assert [(ex.text, ex.label) for ex in csv_ex] == [("a great film, really", "positive"), ("dull", "negative")]
    tsv_ex = load({"path": "d.tsv", "text": "sentence", "label": "y"}, base_dir=tmp_path)
    assert [(ex.text, ex.label) for ex in tsv_ex] == [("a great film", "positive"), ("dull", "negative")]
    json_ex = load(tmp_path / "d.json", prefix="gold")
    assert [ex.label for ex in json_ex] == [r["label"] for r in ROWS] and json_ex[3].uid == "gold:3"


def test_format_override_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n\n" for r in ROWS).encode())
    examples = load({"path": str(path), "format": "jsonl"})
    assert [ex.text for ex in examples] == [r["text"] for r in ROWS]


def test_parquet_and_saved_dataset(tmp_path: Path) -> None:
    import datasets
    import pandas as pd

    frame = pd.DataFrame({"review": [r["text"] for r in ROWS], "label": [SENT.index(r["label"]) for r in ROWS]})
    frame.to_parquet(tmp_path / "d.parquet")
    pq = load(tmp_path / "d.parquet", spec={"text": "review"})
    assert [ex.label for ex in pq] == [r["label"] for r in ROWS] and pq[0].text == "a great film"

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    assert [ex.label for ex in load(tmp_path / "saved")] == [r["label"] for r in ROWS]

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:1]), "dev": datasets.Dataset.from_list(ROWS)})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert len(load({"path": str(tmp_path / "dd"), "split": "dev"})) == 4
    one_line_error(DataError, lambda: load({"path": str(tmp_path / "dd"), "split": "test"}), "split", "dev")


def test_in_memory_sources() -> None:
    import datasets
    import pandas as pd

    want = [(r["text"], r["label"]) for r in ROWS]
    for source in (ROWS, pd.DataFrame(ROWS), datasets.Dataset.from_list(ROWS)):
        examples = load(source, prefix="m")
        assert [(ex.text, ex.label) for ex in examples] == want
        assert [ex.uid for ex in examples] == ["m:0", "m:1", "m:2", "m:3"]
    pairs = [
        {"p": "A man sleeps.", "h": "A man is awake.", "gold": 1},
        {"p": "It rains.", "h": "It is wet.", "gold": 0},
    ]
    spec = Columns(text="p", text_b="h", label="gold")
    examples = load_examples(pd.DataFrame(pairs), labels=RTE, pair=True, prefix="p", spec=spec)
    assert examples[0] == Example("A man sleeps.", "not_entailment", "A man is awake.", "p:0")
    assert load(ROWS, spec={"limit": 2}) == load(ROWS, spec=Columns(limit=2))
    assert Counter(ex.label for ex in load(ROWS, spec={"limit": 2})) == {"negative": 1, "positive": 1}


def test_hub_source(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake_load(name, config=None, split=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_list([{"sentence": r["text"], "label": SENT.index(r["label"])} for r in ROWS])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    src = DataSource(hub="nyu-mll/glue", config="sst2", split="validation", text="sentence")
    assert [ex.label for ex in load(src)] == [r["label"] for r in ROWS]
    assert calls == [("nyu-mll/glue", "sst2", "validation")]

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    one_line_error(DataError, lambda: load(src), "could not be reached", "local path")


# -- labels ---------------------------------------------------------------------------------------------


def test_label_forms() -> None:
    def labels_of(values, **spec):
        rows = [{"text": f"t{i}", "label": v} for i, v in enumerate(values)]
        return [ex.label for ex in load(rows, spec=spec or None)]

    assert labels_of([0, 1, "1", "0"]) == ["negative", "positive", "positive", "negative"]
    assert labels_of(["Positive", "NEGATIVE"]) == ["positive", "negative"]
    assert labels_of([True, False]) == ["positive", "negative"]
    assert labels_of([1.0, 0.0]) == ["positive", "negative"]
    assert labels_of(["pos", "neg"], label_map={"pos": "positive", "neg": "negative"}) == ["positive", "negative"]
    # label_map keys may be ints (as YAML gives them); the map wins over the index rule
    assert labels_of([0, 1], label_map={0: "positive", 1: "negative"}) == ["positive", "negative"]


def test_label_errors() -> None:
    rows = [{"text": f"t{i}", "label": v} for i, v in enumerate(["pos", "neg", "positive", "meh"])]
    msg = one_line_error(DataError, lambda: load(rows), "'pos'", "'neg'", "'meh'", "negative, positive", "label_map")
    assert "'positive'" not in msg
    one_line_error(DataError, lambda: load([{"text": "t", "label": 2}]), "out of range", "label_map")
    one_line_error(DataError, lambda: load([{"text": "t", "label": -1}]), "out of range")
    bad_map = {"label_map": {"pos": "good"}}
    one_line_error(DataError, lambda: load([{"text": "t", "label": "pos"}], spec=bad_map), "'good'", "not a task label")
    unlabelled = [{"text": "a", "label": "positive"}, {"text": "b", "label": None}, {"text": "c", "label": ""}]
    one_line_error(DataError, lambda: load(unlabelled), "no label in row(s) 1, 2")


# -- errors ---------------------------------------------------------------------------------------------


def test_file_errors(tmp_path: Path) -> None:
    one_line_error(DataError, lambda: load(tmp_path / "nope.jsonl"), "nope.jsonl", "not found", "current folder")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé crème,positive\n".encode("latin-1"))
    one_line_error(DataError, lambda: load(latin), "latin.csv", "not UTF-8", "re-save it as UTF-8")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n{'text': oops}\n", encoding="utf-8")
    one_line_error(DataError, lambda: load(broken), "broken.jsonl", "line 3", "fix or remove")
    arrays = tmp_path / "arrays.jsonl"
    arrays.write_text("[1, 2]\n", encoding="utf-8")
    one_line_error(DataError, lambda: load(arrays), "line 1", "one {...} record per line")
    not_list = tmp_path / "obj.json"
    not_list.write_text('{"text": "a", "label": "positive"}', encoding="utf-8")
    one_line_error(DataError, lambda: load(not_list), "obj.json", "list of records")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"text": "a",\n "label": }]', encoding="utf-8")
    one_line_error(DataError, lambda: load(bad_json), "bad.json", "line 2")
    odd = tmp_path / "data.xlsx"
    odd.write_text("x", encoding="utf-8")
    one_line_error(DataError, lambda: load(odd), "data.xlsx", "set format")
    fake_pq = tmp_path / "fake.parquet"
    fake_pq.write_text("not parquet", encoding="utf-8")
    one_line_error(DataError, lambda: load(fake_pq), "fake.parquet", "Parquet")
    (tmp_path / "folder").mkdir()
    one_line_error(DataError, lambda: load(tmp_path / "folder"), "folder", "save_to_disk")


def test_column_and_row_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "cols.jsonl", [{"sentence": "a", "y": "positive"}])
    one_line_error(DataError, lambda: load(path), "cols.jsonl", "'text', 'label'", "found: sentence, y", "set text")
    one_line_error(DataError, lambda: load({"path": str(path), "text": "sentence", "label": "lab"}), "'lab'")
    empty_text = write_jsonl(tmp_path / "e.jsonl", [*ROWS, {"text": "  ", "label": "positive"}, {"label": "negative"}])
    one_line_error(DataError, lambda: load(empty_text), "e.jsonl", "empty text in row(s) 4, 5", "fill in or remove")
    pair_rows = [{"a": "x", "b": "", "label": 0}]
    one_line_error(
        DataError, lambda: load(pair_rows, labels=RTE, pair=True, spec={"text": "a", "text_b": "b"}), "row(s) 0"
    )
    one_line_error(DataError, lambda: load(ROWS, labels=RTE, pair=True), "pair task", "set text_b")
    one_line_error(DataError, lambda: load(path, labels=RTE, pair=True), "pair task", "set text_b")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    one_line_error(DataError, lambda: load(tmp_path / "empty.jsonl"), "empty.jsonl", "no rows")
    (tmp_path / "header.csv").write_text("text,label\n", encoding="utf-8")
    one_line_error(DataError, lambda: load(tmp_path / "header.csv"), "header.csv", "no rows")
    one_line_error(DataError, lambda: load([]), "no rows")
    one_line_error(DataError, lambda: load(42), "cannot load examples from int", "file path")


def test_data_source_validation() -> None:
    with pytest.raises(ValidationError, match="colour"):
        DataSource(path="a.jsonl", colour="red")
    for bad in ({}, {"path": "a.jsonl", "hub": "glue"}):
        with pytest.raises(ValidationError, match="exactly one of path"):
            DataSource(**bad)
    with pytest.raises(ValidationError, match="greater than 0"):
        DataSource(path="a.jsonl", limit=0)
    with pytest.raises(ValidationError, match="format"):
        DataSource(path="a.jsonl", format="xlsx")
    assert DataSource(path="a.jsonl", label_map={0: "neg", True: "pos"}).label_map == {"0": "neg", "1": "pos"}
    one_line_error(ConfigError, lambda: load({"path": "a.jsonl", "colour": "red"}), "'colour'", "remove it")
    one_line_error(ConfigError, lambda: load({"text": "t"}), "exactly one of path")
    one_line_error(ConfigError, lambda: load(ROWS, spec={"limit": -1}), "limit", "got -1", "fix it")


# -- set checks -----------------------------------------------------------------------------------------


def test_check_labelled_set() -> None:
    one_line_error(DataError, lambda: check_labelled_set([], SENT), "validation set is empty")
    only_pos = [Example("a", "positive", uid="v:0"), Example("b", "positive", uid="v:1")]
    one_line_error(
        DataError,
        lambda: check_labelled_set(only_pos, SENT, name="test"),
        "test set",
        "found only 'positive'",
        "negative",
    )
    check_labelled_set([*only_pos, Example("c", "negative")], SENT)


def test_check_disjoint() -> None:
    val = [Example("A  Great film", "positive"), Example("dull", "negative"), Example("p", "x", text_b="h1")]
    check_disjoint(val, [Example("another", "positive"), Example("p", "x", text_b="h2")])
    test = [Example("a great FILM ", "positive"), Example("dull", "negative"), Example("new", "negative")]
    one_line_error(DataError, lambda: check_disjoint(val, test), "2 test example(s)", "'a great FILM '", "remove")


def test_stratified_split_rules() -> None:
    examples = [Example(f"t{i}", "positive" if i % 10 else "negative", uid=f"u:{i}") for i in range(30)]
    first, rest = stratified_split(examples, 10, seed=5)
    assert Counter(ex.label for ex in first) == {"positive": 9, "negative": 1}  # 27:3 of 30
    assert len(rest) == 20 and not {ex.uid for ex in first} & {ex.uid for ex in rest}
    tiny, _ = stratified_split(examples, 2, seed=0)  # 1.8 : 0.2 rounds to 2:0, but both labels fit
    assert Counter(ex.label for ex in tiny) == {"positive": 1, "negative": 1}
    one_line_error(DataError, lambda: stratified_split(examples, 30, seed=0), "between 1 and 29")
    one_line_error(DataError, lambda: stratified_split(examples, 0, seed=0), "between 1 and 29")
    one_line_error(DataError, lambda: stratified_split(examples[:1], 1, seed=0), "at least 2")


def test_import_is_light() -> None:
    code = (
        "import sys, s3_magic.data, s3_magic.data_sources\n"
        "print(sorted(m for m in ('pandas', 'datasets', 'pyarrow', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
