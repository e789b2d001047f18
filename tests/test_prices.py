"""Costs in US dollars: the price table and its lookup, a task's own price, the arithmetic, dollars in the dry run,
the round table and the notebook status, and a money budget that stops a run within one call and resumes.
"""

from __future__ import annotations

import socket
import sqlite3

import pytest
import yaml
from conftest import fake_calls, sst2_task

from s3_magic.cli import main
from s3_magic.engine.context import make_backend
from s3_magic.errors import BudgetExceeded, ConfigError
from s3_magic.llm.prices import DEFAULT_MODELS, PRICES_AS_OF, Price, cost_usd, format_usd, listed_price, price_for
from s3_magic.session import Session
from s3_magic.summaries import rounds_table
from s3_magic.task import TaskSpec

#: a made-up price for the fake backend, high enough that its word-count tokens cost visible money
PRICE = {"input": 100.0, "output": 200.0}


def usd(s: Session) -> float:
    usage = s.usage()
    return cost_usd(Price(PRICE["input"], PRICE["output"]), usage["prompt_tokens"], usage["completion_tokens"])


def costliest_call_usd(s: Session) -> float:
    with sqlite3.connect(s.store.path) as c:
        row = c.execute("SELECT MAX(prompt_tokens * ? + completion_tokens * ?) FROM llm_cache", (PRICE["input"],
                        PRICE["output"])).fetchone()  # fmt: skip
    return row[0] / 1_000_000


# -- the table -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("anthropic:claude-sonnet-4-5", (3.0, 15.0)),
        ("anthropic:claude-sonnet-4-5-20250929", (3.0, 15.0)),
        ("anthropic:claude-sonnet-4-20250514", (3.0, 15.0)),
        ("anthropic:claude-opus-4-1-20250805", (15.0, 75.0)),
        ("anthropic:claude-3-7-sonnet-latest", (3.0, 15.0)),
        ("anthropic:claude-3-5-haiku-20241022", (0.8, 4.0)),
        ("anthropic:claude-haiku-4-5", (1.0, 5.0)),
        ("anthropic", (1.0, 5.0)),  # the backend's default model
        ("openai:gpt-4o-2024-08-06", (2.5, 10.0)),
        ("openai:gpt-4o-2024-05-13", (5.0, 15.0)),  # an exact entry wins over the snapshot's base
        ("openai:gpt-4.1-mini", (0.4, 1.6)),
        ("openai:gpt-4.1-nano-2025-04-14", (0.1, 0.4)),
        ("openai:o4-mini", (1.1, 4.4)),
    ],
)
def test_listed_prices_match_by_name_and_snapshot(spec, expected):
    price = price_for(spec)
    assert price is not None and (price.input_per_mtok, price.output_per_mtok) == expected
    assert PRICES_AS_OF in price.source and "anthropic.com/pricing" in price.source


@pytest.mark.parametrize(
    "spec",
    [
        "anthropic:claude-sonnet-4-5-preview",  # not a dated snapshot, so not priced as claude-sonnet-4-5
        "anthropic:claude-sonnet-9",
        "openai:gpt-4.1-turbo",  # not gpt-4.1
        "anthropic:gpt-4o",  # another provider's model
    ],
)
def test_unknown_models_have_no_price(spec):
    assert price_for(spec) is None


