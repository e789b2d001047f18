"""The benchmark: protocol and arm tasks (SST-2 and IMDb), report/plot/statistics on synthetic results (check
accuracy, the estimate gaps, the quality targets), ZeroGen's size matching, the final arm, the test split's
report-only role, the CLI options, whole runs with the scripted LLM, and (slow) a tiny run with the real models."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time
from collections import Counter

import pytest
from conftest import DATA, NEGATIVE, POSITIVE, WORDS, fake_calls, needs_data, scripted_reply, sst2_task

from s3_magic import Round
from s3_magic.cli import main
from s3_magic.data import normalised
from s3_magic.engine.context import load_task_data
from s3_magic.engine.synthesize import build_deduper
from s3_magic.errors import ConfigError
from s3_magic.llm.base import Prompt
from s3_magic.llm.fake import FakeBackend
from s3_magic.session import Session
from s3_magic.task import TaskSpec
from s3_magic_bench.arms import arm_folder, check_same_task, generation_figures, run_arm
from s3_magic_bench.cli import add_bench_arguments, bench_protocol, cmd_bench
from s3_magic_bench.cli import main as bench_main
from s3_magic_bench.final import RESULT_FILE, run_final
from s3_magic_bench.plot import plot_png
from s3_magic_bench.protocol import (
    ARMS,
    EXTRA_ARMS,
    GOLD_ARMS,
    ORACLE_ARMS,
    ROUND_ARMS,
    arm_task,
    arm_title,
    get_protocol,
    parse_arms,
    parse_seeds,
)
from s3_magic_bench.report import (
    build_results,
    estimate_gaps,
    markdown,
    per_round,
    rounds_table,
    signed_gaps,
    std,
    summarise_arm,
    write_results,
)
from s3_magic_bench.runner import default_out, run_benchmark
from s3_magic_bench.speed import load_ext_seconds, round_seconds

PNG = b"\x89PNG\r\n\x1a\n"


# -- protocol -----------------------------------------------------------------------------------------------
def test_arm_tasks_follow_the_protocol():
    needs_data()
    p = get_protocol("full")
    assert p.seeds == (0, 1, 2) and p.validation == 200 and p.gold_large == 5000
    for seed in (0, 2):
        tasks = {arm: arm_task(p, arm, seed, zerogen_examples=123) for arm in ARMS if arm not in EXTRA_ARMS}
        for arm, task in tasks.items():
            assert task.split.validation == 200 and task.split.seed == seed and task.seed == seed
            assert task.check.fraction == (0.0 if arm in GOLD_ARMS else 0.25), "gold-val trains on all 200"
            if arm in ORACLE_ARMS:  # a simulation: real SST-2 train sentences, never the dev-split test examples
                assert task.llm.spec == "oracle:${S3_MAGIC_DATA}/sst2/train.jsonl", task.llm.spec
                assert task.llm.options["limit"] == 20_000 and task.llm.options["max_words"] == task.filters.max_words
            else:
                assert task.llm.spec == "local:embedded"
            assert task.llm.options["seed"] == seed
            assert (task.llm.temperature, task.llm.top_p) == (0.9, 0.95)
            assert task.filters.reject_test_copies is False
            assert task.student == tasks["s3"].student, "the same student recipe for every arm"
        assert tasks["s3"].method == "s3" and tasks["s3"].sizes.rationales_per_example > 0
        assert tasks["s3_no_rationales"].sizes.rationales_per_example == 0
        assert tasks["s3_no_rationales"].sizes.rounds == tasks["s3"].sizes.rounds
        assert tasks["zerogen"].method == "zerogen" and tasks["zerogen"].sizes.zerogen_accepted == 123
        assert tasks["s3_oracle"].method == "s3" and tasks["s3_oracle"].sizes == tasks["s3"].sizes
        assert tasks["zerogen_oracle"].sizes == tasks["zerogen"].sizes and tasks["zerogen_oracle"].method == "zerogen"
        assert tasks["gold_val"].method == "gold" and tasks["gold_val"].gold is None
        gold = tasks["gold_large"].gold
        assert gold.path.endswith("sst2/train.jsonl") and gold.limit == 5000 and gold.seed == seed
    with pytest.raises(ConfigError, match="S3 arm"):
        arm_task(p, "zerogen", 0)


def test_arm_and_seed_lists():
    assert parse_arms(None) == [
        "gold_val", "gold_large", "s3", "final", "s3_no_rationales", "zerogen", "s3_oracle", "zerogen_oracle"
    ]  # fmt: skip
    assert parse_arms("zerogen_oracle") == ["s3_oracle", "zerogen_oracle"], "it matches S3-oracle's size"
    assert parse_arms("final") == ["s3", "final"], "the final arm trains on the S3 arm's run"
    assert parse_arms("zerogen") == ["s3", "zerogen"], "ZeroGen needs the S3 arm's size"
    assert parse_arms("gold-val,s3") == ["gold_val", "s3"]
    with pytest.raises(ConfigError, match="unknown arm"):
        parse_arms("s3,s4")
    assert parse_seeds(None, get_protocol("quick")) == [0]
    assert parse_seeds("3,1", get_protocol("full")) == [3, 1]
    for bad in ("a", "1,1", "-1", ""):
        with pytest.raises(ConfigError, match="seeds"):
            parse_seeds(bad, get_protocol("full"))
    with pytest.raises(ConfigError, match="profile"):
        get_protocol("huge")


@pytest.mark.parametrize("cli", ["s3-magic bench", "s3-magic-bench"])
@pytest.mark.parametrize(("argv", "message"), [(["--arms", "nope"], "unknown arm"), (["--seeds", "x"], "--seeds")])
def test_bench_cli_rejects_bad_lists(cli, argv, message, capsys, tmp_path):
    argv = ["--out", str(tmp_path / "out"), *argv]
    assert (main(["bench", *argv]) if cli == "s3-magic bench" else bench_main(argv)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_s3_magic_bench_hands_every_argument_to_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: s3-magic bench") and "--skip-speed" in out


def test_s3_magic_bench_without_the_benchmark_package_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "s3_magic_bench.cli", None)  # as if s3-magic-bench were not installed
    assert main(["bench", "--quick", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e benchmarks" in err[0]
    assert not (tmp_path / "out").exists()


def needs_imdb() -> None:
    needs_data()
    if not (DATA / "imdb" / "train_sample5000_seed42.jsonl").exists() or not (DATA / "imdb" / "test.jsonl").exists():
        pytest.skip(f"IMDb data not found under {DATA}")


def keys(examples) -> set[str]:
    return {normalised(e.text) for e in examples}


def test_imdb_protocol_splits(tmp_path):
    """200 stratified labelled reviews per seed (50 of them the check split, except for the gold arms), one fixed
    2,000-review test sample for every seed, and gold-large 2,000 train-sample reviews outside the 200."""
    needs_imdb()
    p = get_protocol("full", task="imdb")
    assert (p.validation, p.test_size, p.gold_large) == (200, 2000, 2000)
    tests, golds = [], []
    for seed in (0, 1, 2):
        s3_task = arm_task(p, "s3", seed, runs=tmp_path)
        assert s3_task.name == "imdb" and s3_task.student.max_length == 256, "the project's IMDb task's length"
        assert s3_task.split is None and s3_task.validation.limit == 200 and s3_task.validation.seed == seed
        assert s3_task.validation.path.endswith("imdb/train_sample5000_seed42.jsonl")
        s3 = load_task_data(s3_task)
        labelled = [*s3.validation, *s3.check]
        assert len(s3.check) == 50 and Counter(e.label for e in labelled) == {"negative": 100, "positive": 100}
        assert Counter(e.label for e in s3.test) == {"negative": 1000, "positive": 1000}
        gold_val = load_task_data(arm_task(p, "gold_val", seed, runs=tmp_path))
        assert gold_val.check == [] and keys(gold_val.gold) == keys(labelled), "gold-val trains on all 200"
        large = load_task_data(arm_task(p, "gold_large", seed, runs=tmp_path))
        assert len(large.gold) == 2000 and Counter(e.label for e in large.gold) == {"negative": 1000, "positive": 1000}
        assert keys(large.validation) == keys(labelled) and large.check == []
        assert not keys(large.gold) & keys(labelled), "gold-large is outside the 200"
        assert not keys(large.gold) & keys(s3.test) and not keys(labelled) & keys(s3.test)
        tests.append([(e.uid, e.text, e.label) for e in s3.test])
        golds.append(keys(large.gold))
        assert [(e.uid, e.text) for e in large.test] == [(e.uid, e.text) for e in s3.test]
    assert tests[0] == tests[1] == tests[2], "the same test reviews for every seed"
    assert len({t for _, t, _ in tests[0]}) == 2000, "each test text once"
    assert golds[0] != golds[1], "gold-large is drawn by the seed"
    written = sorted(f.name for f in (tmp_path / "imdb" / "full" / "data").iterdir())
    assert written == [f"seed{s}-gold_large-2000-outside200.jsonl" for s in (0, 1, 2)] + ["test-2000-seed0.jsonl"]
    with pytest.raises(ConfigError, match="run folder"):
        arm_task(p, "s3", 0)


def fake_review(rng: random.Random, label: str) -> str:
    sentiment = POSITIVE if label == "positive" else NEGATIVE
    return " ".join(f"the {w} was {rng.choice(sentiment)}" for w in rng.sample(WORDS, 5)) + "."


def fake_imdb(root, n_pool: int = 300, n_test: int = 400) -> None:
    """An IMDb-shaped data root: a labelled pool (with repeated reviews) and a test file that repeats reviews and
    shares some with the pool, like the real files."""
    rng = random.Random(7)
    pool = [
        {"text": fake_review(rng, lab), "label": lab} for lab in ("negative", "positive") for _ in range(n_pool // 2)
    ]
    for i in range(0, 40, 2):  # 20 reviews appear twice in the pool
        pool[i + 1]["text"] = pool[i]["text"]
    test = [
        {"text": fake_review(rng, lab), "label": lab} for lab in ("negative", "positive") for _ in range(n_test // 2)
    ]
    for i in range(0, 30):  # 30 test reviews are pool reviews, 30 more repeat other test reviews
        test[i]["text"] = pool[5 * i]["text"]
        test[100 + i]["text"] = test[60 + i]["text"]
    (root / "imdb").mkdir(parents=True)
    for name, rows in (("train_sample5000_seed42.jsonl", pool), ("test.jsonl", test)):
        (root / "imdb" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_imdb_samples_leave_out_repeated_and_shared_reviews(tmp_path, monkeypatch):
    from s3_magic_bench.data import fixed_test_examples, gold_large_examples, labelled_examples

    fake_imdb(tmp_path / "data")
    monkeypatch.setenv("S3_MAGIC_DATA", str(tmp_path / "data"))
    p = dataclasses.replace(get_protocol("tiny", task="imdb"), validation=60, test_limit=200, gold_large=150)
    test = fixed_test_examples(p)
    assert len(test) == 200 and Counter(e.label for e in test) == {"negative": 100, "positive": 100}
    pool_file = tmp_path / "data" / "imdb" / "train_sample5000_seed42.jsonl"
    pool_texts = [normalised(json.loads(line)["text"]) for line in pool_file.read_text().splitlines()]
    assert not keys(test) & set(pool_texts) and len(keys(test)) == 200
    shared = 0
    for seed in range(4):
        labelled = labelled_examples(p, seed)
        gold = gold_large_examples(p, seed)
        assert len(labelled) == 60 and Counter(e.label for e in labelled) == {"negative": 30, "positive": 30}
        assert len(gold) == 150 and Counter(e.label for e in gold) == {"negative": 75, "positive": 75}
        assert not {e.uid for e in gold} & {e.uid for e in labelled} and not keys(gold) & keys(labelled)
        shared += sum(text in keys(labelled) for text in pool_texts) - len(labelled)
        assert fixed_test_examples(p) == test
    assert shared > 0, "some seed drew a review the pool repeats, and its copy stayed out of gold-large"


def test_imdb_arms_differ_from_sst2_only_in_the_task(tmp_path, monkeypatch):
    needs_data()
    fake_imdb(tmp_path / "data")
    (tmp_path / "data" / "sst2").symlink_to(DATA / "sst2")
    monkeypatch.setenv("S3_MAGIC_DATA", str(tmp_path / "data"))
    sst2, imdb = get_protocol("tiny"), get_protocol("tiny", task="imdb")
    for arm in ("s3", "s3_no_rationales", "zerogen", "gold_val", "gold_large"):
        a = arm_task(sst2, arm, 1, zerogen_examples=50).to_dict()
        b = arm_task(imdb, arm, 1, zerogen_examples=50, runs=tmp_path / "runs").to_dict()
        for part in ("method", "seed", "sizes", "stop", "check", "final"):
            assert a[part] == b[part], (arm, part)
        for key in ("spec", "temperature", "top_p", "options"):
            assert a["llm"][key] == b["llm"][key], (arm, key)
        assert {k: v for k, v in a["student"].items() if k != "max_length"} == {
            k: v for k, v in b["student"].items() if k != "max_length"
        }, "the same student recipe; only the max length is the task's"
        assert a["filters"]["reject_test_copies"] is b["filters"]["reject_test_copies"] is False
        assert (a["name"], b["name"]) == ("sst2", "imdb")


def test_bench_task_option(monkeypatch, tmp_path):
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    default = bench_protocol(parser.parse_args([]))
    assert (default.task, default.name, default.gold_large) == ("sst2", "full", 5000)
    imdb = bench_protocol(parser.parse_args(["--task", "imdb", "--quick"]))
    assert (imdb.task, imdb.name, imdb.test_size, imdb.gold_large) == ("imdb", "quick", 500, 500)
    assert bench_protocol(parser.parse_args(["--task", "imdb"])).test_size == 2000
    with pytest.raises(SystemExit):
        parser.parse_args(["--task", "mnli"])
    assert str(default_out(get_protocol("full", task="imdb"))).endswith("-imdb")
    assert str(default_out(get_protocol("quick", task="imdb"))).endswith("-imdb-quick")
    assert default_out(get_protocol("full")).name == default_out(get_protocol("full", task="imdb")).name[:-5]
    with pytest.raises(ConfigError, match="benchmark task"):
        get_protocol("full", task="mnli")
    seen = {}

    def fake_run(protocol, seeds, arms, **kwargs):
        seen.update(protocol=protocol, seeds=seeds, arms=arms, **kwargs)
        raise ConfigError("stop here")

    monkeypatch.setattr("s3_magic_bench.runner.run_benchmark", fake_run)
    args = parser.parse_args(["--task", "imdb", "--seeds", "1", "--arms", "final", "-q", "--folder", str(tmp_path)])
    with pytest.raises(ConfigError, match="stop here"):
        cmd_bench(args)
    assert seen["protocol"] == get_protocol("full", task="imdb") and seen["seeds"] == [1]
    assert seen["arms"] == ["s3", "final"] and seen["runs"] == str(tmp_path) and seen["out"] is None


# -- statistics, report, plot on synthetic arm results ---------------------------------------------------------
#: in-run generation of the synthetic LLM arms, seed s: 60 + 10 s completion and 300 + 30 s prompt tokens/s,
#: batch occupancy 0.5 + 0.1 s
LLM_ARMS = ("s3", "s3_no_rationales", "zerogen")
#: dollars per seed of the synthetic arms (others: $0); None: no known price
COSTS = {"zerogen": [0.004, 0.0045, 0.005], "s3_no_rationales": [10.0, 12.0, 14.0], "gold_val": [None] * 3}


def fake_generation(seed: int) -> dict:
    return {"gen_seconds": 20.0, "completion_tok_s": 60.0 + 10 * seed, "prompt_tok_s": 300.0 + 30 * seed,
            "batch_occupancy": 0.5 + 0.1 * seed}  # fmt: skip


def fake_arm(
    arm: str, seed: int, accs: list[float], n_train: int = 100, check: bool = True, generation: bool = False
) -> dict:
    """An arm result: validation accuracy 1 point under test accuracy, check accuracy 0.5 points over it; with
    ``generation``, the in-run generation figures of :func:`fake_generation`."""
    rounds = [
        {"round": r, "n_train": n_train + 50 * r, "val_acc": a - 0.01, "check_acc": a + 0.005 if check else None,
         "test_acc": a, "seconds": 1.0}
        for r, a in enumerate(accs)
    ]  # fmt: skip
    return {
        "arm": arm, "seed": seed, "n_train": rounds[-1]["n_train"], "val_acc": accs[-1] - 0.01,
        "check_acc": rounds[-1]["check_acc"], "test_acc": accs[-1], "n_check": 50 if check else 0,
        "prompt_tokens": 1000 * (seed + 1), "completion_tokens": 500, "llm_calls": 10, "seconds": 12.5,
        "train_copies_of_test": 0, "rounds": rounds, "cost_usd": COSTS.get(arm, [0.0] * 3)[seed],
        **(fake_generation(seed) if generation else {}),
    }  # fmt: skip


def fake_final(seed: int, test_acc: float, check_acc: float) -> dict:
    candidates = [{"recipe": "weighted", "check_acc": check_acc, "test_acc": test_acc - 0.01},
                  {"recipe": "two_stage", "check_acc": check_acc - 0.02, "test_acc": test_acc}]  # fmt: skip
    return {
        "arm": "final", "seed": seed, "n_train": 500, "n_synthetic": 300, "n_real": 200, "round": 2,
        "recipe": "weighted", "candidates": candidates, "val_acc": None, "check_acc": check_acc,
        "test_acc": test_acc, "n_check": 50, "prompt_tokens": 0, "completion_tokens": 0, "llm_calls": 0,
        "seconds": 30.0, "train_copies_of_test": None, "rounds": [],
    }  # fmt: skip


def synthetic_results() -> dict:
    arms = {}
    for arm in ARMS:
        accs = {"s3": [0.70, 0.75, 0.78], "s3_no_rationales": [0.68, 0.71, 0.72], "s3_oracle": [0.80, 0.83, 0.86]}
        accs = accs.get(arm, [0.8])
        if arm == "final":
            arms[arm] = [fake_final(s, 0.84 + 0.01 * s, 0.86) for s in (0, 1, 2)]
        else:
            arms[arm] = [fake_arm(arm, s, [a + 0.02 * s for a in accs], check=arm not in GOLD_ARMS,
                                  generation=arm in LLM_ARMS) for s in (0, 1, 2)]  # fmt: skip
    protocol = get_protocol("full").describe()
    machine = {"cpu": "Test CPU", "cores": 2, "torch": "2.x", "torch_threads": 2, "transformers": "5.x",
               "python": "3.x"}  # fmt: skip
    speed = {
        "llm": {"batch_size": 128, "dtype": "bfloat16", "tokens_per_s": 500.0, "naive_batch_size": 32,
                "naive_tokens_per_s": 100.0, "ratio": 5.0},
        "student": {"threads": 2, "finetune_ex_per_s": 300.0, "naive_finetune_ex_per_s": 60.0, "finetune_ratio": 5.0,
                    "infer_ex_per_s": 2000.0, "naive_infer_ex_per_s": 250.0, "infer_ratio": 8.0},
        "round": {"n_train": 180, "n_validation": 200, "errors_extrapolated": 50, "examples_per_error": 5,
                  "train_s": 5.0, "evaluate_s": 1.0, "extrapolate_s": 30.0, "seconds": 36.0},
        "load_ext": {"seconds": 0.05}, "llm_ready": {"warm_s": 4.0, "cold_s": 25.0},
    }  # fmt: skip
    timing = {"seeds": [0, 1, 2], "started_at": "2025-01-01T00:00:00", "wall_s": 600.0}
    return build_results(protocol, machine, arms, speed, timing)


def test_mean_and_sample_std():
    assert std([1.0]) is None
    assert math.isclose(std([0.7, 0.72, 0.74]), 0.02)
    s = summarise_arm([fake_arm("s3", 0, [0.7]), fake_arm("s3", 1, [0.8])])
    assert math.isclose(s["test_acc_mean"], 0.75) and math.isclose(s["test_acc_std"], math.sqrt(0.005))
    assert math.isclose(s["check_acc_mean"], 0.755) and math.isclose(s["check_acc_std"], math.sqrt(0.005))
    assert s["prompt_tokens_mean"] == 1500 and s["n_seeds"] == 2
    rows = per_round([fake_arm("s3", 0, [0.6, 0.7]), fake_arm("s3", 1, [0.8, 0.9])])
    assert [r["round"] for r in rows] == [0, 1]
    assert math.isclose(rows[1]["test_acc_mean"], 0.8) and rows[0]["n_seeds"] == 2
    assert math.isclose(rows[1]["check_acc_mean"], 0.805) and math.isclose(rows[1]["val_acc_mean"], 0.79)


def test_generation_figures_are_weighted_by_generation_seconds():
    rounds = [
        Round(0, "evaluated", gen_seconds=10.0, completion_tok_s=50.0, prompt_tok_s=200.0, batch_occupancy=0.8),
        # a backend that does not batch has no occupancy
        Round(1, "evaluated", gen_seconds=30.0, completion_tok_s=90.0, prompt_tok_s=400.0),
        Round(2, "evaluated"),  # every call answered from the cache
    ]
    figures = generation_figures(rounds)
    # (10 × 50 + 30 × 90) / 40 = 80, (10 × 200 + 30 × 400) / 40 = 350; occupancy only where it was measured
    assert figures == {"gen_seconds": 40.0, "completion_tok_s": 80.0, "prompt_tok_s": 350.0, "batch_occupancy": 0.8}
    empty = {"gen_seconds": None, "completion_tok_s": None, "prompt_tok_s": None, "batch_occupancy": None}
    assert generation_figures(rounds[2:]) == empty and generation_figures([]) == empty


def test_in_run_generation_and_dollars_in_the_report():
    results = synthetic_results()
    s3 = results["arms"]["s3"]["summary"]
    assert s3["completion_tok_s_mean"] == pytest.approx(70.0) and s3["completion_tok_s_std"] == pytest.approx(10.0)
    assert s3["prompt_tok_s_mean"] == pytest.approx(330.0) and s3["prompt_tok_s_std"] == pytest.approx(30.0)
    assert s3["batch_occupancy_mean"] == pytest.approx(0.6) and s3["batch_occupancy_std"] == pytest.approx(0.1)
    assert s3["gen_seconds_mean"] == 20.0 and s3["cost_usd_mean"] == 0.0
    assert results["arms"]["s3_no_rationales"]["summary"]["cost_usd_mean"] == pytest.approx(12.0)
    assert results["arms"]["gold_val"]["summary"]["cost_usd_mean"] is None
    assert results["arms"]["gold_large"]["summary"]["completion_tok_s_mean"] is None
    md = markdown(results)
    assert "| completion tokens | dollars | seconds |" in md
    assert "| S3 | 80.0 ± 2.0 | 79.0 | 80.5 | 200 | 2,000 | 500 | $0.00 | 12 |" in md, "local compute: $0.00"
    assert "| ZeroGen | 82.0 ± 2.0 | 81.0 | 82.5 | 100 | 2,000 | 500 | $0.0045 | 12 |" in md, "under a cent"
    assert "| S3 without rationales | 74.0 ± 2.0 | 73.0 | 74.5 | 200 | 2,000 | 500 | $12.00 | 12 |" in md
    gold = "| Gold: the 200 real labelled examples | 82.0 ± 2.0 | 81.0 | – | 100 | 2,000 | 500 | – | 12 |"
    assert gold in md, "no known price: –"
    speed = md.split("## Speed")[1]
    micro = "| LLM generation, tokens/s (batch 128, bfloat16 vs `model.generate` batch 32, fp32) | 500.0 |"
    s3_row = ("| in-run LLM generation, S3: completion tokens/s (prompt tokens/s; batch occupancy) | 70.0 ± 10.0 "
              "(330.0 ± 30.0; 60.0 ± 10.0 %) | – | 0.14× micro |")  # fmt: skip
    assert speed.index(micro) < speed.index(s3_row), "beside the micro figure"
    in_run = [line for line in speed.splitlines() if line.startswith("| in-run LLM generation")]
    assert [line.split(",")[1].split(":")[0].strip() for line in in_run] == [
        "ZeroGen", "S3", "S3 without rationales",
    ], "only the arms that called the LLM"  # fmt: skip
    assert "In-run LLM generation: the arm's real LLM calls" in speed
    data = json.loads(json.dumps(results))
    assert data["arms"]["zerogen"]["summary"]["batch_occupancy_mean"] == pytest.approx(0.6)


def gap_arm(seed: int, points: list[tuple[float, float | None, float]]) -> dict:
    """An arm result whose rounds have the given (validation, check, test) accuracies."""
    rounds = [{"round": r, "n_train": 10, "val_acc": v, "check_acc": c, "test_acc": t} for r, (v, c, t) in
              enumerate(points)]  # fmt: skip
    last = {k: rounds[-1][k] for k in ("val_acc", "check_acc", "test_acc")}
    return {"arm": "s3", "seed": seed, "rounds": rounds, **last}


def test_estimate_gaps_against_hand_computed_values():
    # seed 0: check − test = +2, −1, +4 points; validation − test = +10, +8, +6
    # seed 1: check − test = −3, 0 (and a round without a check accuracy); validation − test = +5, +1, +3
    s3 = [
        gap_arm(0, [(0.80, 0.72, 0.70), (0.83, 0.74, 0.75), (0.84, 0.82, 0.78)]),
        gap_arm(1, [(0.65, 0.57, 0.60), (0.66, 0.65, 0.65), (0.70, None, 0.67)]),
    ]
    check = [2.0, -1.0, 4.0, -3.0, 0.0]
    validation = [10.0, 8.0, 6.0, 5.0, 1.0, 3.0]
    assert signed_gaps(s3, "check_acc") == pytest.approx(check)
    assert signed_gaps(s3, "val_acc") == pytest.approx(validation)
    # hand-computed: check mean 2/5 = 0.4, sample variance (1.6² + 1.4² + 3.6² + 3.4² + 0.4²) / 4 = 7.3
    # validation mean 33/6 = 5.5, sample variance (4.5² + 2.5² + 0.5² + 0.5² + 4.5² + 2.5²) / 5 = 10.7
    gold_val = [gap_arm(0, [(1.0, None, 0.75)])]  # trained on its validation examples: no gap reported
    gold_large = [gap_arm(0, [(0.86, None, 0.84)])]
    final = [dict(fake_final(0, 0.80, 0.83), rounds=[]), dict(fake_final(1, 0.81, 0.80), rounds=[])]
    arms = {"s3": {"seeds": s3}, "gold_val": {"seeds": gold_val}, "gold_large": {"seeds": gold_large},
            "final": {"seeds": final}}  # fmt: skip
    gaps = estimate_gaps(arms)
    assert gaps["s3"]["check"]["mean"] == pytest.approx(0.4) and gaps["s3"]["check"]["n"] == 5
    assert gaps["s3"]["check"]["std"] == pytest.approx(math.sqrt(7.3))
    assert gaps["s3"]["validation"]["mean"] == pytest.approx(5.5) and gaps["s3"]["validation"]["n"] == 6
    assert gaps["s3"]["validation"]["std"] == pytest.approx(math.sqrt(10.7))
    assert "gold_val" not in gaps, "gold-val's validation accuracy is a training accuracy; it has no check split"
    assert gaps["gold_large"] == {"validation": {"mean": pytest.approx(2.0), "std": None, "n": 1}}
    assert set(gaps["final"]) == {"check"}, "the final arm has no validation accuracy"
    assert gaps["final"]["check"]["mean"] == pytest.approx(1.0) and gaps["final"]["check"]["n"] == 2
    assert gaps["final"]["check"]["std"] == pytest.approx(math.sqrt(8.0))  # gaps +3 and −1


def test_quality_targets_are_paired_by_seed():
    results = synthetic_results()
    gaps = {(g["arm"], g["baseline"]): g for g in results["gaps"]}
    assert set(gaps) == {("s3", "zerogen"), ("s3", "gold_val"), ("final", "gold_val"), ("s3_oracle", "zerogen_oracle")}
    oracle = gaps["s3_oracle", "zerogen_oracle"]
    assert oracle["gap_mean"] == pytest.approx(6.0) and oracle["met"] is None, "a simulation has no target"
    # final: 84, 85, 86 against gold-val 80, 82, 84 -> +4, +3, +2
    final = gaps["final", "gold_val"]
    assert final["gap_mean"] == pytest.approx(3.0) and final["met"], "exactly on the target, floating point or not"
    assert final["gap_std"] == pytest.approx(1.0) and final["target_points"] == 3 and final["n_seeds"] == 3
    assert gaps["s3", "gold_val"]["gap_mean"] == pytest.approx(-2.0) and not gaps["s3", "gold_val"]["met"]
    assert gaps["s3", "gold_val"]["target_points"] == 0
    c = results["check_gap_target"]
    assert c["arm"] == "s3" and c["gap_mean"] == pytest.approx(0.5) and c["n"] == 9 and c["met"]
    md = markdown(results)
    assert "| S3 − Gold-val | -2.0 ± 0.0 | ≥ 0 | not met |" in md
    assert "| Final − Gold-val | +3.0 ± 1.0 | ≥ +3 | met |" in md
    assert "| S3-oracle − ZeroGen-oracle | +6.0 ± 0.0 | – | simulation, no target |" in md
    assert "The oracle arms are a simulation" in md and "| S3, oracle generator (simulation) |" in md
    assert "| size of the mean (check − test), S3, 9 seed × round points | 0.5 | ≤ 1.5 | met |" in md


def test_results_json_markdown_and_plot(tmp_path):
    results = synthetic_results()
    assert list(results["arms"]) == list(ARMS)
    for arm in ROUND_ARMS:
        assert len(results["arms"][arm]["per_round"]) == 3
    md = markdown(results)
    for entry in results["arms"].values():
        assert entry["title"] in md
    assert results["arms"]["gold_large"]["title"] == "Gold: 5,000 SST-2 train sentences"
    assert "80.0 ± 2.0" in md, "S3's final test accuracy, mean ± std over three seeds"
    assert "| S3 | 80.0 ± 2.0 | 79.0 | 80.5 |" in md, "test, validation and check accuracy side by side"
    assert "| Gold: the 200 real labelled examples | 82.0 ± 2.0 | 81.0 | – |" in md, "no check split"
    assert "## Accuracy per round" in md and "## Speed" in md and "5.00×" in md and "Test CPU" in md
    gaps = {(g["arm"], g["baseline"]): g for g in results["gaps"]}
    assert math.isclose(gaps["s3", "zerogen"]["gap_mean"], -2.0) and not gaps["s3", "zerogen"]["met"]
    assert "## Quality targets" in md and "| S3 − ZeroGen | -2.0 ± 0.0 | ≥ +4 | not met |" in md
    assert "## Validation and check accuracy against test accuracy" in md
    assert "| S3 | -1.0 ± 0.0 | +0.5 ± 0.0 | 9 |" in md
    assert "## Final model" in md and "| 0 | 2 | weighted | 86.0 | 84.0 | 300 | 200 | weighted 86.0 / 83.0" in md
    paths = write_results(results, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert set(data["arms"]) == set(ARMS) and data["machine"]["cores"] == 2
    assert data["estimate_gaps"]["s3"]["check"]["mean"] == pytest.approx(0.5)
    assert data["estimate_gaps"]["s3"]["validation"]["mean"] == pytest.approx(-1.0)
    assert data["arms"]["s3"]["per_round"][0]["check_acc_mean"] == pytest.approx(0.725)
    assert paths["markdown"].read_text() == md
    assert paths["plot"].read_bytes().startswith(PNG)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "accuracy_per_round.png", "results.json", "results.md",
    ]  # fmt: skip


def test_rounds_table_has_a_check_column():
    results = synthetic_results()
    header, marks, *rows = rounds_table(results)
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:5] == ["round", "S3: test acc %", "val acc %", "check acc %", "train examples"]
    assert cells[5:9] == ["S3 without rationales: test acc %", "val acc %", "check acc %", "train examples"]
    assert cells[9:] == ["S3, oracle generator (simulation): test acc %", "val acc %", "check acc %", "train examples"]
    # round 1 of S3 over seeds 0-2: test 75, 77, 79 -> 77.0 ± 2.0, validation 1 point under, check 0.5 over
    assert rows[1].startswith("| 1 | 77.0 ± 2.0 | 76.0 | 77.5 | 150 |")
    assert marks.count("---:") == len(cells) - 1
    no_check = dict(results)
    no_check["arms"] = {"s3": {"title": "S3", "per_round": [{**r, "check_acc_mean": None} for r in
                                                          results["arms"]["s3"]["per_round"]]}}  # fmt: skip
    assert rounds_table(no_check)[2].startswith("| 0 | 72.0 ± 2.0 | 71.0 | – |")


def test_one_seed_has_no_std_and_plot_handles_missing_arms():
    one = {"s3": [fake_arm("s3", 0, [0.7, 0.8])], "gold_val": [fake_arm("gold_val", 0, [0.81], check=False)]}
    results = build_results(get_protocol("quick").describe(), synthetic_results()["machine"], one, None,
                            {"seeds": [0], "started_at": "x", "wall_s": 1.0})  # fmt: skip
    md = markdown(results)
    assert "| S3 | 80.0 |" in md and "±" not in md.split("## Accuracy")[0].split("\n\n")[2]
    assert "## Speed" not in md and "## Final model" not in md
    assert plot_png(results).startswith(PNG)
    measured = {"s3": [fake_arm("s3", 0, [0.7, 0.8], generation=True)]}
    results = build_results(get_protocol("quick").describe(), synthetic_results()["machine"], measured, None,
                            {"seeds": [0], "started_at": "x", "wall_s": 1.0})  # fmt: skip
    speed = markdown(results).split("## Speed (same run, same machine)")[1]
    assert "| 60.0 (300.0; 50.0 %) | – | – |" in speed, "one seed: no ±; no micro figure: no ratio"
    assert "LLM generation, tokens/s" not in speed
    without_check = {"s3": [fake_arm("s3", 0, [0.7, 0.8], check=False)]}
    results = build_results(get_protocol("quick").describe(), synthetic_results()["machine"], without_check, None,
                            {"seeds": [0], "started_at": "x", "wall_s": 1.0})  # fmt: skip
    assert results["check_gap_target"] is None and "check" not in results["estimate_gaps"]["s3"]
    assert plot_png(results).startswith(PNG)


def test_imdb_titles_and_report_text():
    protocol = get_protocol("full", task="imdb").describe()
    assert arm_title("gold_large", protocol) == "Gold: 2,000 IMDb train reviews"
    assert arm_title("gold_val", protocol) == "Gold: the 200 real labelled examples"
    arms = {"s3": [fake_arm("s3", 0, [0.7, 0.8])]}
    results = build_results(protocol, synthetic_results()["machine"], arms, None,
                            {"seeds": [0], "started_at": "x", "wall_s": 1.0})  # fmt: skip
    md = markdown(results)
    assert md.startswith("# S3 benchmark on IMDb — profile `full`")
    assert "fixed stratified sample of 2,000 reviews of `imdb/test.jsonl`" in md
    assert "from `imdb/train_sample5000_seed42.jsonl`" in md and "hold 50 of the 200 out as the check split" in md
    assert "max length 256 tokens (the `imdb` task's setting)" in md


# -- engine options the benchmark relies on --------------------------------------------------------------------
def repetitive_reply(prompt: Prompt) -> str:
    """Scripted replies drawn from few variants, so the near-duplicate filter rejects many."""
    return scripted_reply(Prompt(prompt.messages, sample=str(sum(map(ord, prompt.sample)) % 9)))


def test_zerogen_writes_until_the_target_is_accepted_and_resumes_identically(tmp_path, fake_llm):
    fake_llm.responder = repetitive_reply
    task = sst2_task(method="zerogen", sizes__zerogen_accepted=12)
    s = Session.create(task, folder=tmp_path / "a")
    s.run()
    accepted = s.examples(accepted=True)
    assert len(accepted) == 12 and s.rounds()[0].n_train == 12
    assert len(s.examples()) > 12, "rejected examples were replaced by more prompts"
    # interrupted part-way, then resumed: the same data as the uninterrupted run
    failing = FakeBackend(responder=repetitive_reply, fail_after=7)
    b = Session.create(task, folder=tmp_path / "b", backend_factory=lambda: failing)
    with pytest.raises(Exception, match="scripted failure"):
        b.run()
    assert len(failing.history) == 7
    Session.open(b.run_id, folder=tmp_path / "b").run()
    assert [(e.gen_key, e.text, e.accepted) for e in b.examples()] == [
        (e.gen_key, e.text, e.accepted) for e in s.examples()
    ]


def test_zerogen_stops_at_the_prompt_cap(tmp_path, fake_llm):
    fake_llm.responder = repetitive_reply
    s = Session.create(sst2_task(method="zerogen", sizes__zerogen_accepted=40), folder=tmp_path)
    s.run()
    assert len(s.examples()) == 160 and len(s.examples(accepted=True)) < 40


def test_test_copies_filter_can_be_turned_off(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    copy = s.ctx.data.test[0].text
    assert build_deduper(s.ctx).check(copy) == "copies_test"
    s.update({"filters.reject_test_copies": False})
    assert build_deduper(s.ctx).check(copy) is None
    assert build_deduper(s.ctx).check(s.ctx.data.validation[0].text) == "copies_validation"


# -- whole arms and runs with the scripted LLM ----------------------------------------------------------------
def scripted_protocol(protocol=None):
    """The tiny profile (or ``protocol``) with the scripted LLM and the word-count student."""
    protocol = protocol or get_protocol("tiny")
    return dataclasses.replace(protocol, llm="fake:scripted", student={**protocol.student, "mode": "wordcount"})


def test_round_measurement_extrapolates_the_capped_errors(tmp_path, fake_llm):
    needs_data()
    protocol = scripted_protocol()
    sizes = protocol.speed
    result = round_seconds(protocol, sizes, tmp_path)
    assert result["n_validation"] == protocol.validation and result["n_train"] > 0
    assert result["errors_extrapolated"] == min(result["errors"], sizes.round_errors)
    assert result["llm_calls"] == result["errors_extrapolated"] * sizes.round_examples_per_error
    assert result["seconds"] >= result["extrapolate_s"] >= 0
    assert list(tmp_path.iterdir()) == [], "the throw-away run is removed"


def test_load_ext_is_measured_in_a_fresh_interpreter_and_imports_nothing_heavy():
    result = load_ext_seconds()
    assert result["seconds"] > 0 and result["heavy_modules_imported"] == []


def test_run_benchmark_writes_every_arm_and_reruns_from_the_cache(tmp_path, fake_llm):
    needs_data()
    protocol = scripted_protocol()
    lines: list[str] = []
    results, paths = run_benchmark(
        protocol, out=tmp_path / "out", runs=tmp_path / "runs", speed=False, echo=lines.append
    )
    arms = results["arms"]
    assert set(arms) == set(ARMS)
    assert arms["zerogen"]["seeds"][0]["n_train"] == arms["s3"]["seeds"][0]["n_train"]
    assert arms["gold_val"]["seeds"][0]["n_train"] == protocol.validation
    assert arms["gold_large"]["seeds"][0]["n_train"] == protocol.gold_large
    final = arms["final"]["seeds"][0]
    s3 = arms["s3"]["seeds"][0]
    assert final["n_real"] == protocol.validation, "the final model learnt from all the real labels"
    assert final["n_synthetic"] == next(r["n_train"] for r in s3["rounds"] if r["round"] == final["round"])
    assert final["val_acc"] is None and 0.0 <= final["test_acc"] <= 1.0, "trained on validation: no val accuracy"
    assert final["check_acc"] is not None and final["recipe"] in {c["recipe"] for c in final["candidates"]}
    for arm in ("gold_val", "gold_large"):
        assert arms[arm]["summary"]["prompt_tokens_mean"] == 0
        assert arms[arm]["seeds"][0]["cost_usd"] == 0.0 and arms[arm]["seeds"][0]["completion_tok_s"] is None
    assert final["cost_usd"] == 0.0 and final["completion_tok_s"] is None, "the scripted LLM is free"
    assert s3["cost_usd"] == 0.0 and all(r["cost_usd"] == 0.0 for r in s3["rounds"])
    assert [r["round"] for r in s3["rounds"]] == [0, 1] and s3["prompt_tokens"] > 0
    assert s3["n_check"] == protocol.validation // 4 and s3["n_validation"] == protocol.validation - s3["n_check"]
    assert s3["n_validation"] + s3["n_check"] + s3["n_test"] == protocol.dev_limit
    assert all(r["check_acc"] is not None and r["n_check"] == s3["n_check"] for r in s3["rounds"])
    gold = arms["gold_val"]["seeds"][0]
    assert gold["n_check"] == 0 and gold["check_acc"] is None and gold["n_validation"] == protocol.validation
    assert "check" in results["estimate_gaps"]["s3"] and results["check_gap_target"]["n"] == 2
    assert len(arms["s3"]["per_round"]) == 2 and results["speed"] is None
    assert all(entry["seeds"][0]["cache_hits"] == 0 for entry in arms.values()), "no arm gets another's calls"
    data = json.loads(paths["json"].read_text())
    assert set(data["arms"]) == set(ARMS) and data["machine"]["cores"] >= 1
    assert all(entry["title"] in paths["markdown"].read_text() for entry in arms.values())
    assert paths["plot"].read_bytes().startswith(PNG)
    assert any("ZeroGen" in line for line in lines)
    # again: finished arms are read back, no LLM call is made, the numbers are the same
    calls = fake_calls()
    again, _ = run_benchmark(protocol, out=tmp_path / "out2", runs=tmp_path / "runs", speed=False, echo=lambda t: None)
    assert fake_calls() == calls
    assert again["arms"]["s3"]["seeds"] == arms["s3"]["seeds"]
    assert again["arms"]["final"]["seeds"] == arms["final"]["seeds"]
    # a changed protocol in the same run folder is refused instead of mixing results
    changed = dataclasses.replace(protocol, seed_examples=protocol.seed_examples + 1)
    with pytest.raises(ConfigError, match="other settings"):
        run_arm(changed, "s3", 0, tmp_path / "runs")


def test_an_arm_reports_its_in_run_generation_and_dollars(tmp_path, fake_llm):
    needs_data()

    def timed_reply(prompt: Prompt) -> str:
        time.sleep(0.002)  # the scripted LLM is otherwise too fast for the millisecond generation seconds
        return scripted_reply(prompt)

    fake_llm.responder = timed_reply
    s3 = run_arm(scripted_protocol(), "s3", 0, tmp_path)
    timed = [r for r in s3["rounds"] if r["gen_seconds"]]
    assert [r["round"] for r in timed] == [0, 1], "both rounds made real calls"
    assert s3["gen_seconds"] == pytest.approx(sum(r["gen_seconds"] for r in timed))
    weighted = sum(r["gen_seconds"] * r["completion_tok_s"] for r in timed) / s3["gen_seconds"]
    assert s3["completion_tok_s"] == pytest.approx(weighted, rel=1e-3) and s3["completion_tok_s"] > 0
    assert s3["prompt_tok_s"] > 0 and s3["batch_occupancy"] is None, "the scripted backend does not batch"
    assert s3["cost_usd"] == 0.0 and s3["completion_tokens"] > 0, "its calls are free"
    results = build_results(get_protocol("tiny").describe(), synthetic_results()["machine"], {"s3": [s3]}, None,
                            {"seeds": [0], "started_at": "x", "wall_s": 1.0})  # fmt: skip
    assert results["arms"]["s3"]["summary"]["completion_tok_s_mean"] == s3["completion_tok_s"]
    measure = "in-run LLM generation, S3: completion tokens/s (prompt tokens/s; batch occupancy)"
    assert f"| {measure} | {s3['completion_tok_s']:,.1f} (" in markdown(results)


def test_the_test_split_never_changes_data_or_validation_results(tmp_path, fake_llm, monkeypatch):
    """Flip every test label: the synthetic data and validation accuracies stay the same; only test_acc moves."""
    needs_data()
    import s3_magic.session as session_module

    protocol = scripted_protocol()
    normal = run_arm(protocol, "s3", 0, tmp_path / "normal")
    real_loader = session_module.load_task_data

    def flipped(task):
        data = real_loader(task)
        swap = {"negative": "positive", "positive": "negative"}
        data.test = [dataclasses.replace(e, label=swap[e.label]) for e in data.test]
        data.test.reverse()
        return data

    monkeypatch.setattr(session_module, "load_task_data", flipped)
    other = run_arm(protocol, "s3", 0, tmp_path / "flipped")
    texts = [
        [(e.gen_key, e.text, e.accepted) for e in Session.open("s3", folder=folder).examples()]
        for folder in (
            arm_folder(tmp_path / "normal", protocol, "s3", 0),
            arm_folder(tmp_path / "flipped", protocol, "s3", 0),
        )
    ]
    assert texts[0] == texts[1]
    assert [r["val_acc"] for r in normal["rounds"]] == [r["val_acc"] for r in other["rounds"]]
    assert [r["n_errors"] for r in normal["rounds"]] == [r["n_errors"] for r in other["rounds"]]
    for a, b in zip(normal["rounds"], other["rounds"], strict=True):
        assert math.isclose(a["test_acc"] + b["test_acc"], 1.0)


def test_final_arm_reads_back_its_stored_result(tmp_path, fake_llm, monkeypatch):
    needs_data()
    protocol = scripted_protocol()
    with pytest.raises(ConfigError, match="run the s3 arm first"):
        run_final(protocol, 0, tmp_path)
    run_arm(protocol, "s3", 0, tmp_path)
    first = run_final(protocol, 0, tmp_path)
    folder = arm_folder(tmp_path, protocol, "final", 0)
    assert json.loads((folder / RESULT_FILE).read_text()) == first
    with Session.open("s3", folder=arm_folder(tmp_path, protocol, "s3", 0)) as s3:
        stored = s3.final_result()
    assert (first["test_acc"], first["check_acc"], first["round"]) == (
        stored["test_acc"], stored["check_acc"], stored["round"]
    )  # fmt: skip

    def no_training(self, out=None):
        raise AssertionError("the stored final model is read back, not trained again")

    monkeypatch.setattr(Session, "final", no_training)
    (folder / RESULT_FILE).unlink()
    assert run_final(protocol, 0, tmp_path) == first, "read back from the S3 run's record"
    assert (folder / RESULT_FILE).exists()

    with Session.open("s3", folder=arm_folder(tmp_path, protocol, "s3", 0)) as s3:
        assert stored["final_spec"] == s3.task.final.model_dump()
        s3.store.set_final(s3.run_id, {**stored, "final_spec": {**stored["final_spec"], "min_gain_se": 0.0}})
    with pytest.raises(AssertionError, match="trained again"):
        run_final(protocol, 0, tmp_path)  # a record made with other final settings is not reused


def test_a_student_option_given_at_its_default_is_the_same_setting(tmp_path):
    def task(**options):
        return TaskSpec.model_validate(sst2_task(student={"model": "embedded", "epochs": 5, **options}))

    check_same_task(task(), task(lr=1e-4, batch_size=16), "gold_val", tmp_path)
    other = task(lr=3e-5)
    with pytest.raises(ConfigError, match="other settings \\(student\\)"):
        check_same_task(task(), other, "gold_val", tmp_path)


def long_reply(prompt: Prompt) -> str:
    """Scripted replies three sentences long, so IMDb's review filters (at least 15 words) accept them."""
    if "one reason per line" in prompt.messages[-1]["content"]:
        return scripted_reply(prompt)
    return " ".join(scripted_reply(Prompt(prompt.messages, sample=f"{prompt.sample}.{i}")) for i in range(3))


