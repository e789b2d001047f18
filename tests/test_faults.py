"""API faults met by whole runs, through the real ``anthropic`` and ``openai`` SDK clients.

The fault injector (:mod:`faults`) answers ~30% of the requests with 429 (retry-after 0), 529, 500, 503, a read
timeout, a dropped connection or a reset; the SDKs retry. A run must complete with every planned example
stored once, and every answered (paid) request must be in the run's ledger once: nothing lost, nothing
paid twice. A persistent outage stops the run with one line, and the run resumes when the outage ends.
"""

from __future__ import annotations

import _thread
import email.utils
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx2
import pytest
import yaml
from conftest import sst2_task
from faults import (
    FAULTS,
    KEY,
    PROVIDERS,
    FaultInjector,
    Provider,
    Server,
    engine_answer,
    error_body,
    fast_sdk_retries,
    isolate_api_env,
    route_backends,
)

from s3_magic.cli import main
from s3_magic.engine.context import Reporter
from s3_magic.errors import BackendError
from s3_magic.llm import GenParams, Prompt, concurrent
from s3_magic.llm.anthropic_backend import AnthropicBackend
from s3_magic.llm.cached import CachedLLM
from s3_magic.llm.openai_backend import OpenAIBackend
from s3_magic.session import Session
from s3_magic.store import RunStore


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param


