"""Token budgets: a run stops within one call of its budget, with one line that says how to go on; resumed
with a higher budget it finishes with the same data as a run that never stopped. The dry-run estimate is
there before anything is spent, and bounds what a run spends.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from conftest import fake_calls, needs_data, sst2_task

from s3_magic.cli import main
from s3_magic.errors import BudgetExceeded
from s3_magic.session import Session


def data(s: Session) -> list[tuple]:
    return sorted((e.gen_key, e.text, e.verdict) for e in s.examples())


def spent(s: Session) -> int:
    usage = s.usage()
    return usage["prompt_tokens"] + usage["completion_tokens"]


def costliest_call(s: Session) -> int:
    with sqlite3.connect(s.store.path) as c:
        return c.execute("SELECT MAX(prompt_tokens + completion_tokens) FROM llm_cache").fetchone()[0]


def test_budget_stops_within_one_call_and_resumes_to_the_same_data(tmp_path, fake_llm):
    full = Session.create(sst2_task(), folder=tmp_path / "full")
    full.run()
    reference, total = data(full), spent(full)
    calls_before = fake_calls()

    budgets = [total // 5, total // 2, total - 50]
    s = Session.create(sst2_task(**{"llm__budget_tokens": budgets[0]}), folder=tmp_path / "b", name="b")
    for budget in budgets:
        if budget != budgets[0]:
            s = Session.open("b", folder=tmp_path / "b", overrides={"llm.budget_tokens": budget})
        with pytest.raises(BudgetExceeded) as info:
            s.run()
        message = str(info.value)
        assert "\n" not in message and f"budget of {budget:,} reached" in message and "higher budget" in message
        assert budget <= spent(s) < budget + costliest_call(s), "stops at the budget, at most one call past it"
        run = s.store.get_run("b")
        assert (run["status"], run["message"]) == ("stopped", message)
        assert s.store.integrity_check() == []
        paid = fake_calls()
        with pytest.raises(BudgetExceeded):
            s.run()  # still over budget: stops before making any call
        assert fake_calls() == paid

    s = Session.open("b", folder=tmp_path / "b", overrides={"llm.budget_tokens": 10 * total})
    s.run()
    assert s.store.get_run("b")["status"] == "finished"
    assert data(s) == reference, "a run stopped three times makes the same data as one that never stopped"
    assert s.usage()["calls"] == fake_calls() - calls_before, "no call was paid twice across the resumes"
    assert spent(s) == total


def test_estimate_comes_before_any_call_and_bounds_the_run(tmp_path, fake_llm):
    s = Session.create(sst2_task(**{"llm__budget_tokens": 1000}), folder=tmp_path)
    est = s.estimate()
    assert fake_calls() == 0 and s.usage()["calls"] == 0
    assert (est["validation"], est["check"], est["test"], est["budget_tokens"]) == (45, 15, 60, 1000)
    assert est["fits_seed"] is False and est["fits_all"] is False
    s.update({"llm.budget_tokens": est["max_tokens"]})
    assert s.estimate()["fits_all"] is True
    s.run()
    rows = s.rounds()
    assert est["seed_calls"] <= rows[0].llm_calls, "seed_calls counts the fewest calls round 0 needs"
    assert s.usage()["calls"] <= est["max_calls"] and spent(s) <= est["max_tokens"]
    assert rows[0].prompt_tokens + rows[0].completion_tokens <= est["max_seed_tokens"]
    after = s.estimate()
    assert (after["seed_calls"], after["max_calls"], after["max_tokens"]) == (0, 0, 0), "nothing is left to spend"


def test_estimate_counts_the_demonstrations_in_seed_and_rationale_prompts(tmp_path, fake_llm):
    plain = Session.create(sst2_task(**{"sizes__rounds": 0}), folder=tmp_path / "plain").estimate()
    task = sst2_task(**{"sizes__rounds": 0, "sizes__demonstrations": 3, "sizes__rationale_demonstrations": 2})
    s = Session.create(task, folder=tmp_path / "demos")
    est = s.estimate()
    assert est["max_seed_tokens"] > plain["max_seed_tokens"], "shown examples make longer prompts"
    s.run()
    row = s.rounds()[0]
    assert row.prompt_tokens + row.completion_tokens <= est["max_seed_tokens"]


def test_cli_budget_stop_then_resume(tmp_path, fake_llm, capsys):
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(sst2_task(**{"sizes__rounds": 1})))
    folder = str(tmp_path / "runs")
    assert main(["run", str(task), "--folder", folder, "--budget", "900", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "LLM calls: about 42 for the seed data" in out and "budget: 900 tokens — may stop" in out
    assert fake_calls() == 0
    assert main(["run", str(task), "--folder", folder, "-q", "--budget", "900", "--name", "r"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.strip().splitlines()[-1].startswith("error: token budget of 900 reached")
    assert "run r (sst2-test) — stopped" in captured.out
    assert main(["resume", "r", "--folder", folder, "-q", "--budget", "1000000"]) == 0
    assert "run r (sst2-test) — finished" in capsys.readouterr().out
    s = Session.open("r", folder=folder)
    keys = [e.gen_key for e in s.examples()]
    assert len(keys) == len(set(keys)) and s.usage()["calls"] == fake_calls()


RTE = {
    "name": "rte-test", "kind": "pair",
    "labels": {"entailment": {"word": "definitely true"}, "not_entailment": {"word": "false"}},
    "validation": {"path": "${S3_MAGIC_DATA}/rte/dev.jsonl", "text": "text_a", "text_b": "text_b"},
    "split": {"validation": 80, "seed": 1},
    "sizes": {"rationales_per_example": 0, "seed_examples": 30, "examples_per_error": 2, "rounds": 1},
    "llm": {"spec": "fake:x"},
    "student": {"mode": "wordcount"},
}  # fmt: skip


@pytest.mark.parametrize(
    "task",
    [
        lambda: sst2_task(method="zerogen"),
        lambda: sst2_task(method="zerogen", **{"sizes__zerogen_accepted": 20}),
        lambda: sst2_task(method="gold"),
        lambda: sst2_task(rationales={"positive": ["great acting"]}, **{"sizes__rationales_per_example": 1}),
        lambda: RTE,
    ],
    ids=["zerogen", "zerogen until 20 accepted", "gold", "one label's rationales given", "pair task"],
)
def test_estimate_bounds_every_method(task, tmp_path, fake_llm, monkeypatch):
    monkeypatch.setenv("S3_MAGIC_DATA", str(needs_data()))
    s = Session.create(task(), folder=tmp_path)
    est = s.estimate()
    s.run()
    r0 = s.rounds()[0]
    assert est["seed_calls"] <= (r0.llm_calls or 0) and s.usage()["calls"] <= est["max_calls"]
    assert spent(s) <= est["max_tokens"]
    if s.task.method == "gold":
        assert est["max_calls"] == 0 and fake_calls() == 0


def folder_state(folder: Path) -> dict[str, tuple[bytes, int]] | None:
    """Every file under ``folder`` with its bytes and modification time; None when there is no folder."""
    if not folder.exists():
        return None
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def test_dry_runs_and_estimates_write_nothing(tmp_path, fake_llm, capsys):
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(sst2_task(**{"sizes__rounds": 1})))
    folder = tmp_path / "runs"
    assert main(["run", str(task), "--folder", str(folder), "--dry-run", "--name", "r"]) == 0
    assert "nothing was written" in capsys.readouterr().out
    assert Session.dry_run(str(task), folder=folder)["seed_calls"] == 42
    assert folder_state(folder) is None, "no run folder was made"

    with Session.create(str(task), folder=folder, name="done") as s:
        s.run()
    before, calls = folder_state(folder), fake_calls()
    assert set(before) == {"s3.sqlite"}
    assert main(["run", str(task), "--folder", str(folder), "--dry-run", "--budget", "900"]) == 0
    assert "LLM calls: about 42 for the seed data" in capsys.readouterr().out
    assert main(["run", str(task), "--folder", str(folder), "--dry-run", "--name", "done"]) == 2
    assert capsys.readouterr().err.strip() == "error: a run named 'done' already exists; pick another name or resume it"
    assert Session.dry_run(str(task), folder=folder, name="new")["max_calls"] > 0
    assert folder_state(folder) == before, "the run folder is unchanged, byte for byte"
    assert fake_calls() == calls, "no dry run made a call"

    with Session.open("done", folder=folder, overrides={"sizes.rounds": 2}) as s:
        record, changes = s.store.get_run("done"), s.store._conn.total_changes
        est = s.estimate()
        assert s.store._conn.total_changes == changes and s.store.get_run("done") == record, "estimate only reads"
    assert est["max_calls"] > 0 and est["seed_calls"] == 0
    with sqlite3.connect(folder / "s3.sqlite") as c:
        assert c.execute("SELECT id FROM runs ORDER BY id").fetchall() == [("done",)], "no run record was made"