def test_imdb_benchmark_with_the_scripted_llm(tmp_path, fake_llm, monkeypatch):
    """The same code on IMDb-shaped data: every arm runs, gold-large trains on its sample, the report says IMDb."""
    fake_imdb(tmp_path / "data")
    monkeypatch.setenv("S3_MAGIC_DATA", str(tmp_path / "data"))
    fake_llm.responder = long_reply
    protocol = scripted_protocol(get_protocol("tiny", task="imdb"))
    results, paths = run_benchmark(protocol, out=tmp_path / "out", runs=tmp_path / "runs", speed=False,
                                   echo=lambda t: None)  # fmt: skip
    arms = results["arms"]
    assert set(arms) == set(ARMS)
    s3 = arms["s3"]["seeds"][0]
    assert (s3["n_validation"], s3["n_check"], s3["n_test"]) == (30, 10, protocol.test_size)
    assert arms["gold_large"]["seeds"][0]["n_train"] == protocol.gold_large
    assert arms["gold_val"]["seeds"][0]["n_train"] == protocol.validation
    assert arms["final"]["seeds"][0]["n_real"] == protocol.validation
    assert arms["gold_large"]["title"] == "Gold: 100 IMDb train reviews"
    assert paths["markdown"].read_text().startswith("# S3 benchmark on IMDb — profile `tiny`")
    assert arm_folder(tmp_path / "runs", protocol, "s3", 0) == tmp_path / "runs" / "imdb" / "tiny" / "seed0" / "s3"


