"""The benchmark: protocol and arm tasks, report/plot/statistics on synthetic results, ZeroGen's size matching,
the test split's report-only role, whole runs with the scripted LLM, and (slow) a tiny run with the real models."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from conftest import fake_calls, needs_data, scripted_reply, sst2_task

from s3_magic.bench.arms import run_arm
from s3_magic.bench.plot import plot_png
from s3_magic.bench.protocol import ARMS, EXTRA_ARMS, ROUND_ARMS, arm_task, get_protocol, parse_arms, parse_seeds
from s3_magic.bench.report import build_results, markdown, per_round, std, summarise_arm, write_results
from s3_magic.bench.runner import run_benchmark
from s3_magic.bench.speed import load_ext_seconds, round_seconds
from s3_magic.cli import main
from s3_magic.engine.synthesize import build_deduper
from s3_magic.errors import ConfigError
from s3_magic.llm.base import Prompt
from s3_magic.llm.fake import FakeBackend
from s3_magic.session import Session

PNG = b"\x89PNG\r\n\x1a\n"


# -- protocol -----------------------------------------------------------------------------------------------
def test_arm_tasks_follow_the_protocol():
    needs_data()
    p = get_protocol("full")
    assert p.seeds == (0, 1, 2) and p.validation == 200 and p.gold_large == 5000
    for seed in (0, 2):
        tasks = {arm: arm_task(p, arm, seed, zerogen_examples=123) for arm in ARMS if arm not in EXTRA_ARMS}
        for task in tasks.values():
            assert task.split.validation == 200 and task.split.seed == seed and task.seed == seed
            assert task.llm.spec == "local:embedded" and task.llm.options["seed"] == seed
            assert (task.llm.temperature, task.llm.top_p) == (0.9, 0.95)
            assert task.filters.reject_test_copies is False
            assert task.student == tasks["s3"].student, "the same student recipe for every arm"
        assert tasks["s3"].method == "s3" and tasks["s3"].sizes.rationales_per_example > 0
        assert tasks["s3_no_rationales"].sizes.rationales_per_example == 0
        assert tasks["s3_no_rationales"].sizes.rounds == tasks["s3"].sizes.rounds
        assert tasks["zerogen"].method == "zerogen" and tasks["zerogen"].sizes.zerogen_accepted == 123
        assert tasks["gold_val"].method == "gold" and tasks["gold_val"].gold is None
        gold = tasks["gold_large"].gold
        assert gold.path.endswith("sst2/train.jsonl") and gold.limit == 5000 and gold.seed == seed
    with pytest.raises(ConfigError, match="S3 arm"):
        arm_task(p, "zerogen", 0)


def test_arm_and_seed_lists():
    assert parse_arms(None) == ["gold_val", "gold_large", "s3", "s3_plus_gold", "s3_no_rationales", "zerogen"]
    assert parse_arms("s3_plus_gold") == ["s3", "s3_plus_gold"], "the extra arm trains on the S3 arm's data"
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


@pytest.mark.parametrize(("argv", "message"), [(["--arms", "nope"], "unknown arm"), (["--seeds", "x"], "--seeds")])
def test_bench_cli_rejects_bad_lists(argv, message, capsys, tmp_path):
    assert main(["bench", "--out", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- statistics, report, plot on synthetic arm results ---------------------------------------------------------
def fake_arm(arm: str, seed: int, accs: list[float], n_train: int = 100) -> dict:
    rounds = [
        {"round": r, "n_train": n_train + 50 * r, "val_acc": a - 0.01, "test_acc": a, "seconds": 1.0}
        for r, a in enumerate(accs)
    ]
    return {
        "arm": arm, "seed": seed, "n_train": rounds[-1]["n_train"], "val_acc": accs[-1] - 0.01,
        "test_acc": accs[-1], "prompt_tokens": 1000 * (seed + 1), "completion_tokens": 500, "llm_calls": 10,
        "seconds": 12.5, "train_copies_of_test": 0, "rounds": rounds,
    }  # fmt: skip


def synthetic_results() -> dict:
    arms = {}
    for arm in ARMS:
        accs = {"s3": [0.70, 0.75, 0.78], "s3_no_rationales": [0.68, 0.71, 0.72]}.get(arm, [0.8])
        arms[arm] = [fake_arm(arm, s, [a + 0.02 * s for a in accs]) for s in (0, 1, 2)]
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
    assert s["prompt_tokens_mean"] == 1500 and s["n_seeds"] == 2
    rows = per_round([fake_arm("s3", 0, [0.6, 0.7]), fake_arm("s3", 1, [0.8, 0.9])])
    assert [r["round"] for r in rows] == [0, 1]
    assert math.isclose(rows[1]["test_acc_mean"], 0.8) and rows[0]["n_seeds"] == 2


def test_results_json_markdown_and_plot(tmp_path):
    results = synthetic_results()
    assert list(results["arms"]) == list(ARMS)
    for arm in ROUND_ARMS:
        assert len(results["arms"][arm]["per_round"]) == 3
    md = markdown(results)
    for title in ARMS.values():
        assert title in md
    assert "80.0 ± 2.0" in md, "S3's final test accuracy, mean ± std over three seeds"
    assert "## Accuracy per round" in md and "## Speed" in md and "5.00×" in md and "Test CPU" in md
    gaps = {(g["arm"], g["baseline"]): g for g in results["gaps"]}
    assert math.isclose(gaps["s3", "zerogen"]["gap_mean"], -2.0) and not gaps["s3", "zerogen"]["met"]
    assert "## Quality targets" in md and "| S3 − ZeroGen | -2.0 ± 0.0 | ≥ +4 | not met |" in md
    paths = write_results(results, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert set(data["arms"]) == set(ARMS) and data["machine"]["cores"] == 2
    assert paths["markdown"].read_text() == md
    assert paths["plot"].read_bytes().startswith(PNG)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "accuracy_per_round.png", "results.json", "results.md",
    ]  # fmt: skip


def test_one_seed_has_no_std_and_plot_handles_missing_arms():
    one = {"s3": [fake_arm("s3", 0, [0.7, 0.8])], "gold_val": [fake_arm("gold_val", 0, [0.81])]}
    results = build_results(get_protocol("quick").describe(), synthetic_results()["machine"], one, None,
                            {"seeds": [0], "started_at": "x", "wall_s": 1.0})  # fmt: skip
    md = markdown(results)
    assert "| S3 | 80.0 |" in md and "±" not in md.split("## Accuracy")[0].split("\n\n")[2]
    assert "## Speed" not in md
    assert plot_png(results).startswith(PNG)


# -- engine options the benchmark relies on --------------------------------------------------------------------
def repetitive_reply(prompt: Prompt) -> str:
    """Scripted replies drawn from few variants, so the near-duplicate filter rejects many."""
    return scripted_reply(Prompt(prompt.messages, sample=str(sum(map(ord, prompt.sample)) % 9)))


def test_zerogen_writes_until_the_target_is_accepted_and_resumes_identically(tmp_path, fake_llm, toy_student):
    FakeBackend.default_responder = repetitive_reply
    task = sst2_task(method="zerogen", sizes__zerogen_accepted=12)
    s = Session.create(task, folder=tmp_path / "a")
    s.run()
    accepted = s.examples(accepted=True)
    assert len(accepted) == 12 and s.rounds()[0]["n_train"] == 12
    assert len(s.examples()) > 12, "rejected examples were replaced by more prompts"
    # interrupted part-way, then resumed: the same data as the uninterrupted run
    FakeBackend.fail_after = fake_calls() + 7
    b = Session.create(task, folder=tmp_path / "b")
    with pytest.raises(Exception, match="scripted failure"):
        b.run()
    FakeBackend.fail_after = None
    Session.open(b.run_id, folder=tmp_path / "b").run()
    assert [(e["gen_key"], e["text"], e["accepted"]) for e in b.examples()] == [
        (e["gen_key"], e["text"], e["accepted"]) for e in s.examples()
    ]


def test_zerogen_stops_at_the_prompt_cap(tmp_path, fake_llm, toy_student):
    FakeBackend.default_responder = repetitive_reply
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
def scripted_protocol():
    return dataclasses.replace(get_protocol("tiny"), llm="fake:scripted")


def test_round_measurement_extrapolates_the_capped_errors(tmp_path, fake_llm, toy_student):
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


def test_run_benchmark_writes_every_arm_and_reruns_from_the_cache(tmp_path, fake_llm, toy_student):
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
    extra = arms["s3_plus_gold"]["seeds"][0]
    assert extra["n_train"] == arms["s3"]["seeds"][0]["n_train"] + protocol.validation
    assert extra["val_acc"] is None and 0.0 <= extra["test_acc"] <= 1.0, "trained on validation: no val accuracy"
    for arm in ("gold_val", "gold_large"):
        assert arms[arm]["summary"]["prompt_tokens_mean"] == 0
    s3 = arms["s3"]["seeds"][0]
    assert [r["round"] for r in s3["rounds"]] == [0, 1] and s3["prompt_tokens"] > 0
    assert s3["n_validation"] == protocol.validation
    assert s3["n_validation"] + s3["n_test"] == protocol.dev_limit
    assert len(arms["s3"]["per_round"]) == 2 and results["speed"] is None
    assert all(entry["seeds"][0]["cache_hits"] == 0 for entry in arms.values()), "no arm gets another's calls"
    data = json.loads(paths["json"].read_text())
    assert set(data["arms"]) == set(ARMS) and data["machine"]["cores"] >= 1
    assert all(title in paths["markdown"].read_text() for title in ARMS.values())
    assert paths["plot"].read_bytes().startswith(PNG)
    assert any("ZeroGen" in line for line in lines)
    # again: finished arms are read back, no LLM call is made, the numbers are the same
    calls = fake_calls()
    again, _ = run_benchmark(protocol, out=tmp_path / "out2", runs=tmp_path / "runs", speed=False, echo=lambda t: None)
    assert fake_calls() == calls
    assert again["arms"]["s3"]["seeds"] == arms["s3"]["seeds"]
    assert again["arms"]["s3_plus_gold"]["seeds"] == arms["s3_plus_gold"]["seeds"]
    # a changed protocol in the same run folder is refused instead of mixing results
    changed = dataclasses.replace(protocol, seed_examples=protocol.seed_examples + 1)
    with pytest.raises(ConfigError, match="other settings"):
        run_arm(changed, "s3", 0, tmp_path / "runs")


def test_the_test_split_never_changes_data_or_validation_results(tmp_path, fake_llm, toy_student, monkeypatch):
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
        [(e["gen_key"], e["text"], e["accepted"]) for e in Session.open("s3", folder=folder).examples()]
        for folder in (tmp_path / "normal" / "tiny" / "seed0" / "s3", tmp_path / "flipped" / "tiny" / "seed0" / "s3")
    ]
    assert texts[0] == texts[1]
    assert [r["val_acc"] for r in normal["rounds"]] == [r["val_acc"] for r in other["rounds"]]
    assert [r["n_errors"] for r in normal["rounds"]] == [r["n_errors"] for r in other["rounds"]]
    for a, b in zip(normal["rounds"], other["rounds"], strict=True):
        assert math.isclose(a["test_acc"] + b["test_acc"], 1.0)


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
        assert ARMS[arm] in (out / "results.md").read_text() and ARMS[arm] in printed
    assert data["arms"]["zerogen"]["seeds"][0]["n_train"] == data["arms"]["s3"]["seeds"][0]["n_train"]
    speed = data["speed"]
    assert speed["llm"]["tokens_per_s"] > 0 and speed["llm"]["naive_tokens_per_s"] > 0
    assert speed["student"]["finetune_ratio"] > 0 and speed["round"]["seconds"] > 0
    assert speed["load_ext"]["heavy_modules_imported"] == []
    assert speed["llm_ready"]["warm_s"] > 0
    assert data["machine"]["torch"] and data["machine"]["cpu"]
    assert (out / "accuracy_per_round.png").read_bytes().startswith(PNG)
