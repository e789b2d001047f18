"""Provider batch APIs (``llm.options.batch``), through the real ``anthropic`` and ``openai`` SDK clients.

:class:`BatchApi` fakes each provider's batch endpoints (Anthropic Message Batches; the OpenAI Files and Batch
APIs) in front of a :class:`faults.Server`, which answers the single calls. A batch answers every request it holds
with the server's own answer, once it has been polled ``polls`` times. A run with batches must hold the same data
as a run of single calls, a run interrupted while its batch runs must resume with that batch (no new one, nothing
paid twice), and a request that failed inside a batch is retried alone, as a single call.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable

import httpx2
import pytest
from conftest import sst2_task
from faults import (
    KEY,
    PROVIDERS,
    Provider,
    Server,
    body_prompt_hash,
    engine_answer,
    fast_sdk_retries,
    isolate_api_env,
    route_backends,
)
from test_faults import assert_complete, assert_paid_once

from s3_magic.errors import BackendError, ConfigError
from s3_magic.llm import GenParams, Prompt
from s3_magic.llm.cached import CachedLLM
from s3_magic.llm.prices import listed_price, price_for
from s3_magic.session import Session
from s3_magic.store import RunStore
from s3_magic.task import TaskSpec

POLL = 0.1  # the shortest llm.options.batch_poll_seconds


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param


@pytest.fixture(autouse=True)
def api_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_api_env(monkeypatch)
    fast_sdk_retries(monkeypatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


class Interrupt:
    """Raises KeyboardInterrupt (Ctrl-C in the process polling) at the ``at``-th status request, once."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, polls: int) -> None:
        if polls == self.at:
            self.at = -1
            raise KeyboardInterrupt


