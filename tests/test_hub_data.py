"""The built-in data from the local folder, or from the Hugging Face Hub where there is none (Hub faked offline)."""

from __future__ import annotations

import json
import os

import datasets
import pytest
from conftest import needs_data

from s3_magic import hub_data
from s3_magic.data_sources import DATA_ENV
from s3_magic.engine.context import load_task_data
from s3_magic.errors import ConfigError, DataError
from s3_magic.task import load_task


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


class FakeHub:
    """``datasets.load_dataset`` answering from in-memory tables, recording what was asked."""

    def __init__(self, tables):
        self.tables, self.calls = tables, []

    def __call__(self, name, config=None, split=None, **kwargs):
        self.calls.append((name, config, split))
        if (name, config, split) not in self.tables:
            raise FileNotFoundError(f"Dataset {name!r} doesn't exist on the Hub")
        return datasets.Dataset.from_list(self.tables[name, config, split])


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """A machine without the shared data folder (cwd outside it, no S3_MAGIC_DATA), cache in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ENV, "unset")  # so the data folder that ensure_data sets is undone after the test
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.setenv("S3_MAGIC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"


def hub_sst2(rows):
    """SST-2 rows as the Hub has them: ``idx``, ``sentence`` with GLUE's trailing space, integer labels."""
    return [{"idx": i, "sentence": r["text"] + " ", "label": ["negative", "positive"].index(r["label"])}
            for i, r in enumerate(rows)]  # fmt: skip


def test_local_data_is_used_without_the_hub(monkeypatch):
    data = needs_data()
    monkeypatch.setenv(DATA_ENV, str(data))
    hub = FakeHub({})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert hub_data.ensure_data("sst2/dev.jsonl", "rte/train.jsonl", log=None) == data
    assert hub.calls == [] and hub_data.local_root() == data


def test_without_local_data_the_hub_copy_has_the_local_form(no_local_data, monkeypatch):
    local = read_jsonl(needs_data() / "sst2" / "dev.jsonl")
    hub = FakeHub({("stanfordnlp/sst2", None, "validation"): hub_sst2(local)})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    logged = []
    root = hub_data.ensure_data("sst2/dev.jsonl", log=logged.append)
    assert root == no_local_data and hub.calls == [("stanfordnlp/sst2", None, "validation")]
    assert read_jsonl(root / "sst2" / "dev.jsonl") == local, "same rows, columns, label names and order"
    assert any("Hugging Face Hub" in m for m in logged)
    assert os.environ[DATA_ENV] == str(root)
    task = load_task_data(load_task("sst2"))
    sizes = (len(task.validation), len(task.check), len(task.test))
    assert sizes == (150, 50, 672), "the built-in task reads the Hub copy unchanged"
    assert hub_data.ensure_data("sst2/dev.jsonl", log=None) == root and len(hub.calls) == 1, "read once, then cached"


def test_pair_data_is_renamed_and_unlabelled_rows_dropped(no_local_data, monkeypatch):
    rows = [
        {"sentence1": "A man sleeps.", "sentence2": "Someone sleeps.", "label": 0, "idx": 0},
        {"sentence1": "It rains.", "sentence2": "The sun shines.", "label": 1, "idx": 1},
        {"sentence1": "Test row.", "sentence2": "No label.", "label": -1, "idx": 2},
    ]
    monkeypatch.setattr(datasets, "load_dataset", FakeHub({("nyu-mll/glue", "rte", "validation"): rows}))
    root = hub_data.ensure_data("rte/dev.jsonl", log=None)
    assert read_jsonl(root / "rte" / "dev.jsonl") == [
        {"text_a": "A man sleeps.", "text_b": "Someone sleeps.", "idx": 0, "label": "entailment"},
        {"text_a": "It rains.", "text_b": "The sun shines.", "idx": 1, "label": "not_entailment"},
    ]


def test_hub_failures_are_one_line_errors_and_write_nothing(no_local_data, monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", FakeHub({}))
    with pytest.raises(DataError, match="stanfordnlp/sst2") as err:
        hub_data.ensure_data("sst2/dev.jsonl", log=None)
    assert "\n" not in str(err.value)
    assert not [p for p in no_local_data.rglob("*") if p.is_file()], "no file, not even a partial one"

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="could not be reached"):
        hub_data.ensure_data("rte/train.jsonl", log=None)
    with pytest.raises(ConfigError, match=r"sst2/dev\.jsonl"):
        hub_data.ensure_data("sst2/validation.csv", log=None)


def test_a_sample_is_label_balanced_and_keeps_the_hub_order(no_local_data, monkeypatch):
    rows = [{"text": f"review {i}", "label": i % 3 == 0} for i in range(300)]
    rows = [{**r, "label": int(r["label"])} for r in rows]
    src = hub_data.HubFile("some/imdb", "train", {"text": "text"}, ("negative", "positive"), sample=50, seed=1)
    monkeypatch.setattr(datasets, "load_dataset", FakeHub({("some/imdb", None, "train"): rows}))
    got = hub_data.hub_rows(src)
    assert [r["label"] for r in got].count("positive") == 25 == [r["label"] for r in got].count("negative")
    ids = [int(r["text"].split()[1]) for r in got]
    assert ids == sorted(ids) and got == hub_data.hub_rows(src), "a fixed sample in the Hub's order"


def test_squad_half_is_its_articles_of_the_hub_dev_set_with_spans_intact(no_local_data, monkeypatch):
    local = read_jsonl(needs_data() / "squad" / "dev_half.jsonl")
    other = {**local[0], "id": "x1", "title": "Kenya", "question": "Where is Kenya? "}
    hub_rows = [local[0], other, *local[1:]]
    hub = FakeHub({("rajpurkar/squad", None, "validation"): hub_rows})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    root = hub_data.ensure_data("squad/dev_half.jsonl", log=None)
    assert read_jsonl(root / "squad" / "dev_half.jsonl") == local, "the 24 articles' questions, unchanged, in order"
    task = load_task("squad")
    data = load_task_data(task).qa
    assert data is not None and len(data.validation) + len(data.check) == task.qa.validation
    ex = data.test[0]
    assert ex.context[ex.answer.start :].startswith(ex.answer.text), "no text was stripped under its spans"


def test_the_data_command_reads_named_sets_once_and_later_runs_find_them(no_local_data, monkeypatch, capsys):
    from s3_magic.cli import main
    from s3_magic.data_sources import data_root

    with pytest.raises(DataError, match="run s3-magic data") as err:
        data_root()
    assert "\n" not in str(err.value)
    rows = [{"sentence1": "It rains.", "sentence2": "The sun shines.", "label": 1, "idx": 0}]
    hub = FakeHub({("nyu-mll/glue", "rte", split): rows for split in ("train", "validation")})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert main(["data", "rte"]) == 0
    assert sorted(p.name for p in (no_local_data / "rte").iterdir()) == ["dev.jsonl", "train.jsonl"]
    assert [call[0] for call in hub.calls] == ["nyu-mll/glue"] * 2, "only the named set"
    monkeypatch.delenv(DATA_ENV)
    assert data_root() == no_local_data, "a new process finds the Hub copies without S3_MAGIC_DATA"
    with pytest.raises(ConfigError, match="'nope'; use one of imdb, rte, squad, sst2"):
        hub_data.data_files(["rte", "nope"])
    assert main(["data", "nope"]) != 0
    assert "error: no built-in data set 'nope'" in capsys.readouterr().err