@pytest.fixture(autouse=True)
def api_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_api_env(monkeypatch)
    fast_sdk_retries(monkeypatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def api_task(provider: Provider, concurrency: int = 4, max_retries: int = 6, **changes) -> dict:
    options = {"concurrency": concurrency, "max_retries": max_retries, "timeout": 5}
    return sst2_task(**{"llm__spec": f"{provider.name}:test-model", "llm__options": options, **changes})


def ledger(store: RunStore, run_id: str) -> list[tuple[str, int, int]]:
    with sqlite3.connect(store.path) as c:
        return c.execute(
            "SELECT prompt_hash, prompt_tokens, completion_tokens FROM llm_cache WHERE run_id = ?", (run_id,)
        ).fetchall()


def assert_paid_once(session: Session, server: Server) -> int:
    """Every answered request is in the run's ledger, once; returns the duplicate charges (answered - recorded)."""
    paid = Counter(h for h, _, _ in server.paid)
    booked = Counter(h for h, _, _ in ledger(session.store, session.run_id))
    assert booked == paid, "each answered request is recorded once, and nothing else is"
    usage = session.usage()
    assert usage["calls"] == len(server.paid)
    assert usage["prompt_tokens"] == sum(p for _, p, _ in server.paid)
    assert usage["completion_tokens"] == sum(c for _, _, c in server.paid)
    return sum((paid - booked).values())


def planned_keys(session: Session) -> set[str]:
    """The gen_key of every example the run's rounds planned: each seed, and each extrapolation of each error."""
    sizes = session.task.sizes
    keys = {f"seed:{i}" for i in range(sizes.seed_examples)}
    for r in range(1, sizes.rounds + 1):
        keys |= {f"r{r}:{e['uid']}:{j}" for e in session.errors(r - 1) for j in range(sizes.examples_per_error)}
    return keys


def assert_complete(session: Session) -> int:
    """Every planned example is stored exactly once; returns how many were lost."""
    keys = [e.gen_key for e in session.examples()]
    assert len(keys) == len(set(keys)), "no example is stored twice"
    lost = planned_keys(session) - set(keys)
    assert not lost, f"examples lost: {sorted(lost)[:5]}"
    assert [r.status for r in session.rounds()] == ["evaluated"] * (session.task.sizes.rounds + 1)
    assert session.store.get_run(session.run_id)["status"] == "finished"
    assert session.store.integrity_check() == []
    return len(lost)


def test_run_under_30_percent_faults_completes_with_nothing_lost_or_paid_twice(provider, tmp_path, monkeypatch):
    server = Server(provider.reply, answer=engine_answer, delay=0.001)
    faults = FaultInjector(server, rate=0.3, seed=7)
    route_backends(monkeypatch, {provider.name: faults})
    s = Session.create(api_task(provider, sizes__seed_examples=120, sizes__examples_per_error=3), folder=tmp_path)
    s.run()
    lost = assert_complete(s)
    twice = assert_paid_once(s, server)
    calls, injected = faults.requests, sum(faults.faults.values())
    assert set(faults.faults) == set(FAULTS), "every kind of fault was met"
    assert 0.2 < injected / calls < 0.4 and calls >= 300
    assert faults.retried == injected, "every failed attempt was retried, and nothing else"
    assert 1 < server.max_in_flight <= 4, "calls run in parallel, never more than the concurrency"
    print(  # shown with pytest -s
        f"\n[faults] {provider.name}: {calls} HTTP calls, {injected} faults injected "
        f"({', '.join(f'{k} {n}' for k, n in sorted(faults.faults.items()))}), "
        f"{faults.retried} retries, {len(server.paid)} answered = {s.usage()['calls']} in the ledger, "
        f"{len(s.examples())} examples, {lost} lost, {twice} paid twice, max in flight {server.max_in_flight}"
    )


@pytest.mark.parametrize("outage_after", [0, 60], ids=["from the start", "mid-run"])
def test_persistent_outage_stops_with_one_line_and_the_run_resumes(
    provider, outage_after, tmp_path, monkeypatch, capsys
):
    server = Server(provider.reply, answer=engine_answer)
    faults = FaultInjector(server, rate=0.3, seed=11, outage_after=outage_after)
    route_backends(monkeypatch, {provider.name: faults})
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(api_task(provider, **{"sizes__rounds": 1})))
    folder = str(tmp_path / "runs")
    assert main(["run", str(task), "--folder", folder, "-q", "--name", "outage"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and provider.name in last and "the run can be resumed" in last, last
    s = Session.open("outage", folder=folder)
    run = s.store.get_run("outage")
    assert run["status"] == "failed" and "BackendError" in run["message"]
    kept = {e.gen_key: e.text for e in s.examples()}
    assert outage_after <= len(server.paid) < outage_after + 4  # + the calls in flight when it began
    assert (len(kept) > 0) == (outage_after > 0)
    assert_paid_once(s, server)

    faults.rate, faults.outage_after = 0.0, None  # the outage ends
    assert main(["resume", "outage", "--folder", folder, "-q"]) == 0
    s = Session.open("outage", folder=folder)
    assert_complete(s)
    assert_paid_once(s, server)
    assert all({e.gen_key: e.text for e in s.examples()}[k] == t for k, t in kept.items())


def test_calls_in_flight_when_another_fails_for_good_are_kept(provider, tmp_path):
    """A call that fails for good must not throw away the calls in flight beside it: they were paid for."""
    server = Server(provider.reply, delay=0.1)

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b"prompt 1" in request.content:  # fails at once, for good, while 0, 2 and 3 are in flight
            return httpx2.Response(400, json=error_body(400, "bad request"))
        return server(request)

    store = RunStore(tmp_path)
    run_id = store.create_run("t", {})
    llm = CachedLLM(provider.backend(handler, concurrency=4), store, GenParams(), run_id=run_id)
    got = []
    with pytest.raises(BackendError, match=r"rejected the request \(400: bad request\)"):
        for i, _ in llm.generate([Prompt.user(f"prompt {i}", sample=i) for i in range(8)], step="r0:seed"):
            got.append(i)
    assert sorted(got) == [0, 2, 3], "the calls in flight were waited for"
    assert len(server.paid) == 3 and store.usage(run_id)["calls"] == 3
    assert len(server.requests) == 3, "nothing was sent after the failure"


def test_two_runs_write_one_folder_at_the_same_time(tmp_path, monkeypatch):
    servers = {p.name: Server(p.reply, answer=engine_answer, delay=0.002) for p in PROVIDERS}
    route_backends(monkeypatch, servers)
    sessions = {p.name: Session.create(api_task(p, concurrency=6), folder=tmp_path, name=p.name) for p in PROVIDERS}
    failures: list[BaseException] = []

    def work(s: Session) -> None:
        try:
            s.run()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    for name, s in sessions.items():
        assert_complete(s)
        assert_paid_once(s, servers[name])
        assert 1 < servers[name].max_in_flight <= 6


def test_retries_and_timeouts_are_sane_by_default_and_set_by_the_task(tmp_path, monkeypatch):
    for cls in (AnthropicBackend, OpenAIBackend):
        backend = cls("m", api_key=KEY)
        assert (backend.client.max_retries, backend.client.timeout) == (6, 60.0)
    provider = PROVIDERS[0]
    server = Server(provider.reply, script=(500,) * 10)
    route_backends(monkeypatch, {provider.name: server})
    s = Session.create(api_task(provider, concurrency=1, max_retries=1), folder=tmp_path)
    with pytest.raises(BackendError, match=r"server error \(500: scripted 500\) after 1 retries"):
        s.run()
    assert len(server.requests) == 2, "one try and max_retries=1 retry"
    assert {r.extensions["timeout"]["read"] for r in server.requests} == {5.0}


@pytest.fixture
def sigint_handled():
    """Python's own Ctrl-C handler, which ``_thread.interrupt_main`` needs: a process started in the background
    by a shell inherits an ignored SIGINT, and then interrupt_main does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_main_after(answers: int, server: Server) -> Callable[[httpx2.Request], httpx2.Response]:
    """A transport that answers through ``server`` and presses Ctrl-C in the main thread once ``answers`` are paid."""
    lock, fired = threading.Lock(), []

    def handler(request: httpx2.Request) -> httpx2.Response:
        response = server(request)
        with lock:
            if not fired and len(server.paid) >= answers:
                fired.append(True)
                _thread.interrupt_main()
        return response

    return handler


def test_ctrl_c_during_concurrent_calls_keeps_the_calls_in_flight(provider, tmp_path, monkeypatch, sigint_handled):
    """Ctrl-C while 4 calls are in flight: the calls in flight still reach the ledger, and after resuming every
    prompt the API answered is paid for exactly once."""
    server = Server(provider.reply, answer=engine_answer, delay=0.05)
    route_backends(monkeypatch, {provider.name: interrupt_main_after(20, server)})
    s = Session.create(api_task(provider, concurrency=4, **{"sizes__rounds": 1}), folder=tmp_path, name="ctrl-c")
    with pytest.raises(KeyboardInterrupt):
        s.run()
    assert s.store.get_run("ctrl-c")["status"] == "interrupted"
    assert server.max_in_flight == 4 and len(server.paid) > 20, "calls were in flight when Ctrl-C came"
    assert_paid_once(s, server)  # the calls in flight were waited for and booked before the run stopped

    route_backends(monkeypatch, {provider.name: server})
    s = Session.open("ctrl-c", folder=tmp_path)
    s.run()
    assert_complete(s)
    assert_paid_once(s, server)


def test_ctrl_c_while_the_caller_handles_a_result_keeps_the_calls_in_flight(provider, tmp_path):
    server = Server(provider.reply, delay=0.05)
    store = RunStore(tmp_path)
    run_id = store.create_run("t", {})
    llm = CachedLLM(provider.backend(server, concurrency=4), store, GenParams(), run_id=run_id)
    with pytest.raises(KeyboardInterrupt):
        for _ in llm.generate([Prompt.user(f"prompt {i}", sample=i) for i in range(8)], step="r0:seed"):
            raise KeyboardInterrupt  # Ctrl-C while the engine stores the first result
    assert len(server.paid) == 4, "nothing was sent after Ctrl-C"
    assert store.usage(run_id)["calls"] == 4 == llm.stats.calls, "the 3 calls in flight were waited for and booked"


def test_a_second_ctrl_c_abandons_the_calls_in_flight(provider, tmp_path, sigint_handled):
    server, release, notices, hanging = Server(provider.reply), threading.Event(), [], []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b"prompt 0" not in request.content:
            hanging.append(request)
            release.wait(20)  # the other calls hang
        return server(request)

    store = RunStore(tmp_path)
    run_id = store.create_run("t", {})
    backend = provider.backend(handler, concurrency=4, timeout=30)
    backend.notice = notices.append
    llm = CachedLLM(backend, store, GenParams(), run_id=run_id)
    second = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in llm.generate([Prompt.user(f"prompt {i}", sample=i) for i in range(8)], step="r0:seed"):
                second.start()
                raise KeyboardInterrupt
        waited = time.monotonic() - started
    finally:
        release.set()
        second.cancel()
    assert waited < 10, "the second Ctrl-C ended the wait for the hanging calls (up to the 30 s timeout)"
    assert store.usage(run_id)["calls"] == 1
    assert 1 <= len(hanging) <= 3, "calls not sent yet when Ctrl-C came are never sent"
    assert notices == [
        f"stopping: waiting up to 30 s for {len(hanging)} {provider.name} call(s) in flight, to keep what is paid "
        "for (Ctrl-C again to abandon them)"
    ]


@pytest.mark.parametrize(
    "headers",
    [
        lambda: {"retry-after": "600"},
        lambda: {"retry-after-ms": "600000"},
        lambda: {"retry-after": email.utils.formatdate(time.time() + 600, usegmt=True)},
    ],
    ids=["seconds", "milliseconds", "http date"],
)
def test_a_long_retry_after_fails_the_call_at_once_with_one_line(provider, headers, tmp_path):
    server = Server(provider.reply, script=((429, headers(), "rate limited"),))
    store = RunStore(tmp_path)
    llm = CachedLLM(provider.backend(server), store, GenParams(), run_id=store.create_run("t", {}))
    with pytest.raises(BackendError) as info:
        list(llm.generate([Prompt.user("prompt")]))
    assert len(server.requests) == 1, "the SDK did not wait for the retry"
    message = str(info.value)
    assert re.fullmatch(
        rf"{provider.name} asked to wait (599|600) s before retrying \(429\), longer than max_retry_wait \(60 s\): "
        r"retry later; the run can be resumed, or raise llm.options.max_retry_wait",
        message,
    ), message


def test_retry_waits_up_to_max_retry_wait_are_waited_for_and_reported(provider, tmp_path, monkeypatch):
    monkeypatch.setattr(concurrent, "NOTICE_WAIT", 0.01)  # report even short waits
    script = ((429, {"retry-after": "0.05"}, "rate limited"), (529, {"retry-after": "2"}, "overloaded"))
    server = Server(provider.reply, script=script, answer=engine_answer)
    route_backends(monkeypatch, {provider.name: server})

    class Messages(Reporter):
        said: list[str] = []  # noqa: RUF012

        def message(self, text: str) -> None:
            self.said.append(text)

    task = api_task(provider, concurrency=1, **{"llm__options__max_retry_wait": 1, "sizes__rounds": 0})
    s = Session.create(task, folder=tmp_path, name="waits", reporter=Messages())
    with pytest.raises(BackendError, match=r"asked to wait 2 s before retrying \(529\), longer than max_retry_wait"):
        s.run()
    assert f"{provider.name} asked to wait 0.05 s (429); waiting, then retrying" in Messages.said
    assert len(server.requests) == 2 and s.store.get_run("waits")["status"] == "failed"
    s = Session.open("waits", folder=tmp_path)  # the server is fine again
    s.run()
    assert_complete(s)
    assert_paid_once(s, server)


def test_max_retry_wait_must_be_seconds(provider):
    with pytest.raises(BackendError, match=r"max_retry_wait must be a number of seconds >= 0, got -1"):
        provider.backend(Server(provider.reply), max_retry_wait=-1)