class BatchApi:
    """A provider's batch endpoints; every other request goes to ``server`` (single calls).

    A batch ends at its ``polls``-th status request. Each request in it is answered as ``server`` would answer
    it (``server.answer``, counting repeats of one body in the order they arrive) and booked in ``server.paid``,
    unless ``fail(body)`` is true, when it errors (and is not paid for). ``on_poll(n)`` runs at the n-th status
    request of the batch (1, 2, ...) before it is answered; ``status_requests`` counts them up to the last one.
    """

    def __init__(
        self, provider: Provider, server: Server, polls: int = 2, fail: Callable[[dict], bool] = lambda body: False,
        on_poll: Callable[[int], None] = lambda n: None,
    ) -> None:  # fmt: skip
        self.name, self.server, self.polls, self.fail, self.on_poll = provider.name, server, polls, fail, on_poll
        self.creates: list[str] = []
        self.status_requests: Counter[str] = Counter()
        self.results: dict[str, list[tuple[str, dict | None]]] = {}
        self.files: dict[str, bytes] = {}
        self._seen: Counter[str] = Counter()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path, method = request.url.path, request.method
        routes = ANTHROPIC_ROUTES if self.name == "anthropic" else OPENAI_ROUTES
        for (verb, pattern), handler in routes.items():
            if verb == method and (m := re.fullmatch(pattern, path)):
                return handler(self, request, *m.groups())
        return self.server(request)

    # -- what both fakes share
    def _answer(self, custom_id: str, body: dict) -> tuple[str, dict | None]:
        if self.fail(body):
            return custom_id, None
        canonical = json.dumps(body, sort_keys=True)
        occurrence, self._seen[canonical] = self._seen[canonical], self._seen[canonical] + 1
        payload = self.server.reply(body, self.server.answer(body, occurrence))
        usage = payload["usage"]
        tokens = (usage.get("input_tokens", usage.get("prompt_tokens")),
                  usage.get("output_tokens", usage.get("completion_tokens")))  # fmt: skip
        self.server.paid.append((body_prompt_hash(body), *tokens))
        return custom_id, payload

    def _make(self, requests: list[tuple[str, dict]]) -> str:
        batch_id = f"batch_{len(self.creates) + 1}"
        self.creates.append(batch_id)
        self.results[batch_id] = [self._answer(cid, body) for cid, body in requests]
        return batch_id

    def _poll(self, batch_id: str) -> bool:
        """Counts a status request until the batch has ended; whether it has."""
        if self.status_requests[batch_id] < self.polls:
            self.status_requests[batch_id] += 1
            self.on_poll(self.status_requests[batch_id])
        return self.status_requests[batch_id] >= self.polls

    def failed(self) -> int:
        return sum(payload is None for results in self.results.values() for _, payload in results)

    # -- Anthropic Message Batches
    def _anthropic_batch(self, batch_id: str, ended: bool) -> dict:
        results = self.results[batch_id]
        bad = sum(p is None for _, p in results)
        counts = {"processing": 0 if ended else len(results), "succeeded": len(results) - bad if ended else 0,
                  "errored": bad if ended else 0, "canceled": 0, "expired": 0}  # fmt: skip
        return {
            "id": batch_id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": "2026-12-01T00:00:00Z", "expires_at": "2026-12-02T00:00:00Z",
            "ended_at": "2026-12-01T01:00:00Z" if ended else None, "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results" if ended else None,
        }  # fmt: skip

    def anthropic_create(self, request: httpx2.Request) -> httpx2.Response:
        requests = [(r["custom_id"], r["params"]) for r in json.loads(request.content)["requests"]]
        return httpx2.Response(200, json=self._anthropic_batch(self._make(requests), ended=False))

    def anthropic_retrieve(self, request: httpx2.Request, batch_id: str) -> httpx2.Response:
        return httpx2.Response(200, json=self._anthropic_batch(batch_id, self._poll(batch_id)))

    def anthropic_results(self, request: httpx2.Request, batch_id: str) -> httpx2.Response:
        lines = []
        for cid, payload in self.results[batch_id]:
            error = {"type": "error", "error": {"type": "api_error", "message": "scripted failure"}}
            result = (
                {"type": "errored", "error": error} if payload is None else {"type": "succeeded", "message": payload}
            )
            lines.append(json.dumps({"custom_id": cid, "result": result}) + "\n")
        return httpx2.Response(200, content="".join(lines).encode())

    # -- the OpenAI Files and Batch APIs
    def openai_upload(self, request: httpx2.Request) -> httpx2.Response:
        file_id = f"file-in-{len(self.files) + 1}"
        self.files[file_id] = uploaded_file(request)
        meta = {"id": file_id, "object": "file", "bytes": len(self.files[file_id]), "created_at": 0,
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}  # fmt: skip
        return httpx2.Response(200, json=meta)

    def _openai_batch(self, batch_id: str, ended: bool) -> dict:
        results = self.results[batch_id]
        bad = sum(p is None for _, p in results)
        counts = {"total": len(results), "completed": len(results) - bad if ended else 0, "failed": bad if ended else 0}
        return {
            "id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
            "input_file_id": "file-in", "created_at": 0, "status": "completed" if ended else "in_progress",
            "request_counts": counts, "output_file_id": f"file-out-{batch_id}" if ended else None,
            "error_file_id": f"file-err-{batch_id}" if ended and bad else None,
        }  # fmt: skip

    def openai_create(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        assert (body["endpoint"], body["completion_window"]) == ("/v1/chat/completions", "24h")
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].decode().splitlines()]
        assert {line["url"] for line in lines} == {"/v1/chat/completions"}
        batch_id = self._make([(line["custom_id"], line["body"]) for line in lines])
        return httpx2.Response(200, json=self._openai_batch(batch_id, ended=False))

    def openai_retrieve(self, request: httpx2.Request, batch_id: str) -> httpx2.Response:
        return httpx2.Response(200, json=self._openai_batch(batch_id, self._poll(batch_id)))

    def openai_content(self, request: httpx2.Request, which: str, batch_id: str) -> httpx2.Response:
        lines = []
        for n, (cid, payload) in enumerate(self.results[batch_id]):
            if (payload is None) != (which == "err"):
                continue
            error = {"error": {"message": "scripted failure", "type": "server_error"}}
            response = {"status_code": 500 if payload is None else 200, "request_id": f"req_{n}",
                        "body": error if payload is None else payload}  # fmt: skip
            lines.append(json.dumps({"id": f"batch_req_{n}", "custom_id": cid, "response": response, "error": None}))
        return httpx2.Response(200, content=("\n".join(lines) + "\n").encode())


