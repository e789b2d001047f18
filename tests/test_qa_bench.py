"""The QA benchmark (``s3-magic bench --task squad``): the arms' tasks, the report, and a tiny run with the real
embedded models."""

from __future__ import annotations

import json

import pytest
from conftest import needs_data

from s3_magic.errors import ConfigError

bench_qa = pytest.importorskip("s3_magic_bench.qa")


def test_each_arm_runs_the_squad_task_split_by_the_seed():
    needs_data()
    protocol = bench_qa.QA_PROFILES["quick"]
    gold = bench_qa.qa_arm_task(protocol, "gold_val", seed=2)
    s3 = bench_qa.qa_arm_task(protocol, "s3", seed=2)
    zerogen = bench_qa.qa_arm_task(protocol, "zerogen", seed=2, zerogen_examples=77)
    assert (gold.method, gold.check.fraction) == ("gold", 0.0)
    assert s3.method == "s3" and s3.check.fraction == 0.25 and s3.sizes.rounds == protocol.rounds
    assert (zerogen.method, zerogen.sizes.zerogen_accepted, zerogen.sizes.rounds) == ("zerogen", 77, 0)
    for task in (gold, s3, zerogen):
        assert task.kind == "qa" and task.qa.split_seed == 2 and task.seed == 2
        assert task.qa.validation == protocol.validation and task.qa.test == protocol.test
        assert task.filters.reject_test_copies is False, "no step reads the test questions"
    with pytest.raises(ConfigError, match="needs the S3 arm's final training-set size"):
        bench_qa.qa_arm_task(protocol, "zerogen", seed=0)


def arm(name: str, f1: float, em: float, seed: int = 0) -> dict:
    rounds = [{"round": r, "seconds": 100.0 + 150 * r, "val_f1": f1 + 0.1, "check_f1": f1 + 0.02, "test_f1": f1}
              for r in range(2)] if name in ("s3", "zerogen") else []  # fmt: skip
    return {"arm": name, "seed": seed, "test_f1": f1, "test_em": em, "check_f1": f1, "n_train": 100, "seconds": 10.0,
            "prompt_tokens": 1000, "completion_tokens": 100, "completion_tok_s": 50.0, "cost_usd": 0.25 * seed,
            "rounds": rounds}  # fmt: skip


def test_the_report_gives_mean_and_std_over_seeds_and_the_target_gaps():
    arms = {
        "gold_val": [arm("gold_val", 0.30, 0.20), arm("gold_val", 0.34, 0.22, seed=1)],
        "s3": [arm("s3", 0.20, 0.10), arm("s3", 0.24, 0.12, seed=1)],
        "zerogen": [arm("zerogen", 0.10, 0.05), arm("zerogen", 0.12, 0.07, seed=1)],
        "final": [arm("final", 0.36, 0.25), arm("final", 0.38, 0.27, seed=1)],
    }
    arms["final"][0].update(round=1, recipe="joint", candidates=[{"recipe": "joint", "check_f1": 0.4, "test_f1": 0.3}])
    summary = {name: bench_qa.summarize(rows) for name, rows in arms.items()}
    assert summary["s3"]["test_f1"]["mean"] == pytest.approx(0.22)
    assert summary["s3"]["test_f1"]["std"] == pytest.approx(0.0283, abs=1e-4)
    results = {"protocol": bench_qa.QA_PROFILES["full"].describe(), "seeds": [0, 1], "arms": arms, "summary": summary}
    text = bench_qa.qa_markdown(results)
    assert "| S3-QA | 11.0 ± 1.4 | 22.0 ± 2.8 |" in text and "| 0.12 ± 0.18 |" in text, "dollars per arm"
    assert "- S3-QA − ZeroGen-QA: +11.0 ± 1.4 (target ≥ +5: met; by seed +10.0, +12.0)" in text
    assert "- Final − Gold-val: +5.0 ± 1.4 (target ≥ +3: met; by seed +6.0, +4.0)" in text
    assert "- S3-QA: validation − test +10.0 ± 0.0; check − test +2.0 ± 0.0 (4 points)" in text
    assert "longest 250 s (target ≤ 300 s: met)" in text
    assert "- seed 0: round 1, `joint` (check / test F1: joint 40.0 / 30.0)" in text


@pytest.mark.slow
def test_tiny_qa_benchmark_end_to_end_with_the_real_models(tmp_path):
    needs_data()
    protocol = bench_qa.QA_PROFILES["tiny"]
    _, paths = bench_qa.run_qa_benchmark(protocol, out=tmp_path / "out", runs=tmp_path / "runs", echo=print)
    stored = json.loads(paths["json"].read_text())
    assert set(stored["arms"]) == {"gold_val", "s3", "zerogen", "final"}
    s3, zerogen = stored["arms"]["s3"][0], stored["arms"]["zerogen"][0]
    assert [r["round"] for r in s3["rounds"]] == [0, 1] and s3["completion_tokens"] > 0
    assert zerogen["n_train"] <= s3["n_train"], "ZeroGen-QA writes up to S3-QA's size"
    for rows in stored["arms"].values():
        assert 0.0 <= rows[0]["test_f1"] <= 1.0
    assert stored["arms"]["final"][0]["recipe"] in ("real", "joint", "weighted")
    assert "S3-QA − ZeroGen-QA" in paths["markdown"].read_text()