# -- slow: the real embedded models ---------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_benchmark_end_to_end_with_the_real_models(tmp_path, capsys):
    needs_data()
    out = tmp_path / "out"
    argv = ["bench", "--profile", "tiny", "--out", str(out), "--folder", str(tmp_path / "runs"), "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert set(data["arms"]) == set(ARMS)
    for arm, entry in data["arms"].items():
        assert 0.0 <= entry["summary"]["test_acc_mean"] <= 1.0, arm
        assert entry["title"] in (out / "results.md").read_text() and entry["title"] in printed
    assert data["arms"]["s3"]["seeds"][0]["n_check"] > 0 and data["estimate_gaps"]["s3"]["check"]["n"] == 2
    assert data["arms"]["zerogen"]["seeds"][0]["n_train"] == data["arms"]["s3"]["seeds"][0]["n_train"]
    speed = data["speed"]
    assert speed["llm"]["tokens_per_s"] > 0 and speed["llm"]["naive_tokens_per_s"] > 0
    assert speed["student"]["finetune_ratio"] > 0 and speed["round"]["seconds"] > 0
    assert speed["load_ext"]["heavy_modules_imported"] == []
    assert speed["llm_ready"]["warm_s"] > 0
    assert data["machine"]["torch"] and data["machine"]["cpu"]
    assert (out / "accuracy_per_round.png").read_bytes().startswith(PNG)