def test_a_server_of_ones_own_has_no_price_and_local_compute_is_free(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert price_for("openai:gpt-4o-mini", {"base_url": "http://127.0.0.1:8000/v1"}) is None
    official = price_for("openai:gpt-4o-mini", {"base_url": "https://api.openai.com/v1"})
    assert official == listed_price("openai", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    assert price_for("openai:gpt-4o-mini") is None
    for spec in ("local:embedded", "oracle:pool.jsonl", "fake:scripted"):
        price = price_for(spec)
        assert price is not None and price.free and price.source == "local compute"


def test_default_models_agree_with_the_backends():
    for provider in DEFAULT_MODELS:
        module = pytest.importorskip(f"s3_magic.llm.{provider}_backend")
        assert DEFAULT_MODELS[provider] == module.DEFAULT_MODEL


# -- a task's own price ----------------------------------------------------------------------------------------
def test_a_task_price_wins_and_is_not_passed_to_the_backend(fake_llm, monkeypatch):
    spec = TaskSpec.from_dict(sst2_task(**{"llm__options": {"price": {"input": 2, "output": 3.5}}}))
    assert spec.llm.price() == Price(2.0, 3.5, source="llm.options.price")
    assert spec.llm.options["price"] == {"input": 2.0, "output": 3.5}
    assert make_backend(spec).provider == "fake", "the fake backend refuses unknown options, so price never reached it"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    claude = spec.updated({"llm.spec": "anthropic:claude-sonnet-4-5", "llm.options.concurrency": 2})
    assert claude.llm.price().input_per_mtok == 2.0, "the task's price wins over the list price"
    backend = make_backend(claude)
    assert "price" not in backend.options and backend.concurrency == 2
    backend.close()
    assert TaskSpec.from_yaml(claude.to_yaml()).llm.options["price"] == {"input": 2.0, "output": 3.5}


@pytest.mark.parametrize(
    ("price", "words"),
    [
        ({"input": -1, "output": 2}, "price.input must be a number >= 0, got -1"),
        ({"input": 1}, "price needs output"),
        ({"input": 1, "output": 2, "cached": 0.1}, "unknown key(s) cached"),
        ({"input": "three", "output": 2}, "price.input must be a number >= 0, got 'three'"),
        ({"input": True, "output": 2}, "price.input must be a number >= 0, got True"),
        ({"input": 1, "output": float("nan")}, "price.output must be a number >= 0"),
        (3, "price must be a mapping with input and output"),
    ],
)
def test_bad_prices_are_one_line_config_errors(price, words):
    with pytest.raises(ConfigError) as info:
        TaskSpec.from_dict(sst2_task(**{"llm__options": {"price": price}}))
    message = str(info.value)
    assert "\n" not in message and message.startswith("llm.options: ") and words in message
    assert "e.g. price: {input: 3, output: 15} (USD per million tokens)" in message


def test_a_money_budget_needs_a_price(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"^llm: budget_usd needs a price, and 'openai:my-model' has none listed; "
                       r"set llm\.options\.price"):  # fmt: skip
        TaskSpec.from_dict(sst2_task(**{"llm__spec": "openai:my-model", "llm__budget_usd": 5}))
    with pytest.raises(ConfigError, match=r"llm\.budget_usd: Input should be greater than 0"):
        TaskSpec.from_dict(sst2_task(**{"llm__budget_usd": 0}))
    priced = sst2_task(**{"llm__spec": "openai:my-model", "llm__budget_usd": 5, "llm__options": {"price": PRICE}})
    assert TaskSpec.from_dict(priced).llm.budget_usd == 5.0
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(sst2_task()))
    argv = ["run", str(task), "--folder", str(tmp_path / "runs"), "--dry-run", "--llm", "openai:my-model"]
    assert main([*argv, "--budget-usd", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "set llm.options.price" in err


# -- the arithmetic --------------------------------------------------------------------------------------------
def test_cost_arithmetic_and_display():
    sonnet = Price(3.0, 15.0)
    assert cost_usd(sonnet, 1_000_000, 0) == 3.0
    assert cost_usd(sonnet, 0, 1_000_000) == 15.0
    assert cost_usd(sonnet, 12_345, 678) == pytest.approx(0.047205)  # 0.037035 in + 0.01017 out
    assert cost_usd(Price(0.15, 0.6), 2_000, 500) == pytest.approx(0.0006)  # gpt-4o-mini: 0.0003 + 0.0003
    assert cost_usd(Price(0.0, 0.0), 10**9, 10**9) == 0.0
    shown = [format_usd(x) for x in (None, 0.0, 0.0006, 0.047205, 1234.5)]
    assert shown == ["–", "$0", "$0.0006", "$0.05", "$1,234.50"]
    assert sonnet.describe() == "$3 / $15 per million input / output tokens"


# -- dollars shown ---------------------------------------------------------------------------------------------
def test_dry_run_shows_dollars_for_claude_without_the_network(tmp_path, fake_llm, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("a dry run opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(sst2_task(**{"sizes__rounds": 1})))
    spec = "anthropic:claude-haiku-4-5-20251001"
    est = Session.dry_run(str(task), folder=tmp_path / "runs", overrides={"llm.spec": spec})
    prompt_tokens = est["max_tokens"] - est["max_completion_tokens"]
    assert est["price"] == listed_price("anthropic", "claude-haiku-4-5")
    assert est["max_cost_usd"] == pytest.approx((prompt_tokens * 1.0 + est["max_completion_tokens"] * 5.0) / 1e6)
    assert 0 < est["max_seed_cost_usd"] < est["max_cost_usd"] and est["spent_usd"] == 0.0
    budget = est["max_seed_cost_usd"] * 1.01
    argv = ["run", str(task), "--folder", str(tmp_path / "runs"), "--dry-run", "--llm", spec]
    assert main([*argv, "--budget-usd", str(budget)]) == 0
    out = capsys.readouterr().out
    assert (
        f"cost: at most {format_usd(est['max_seed_cost_usd'])} for the seed data, {format_usd(est['max_cost_usd'])} "
        "in total at $1 / $5 per million input / output tokens (anthropic.com/pricing" in out
    )
    assert (
        f"budget: {format_usd(budget)} — covers the seed data; a stopped run resumes with a higher --budget-usd\n"
        in out
    )
    assert not (tmp_path / "runs").exists() and fake_calls() == 0

    assert main(["run", str(task), "--folder", str(tmp_path / "runs"), "--dry-run"]) == 0
    assert "cost: $0 (local compute)" in capsys.readouterr().out, "the fake backend costs nothing"
    assert main([*argv[:-1], "anthropic:claude-unlisted"]) == 0
    assert "cost: – (anthropic:claude-unlisted has no listed price; set llm.options.price" in capsys.readouterr().out


def test_rounds_and_status_show_what_each_round_cost(tmp_path, fake_llm):
    from s3_magic import twins

    try:
        twins.synthesize(sst2_task(**{"sizes__rounds": 1, "llm__options": {"price": PRICE}}), folder=tmp_path)
        s = twins.current()
        s.run()
        rows = s.rounds()
        assert [r.round for r in rows] == [0, 1]
        for r in rows:
            assert r.cost_usd == pytest.approx((r.prompt_tokens * 100 + r.completion_tokens * 200) / 1e6)
            assert r.cost_usd > 0
        assert sum(r.cost_usd for r in rows) == pytest.approx(s.cost_usd()) and s.cost_usd() == pytest.approx(usd(s))
        table = rounds_table(rows).splitlines()
        assert "cost" in table[0].split()
        assert format_usd(rows[1].cost_usd) in table[-1].split()
        assert "cost" not in rounds_table(s.store.rounds(s.run_id)).splitlines()[0].split(), "stored rows carry no cost"
        assert list(s.rounds_frame()["cost_usd"]) == [r.cost_usd for r in rows]
        info = twins.status()._tables["run"][0]
        assert info["cost"] == format_usd(s.cost_usd())
    finally:
        twins.STATE.session = None


# -- the money budget ------------------------------------------------------------------------------------------
def test_money_budget_stops_within_one_call_and_resumes_to_the_same_data(tmp_path, fake_llm):
    task = sst2_task(**{"sizes__rounds": 1, "llm__options": {"price": PRICE}})
    full = Session.create(task, folder=tmp_path / "full")
    full.run()
    reference = sorted((e.gen_key, e.text) for e in full.examples())
    total = usd(full)
    calls_before = fake_calls()

    budgets = [total / 5, total / 2]
    s = Session.create({**task, "llm": {**task["llm"], "budget_usd": budgets[0]}}, folder=tmp_path / "b", name="b")
    for budget in budgets:
        if budget != budgets[0]:
            s = Session.open("b", folder=tmp_path / "b", overrides={"llm.budget_usd": budget})
        with pytest.raises(BudgetExceeded) as info:
            s.run()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"money budget of {format_usd(budget)} reached (")
        assert message.endswith("resume the run with a higher budget (--budget-usd) to go on")
        assert budget <= usd(s) < budget + costliest_call_usd(s), "stops at the budget, at most one call past it"
        assert s.store.get_run("b")["status"] == "stopped"
        paid = fake_calls()
        with pytest.raises(BudgetExceeded):
            s.run()
        assert fake_calls() == paid, "still over budget: no call is made"
        assert s.estimate()["fits_all"] is False

    s = Session.open("b", folder=tmp_path / "b", overrides={"llm.budget_usd": 2 * total})
    assert s.estimate()["budget_usd"] == 2 * total
    s.run()
    assert s.store.get_run("b")["status"] == "finished"
    assert sorted((e.gen_key, e.text) for e in s.examples()) == reference
    assert s.usage()["calls"] == fake_calls() - calls_before, "no call was paid twice"
    assert usd(s) == pytest.approx(total)


def test_cli_money_budget_stop_then_resume(tmp_path, fake_llm, capsys):
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(sst2_task(**{"sizes__rounds": 1, "llm__options": {"price": PRICE}})))
    folder = str(tmp_path / "runs")
    assert main(["run", str(task), "--folder", folder, "-q", "--budget-usd", "0.05", "--name", "r"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.strip().splitlines()[-1].startswith("error: money budget of $0.05 reached")
    assert "run r (sst2-test) — stopped" in captured.out
    spent = Session.open("r", folder=folder).cost_usd()
    assert spent >= 0.05
    assert main(["resume", "r", "--folder", folder, "-q", "--budget-usd", "1000"]) == 0
    out = capsys.readouterr().out
    assert "run r (sst2-test) — finished" in out
    s = Session.open("r", folder=folder)
    assert f"completion tokens, {format_usd(s.cost_usd())}; wall time" in out
    assert s.usage()["calls"] == fake_calls() and s.task.llm.budget_usd == 1000.0


def test_magics_take_a_money_budget(shell, tmp_path, fake_llm):
    from IPython.utils.capture import capture_output

    from s3_magic import twins

    cell = yaml.safe_dump(sst2_task(**{"llm__options": {"price": PRICE}}))
    try:
        shell.run_line_magic("config", "S3Magics.budget_usd = 1000.0")
        with capture_output():
            shell.run_cell_magic("s3_synthesize", f"--folder {tmp_path} --seed-examples 4", cell)
        assert twins.current().task.llm.budget_usd == 1000.0, "the trait is the default"
        with capture_output():
            shell.run_cell_magic("s3_synthesize", f"--folder {tmp_path} --seed-examples 4 --budget-usd 2.5", cell)
        assert twins.current().task.llm.budget_usd == 2.5, "the option wins over the trait"
    finally:
        shell.run_line_magic("config", "S3Magics.budget_usd = None")