ANTHROPIC_ROUTES = {
    ("POST", r"/v1/messages/batches"): BatchApi.anthropic_create,
    ("GET", r"/v1/messages/batches/([^/]+)"): BatchApi.anthropic_retrieve,
    ("GET", r"/v1/messages/batches/([^/]+)/results"): BatchApi.anthropic_results,
}
OPENAI_ROUTES = {
    ("POST", r"/v1/files"): BatchApi.openai_upload,
    ("POST", r"/v1/batches"): BatchApi.openai_create,
    ("GET", r"/v1/batches/([^/]+)"): BatchApi.openai_retrieve,
    ("GET", r"/v1/files/file-(out|err)-([^/]+)/content"): BatchApi.openai_content,
}


def uploaded_file(request: httpx2.Request) -> bytes:
    """The ``file`` part of a multipart upload."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    for part in request.content.split(b"--" + boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data.removesuffix(b"\r\n")
    raise AssertionError("no file in the upload")


def batch_task(provider: Provider, batch: bool, **changes) -> dict:
    options = {"concurrency": 1, "timeout": 5, "batch": batch, "batch_poll_seconds": POLL}
    return sst2_task(**{"llm__spec": f"{provider.name}:test-model", "llm__options": options, **changes})


def single_calls(server: Server) -> list[dict]:
    """The bodies of the chat requests the server answered as single calls."""
    return [json.loads(r.content) for r in server.requests if r.url.path.endswith(("/messages", "/completions"))]


def run_data(session: Session) -> dict[str, tuple]:
    return {e.gen_key: (e.text, e.text_b, e.label, e.verdict, e.accepted) for e in session.examples()}


def test_a_run_with_batches_holds_the_same_data_as_a_run_of_single_calls(provider, tmp_path, monkeypatch):
    with pytest.MonkeyPatch.context() as routed:
        route_backends(routed, {provider.name: Server(provider.reply, answer=engine_answer)})
        plain = Session.create(batch_task(provider, batch=False), folder=tmp_path / "single")
        plain.run()

    server = Server(provider.reply, answer=engine_answer)
    api = BatchApi(provider, server, polls=2)
    route_backends(monkeypatch, {provider.name: api})
    batched = Session.create(batch_task(provider, batch=True), folder=tmp_path / "batch")
    batched.run()

    assert_complete(batched)
    assert_paid_once(batched, server)
    assert run_data(batched) == run_data(plain) and len(run_data(plain)) > 40
    assert single_calls(server) == [], "every prompt went out in a batch"
    assert len(api.creates) >= 3, "one batch per call of the engine: rationales, seed data, each round"
    assert all(api.status_requests[b] == 2 for b in api.creates), "each batch was polled until it ended"
    assert batched.usage() == plain.usage()
    assert [(r.val_acc, r.test_acc, r.new_accepted) for r in batched.rounds()] == [
        (r.val_acc, r.test_acc, r.new_accepted) for r in plain.rounds()
    ]


def test_a_run_interrupted_while_its_batch_runs_resumes_with_that_batch(provider, tmp_path, monkeypatch):
    server = Server(provider.reply, answer=engine_answer)
    api = BatchApi(provider, server, polls=3, on_poll=Interrupt(at=2))
    route_backends(monkeypatch, {provider.name: api})
    s = Session.create(batch_task(provider, batch=True), folder=tmp_path, name="crash")
    with pytest.raises(KeyboardInterrupt):
        s.run()
    assert s.store.get_run("crash")["status"] == "interrupted"
    first = api.creates[0]
    assert api.creates == [first] and api.status_requests[first] == 2, "interrupted while polling the first batch"
    assert [b for b, _ in s.store.open_batches(provider.name, "test-model", "crash")] == [first], "its id is kept"
    assert s.usage()["calls"] == 0 and len(server.paid) > 0, "the batch is paid for, its results not read yet"

    s = Session.open("crash", folder=tmp_path)
    s.run()
    assert api.status_requests[first] == 3, "the resumed run polled the recorded batch"
    assert api.creates.count(first) == 1 and len(api.creates) == len(set(api.creates))
    assert_complete(s)
    assert assert_paid_once(s, server) == 0
    assert single_calls(server) == []
    assert s.store.open_batches(provider.name, "test-model", "crash") == [], "every batch was read"


def test_a_request_that_failed_in_a_batch_is_retried_alone_as_a_single_call(provider, tmp_path):
    server = Server(provider.reply)
    api = BatchApi(provider, server, fail=lambda body: "prompt 3" in json.dumps(body))
    store = RunStore(tmp_path)
    run_id = store.create_run("t", {})
    backend = provider.backend(api, batch=True, batch_poll_seconds=POLL)
    notices: list[str] = []
    backend.notice = notices.append
    llm = CachedLLM(backend, store, GenParams(), run_id=run_id)
    prompts = [Prompt.user(f"prompt {i}", sample=i) for i in range(8)]
    got = dict(llm.generate(prompts, step="r0:seed"))
    assert sorted(got) == list(range(8))
    assert all(got[i].text == f"echo: prompt {i}" for i in range(8))
    assert len(api.creates) == 1 and api.failed() == 1
    assert [body["messages"][-1]["content"] for body in single_calls(server)] == ["prompt 3"]
    assert len(server.paid) == 8 == store.usage(run_id)["calls"] == llm.stats.calls, "each prompt paid once"
    assert any("1 request(s) of batch batch_1 failed" in n for n in notices)
    assert any("batch batch_1: 0/8 done" in n for n in notices)

    again = dict(llm.generate(prompts, step="r0:seed"))
    assert all(c.cached for c in again.values()) and len(api.creates) == 1, "a second call is answered by the cache"


def test_only_prompts_not_cached_go_into_a_batch(provider, tmp_path):
    server = Server(provider.reply)
    api = BatchApi(provider, server)
    store = RunStore(tmp_path)
    llm = CachedLLM(provider.backend(api, batch=True, batch_poll_seconds=POLL), store, GenParams())
    prompts = [Prompt.user(f"prompt {i}", sample=i) for i in range(6)]
    dict(llm.generate(prompts[:4]))
    got = dict(llm.generate(prompts))
    assert [len(api.results[b]) for b in api.creates] == [4, 2]
    assert [got[i].cached for i in range(6)] == [True] * 4 + [False] * 2
    assert len(server.paid) == 6


def test_a_batch_the_provider_does_not_know_fails_with_a_line_saying_what_to_do(provider):
    backend = provider.backend(Server(provider.reply, script=(404,)), batch=True)
    with pytest.raises(BackendError, match=r"does not know batch batch_9 \(404\).*set llm.options.batch: false"):
        backend.batch_status("batch_9")


def test_batch_prices_are_half_the_list_price_and_the_options_are_checked():
    listed = listed_price("anthropic", "claude-haiku-4-5")
    halved = price_for("anthropic:claude-haiku-4-5", {"batch": True})
    assert listed is not None and halved is not None
    assert (halved.input_per_mtok, halved.output_per_mtok) == (listed.input_per_mtok / 2, listed.output_per_mtok / 2)
    assert price_for("openai:gpt-4.1-mini", {"batch": False}) == listed_price("openai", "gpt-4.1-mini")
    own = price_for("openai:gpt-4.1-mini", {"batch": True, "price": {"input": 1, "output": 2}})
    assert own is not None and (own.input_per_mtok, own.output_per_mtok) == (1, 2), "a task's own price is as given"
    with pytest.raises((ConfigError, ValueError), match=r"batch_poll_seconds"):
        TaskSpec.model_validate(batch_task(PROVIDERS[0], batch=True, llm__options={"batch_poll_seconds": 0}))
