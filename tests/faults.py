"""Fake Anthropic and OpenAI APIs behind the real SDK clients, and a seeded fault injector in front of them.

Both SDKs (anthropic 2.x, openai 3.x) send their requests with ``httpx2``, not ``httpx``, so ``respx``
cannot see them; a backend gets an ``httpx2.Client`` whose ``MockTransport`` calls a :class:`Server`
(optionally wrapped in a :class:`FaultInjector`). The SDKs' own retry loops run for real, with their
backoff shrunk to milliseconds by :func:`fast_sdk_retries`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import anthropic
import httpx2
import openai
import pytest

from s3_magic.llm import get_backend
from s3_magic.llm.base import Prompt, prompt_hash

KEY = "sk-PLANTED-0123456789abcdefXYZ"
API_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE", "OPENAI_API_KEY",
           "OPENAI_BASE_URL")  # fmt: skip

Answer = Callable[[dict, int], str]
Handler = Callable[[httpx2.Request], httpx2.Response]


def anthropic_reply(body: dict, text: str) -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text[:3]}, {"type": "text", "text": text[3:]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": len(text)},
    }


def openai_reply(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": len(text), "total_tokens": 11 + len(text)},
    }


def error_body(status: int, message: str) -> dict:
    return {"type": "error", "error": {"type": f"error_{status}", "message": message}}


def echo(body: dict, occurrence: int) -> str:
    return "echo: " + body["messages"][-1]["content"]


def body_messages(body: dict) -> list[dict[str, str]]:
    """The chat messages of a request body as the library builds them (Anthropic sends the system apart)."""
    messages = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
    if body.get("system"):
        messages.insert(0, {"role": "system", "content": body["system"]})
    return messages


def body_prompt_hash(body: dict) -> str:
    """The ``prompt_hash`` the library stores for the prompt behind this request body."""
    return prompt_hash(body_messages(body))


class Server:
    """A scripted API: each request takes the next step of ``script`` (an error), then is answered by ``answer``.

    A step is a status code, ``(status, headers, message)``, or ``"timeout"``. ``answer(body, occurrence)``
    gets how many times the same body was answered before, so repeated samples of one prompt can differ.
    Every answered chat request is recorded in :attr:`paid` as ``(prompt_hash, prompt_tokens, completion_tokens)``.
    """

    def __init__(
        self, reply: Callable[[dict, str], dict], script: tuple = (), delay: float = 0.0, answer: Answer = echo
    ) -> None:
        self.reply = reply
        self.answer = answer
        self.script = deque(script)
        self.delay = delay
        self.requests: list[httpx2.Request] = []
        self.paid: list[tuple[str, int, int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._answered: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.requests.append(request)
            step = self.script.popleft() if self.script else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if step == "timeout":
                raise httpx2.ReadTimeout("read timed out", request=request)
            if step is not None:
                status, headers, message = step if isinstance(step, tuple) else (step, {}, f"scripted {step}")
                return httpx2.Response(status, headers=headers, json=error_body(status, message))
            if request.url.path.endswith("/models"):
                models = [{"id": "served-model", "object": "model"}]
                return httpx2.Response(200, json={"object": "list", "data": models})
            body = json.loads(request.content)
            with self._lock:
                occurrence = self._answered[request.content]
                self._answered[request.content] += 1
            payload = self.reply(body, self.answer(body, occurrence))
            usage = payload["usage"]
            tokens = (usage.get("input_tokens", usage.get("prompt_tokens")),
                      usage.get("output_tokens", usage.get("completion_tokens")))  # fmt: skip
            with self._lock:
                self.paid.append((body_prompt_hash(body), *tokens))
            return httpx2.Response(200, json=payload)
        finally:
            with self._lock:
                self.in_flight -= 1

    def client(self) -> httpx2.Client:
        return client(self)

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]


def _raise(exc: type[Exception], message: str) -> Handler:
    def fault(request: httpx2.Request) -> httpx2.Response:
        raise exc(message, request=request)

    return fault


def _status(status: int, message: str, **headers: str) -> Handler:
    return lambda request: httpx2.Response(status, headers=headers, json=error_body(status, message))


#: every fault the injector can make: API error statuses, and transport failures the SDKs see as exceptions
FAULTS: dict[str, Handler] = {
    "429 rate limit": _status(429, "rate limited", **{"retry-after": "0"}),
    "529 overloaded": _status(529, "Overloaded"),
    "500 server error": _status(500, "internal error"),
    "503 unavailable": _status(503, "service unavailable"),
    "read timeout": _raise(httpx2.ReadTimeout, "read timed out"),
    "dropped connection": _raise(httpx2.RemoteProtocolError, "Server disconnected without sending a response."),
    "connection reset": _raise(httpx2.ReadError, "[Errno 104] Connection reset by peer"),
}


class FaultInjector:
    """Fails a share ``rate`` of the requests to ``server`` with faults drawn from ``kinds``.

    Whether a request fails, and how, is decided by a hash of ``seed``, the request body and the SDK's retry
    count, so the same run meets the same faults however its calls are scheduled. With ``outage_after``, every
    request fails once that many requests were answered (a persistent outage); set ``rate`` to 0 and
    ``outage_after`` to None to end it.
    """

    def __init__(
        self, server: Server, rate: float, seed: int = 0, kinds: tuple[str, ...] = tuple(FAULTS),
        outage_after: int | None = None,
    ) -> None:  # fmt: skip
        self.server, self.rate, self.seed, self.kinds = server, rate, seed, kinds
        self.outage_after = outage_after
        self.faults: Counter[str] = Counter()
        self.requests = 0
        #: requests the SDK sent as a retry of a failed attempt
        self.retried = 0
        self._lock = threading.Lock()

    def _draw(self, request: httpx2.Request) -> str | None:
        retry = request.headers.get("x-stainless-retry-count", "0")
        digest = hashlib.sha256(f"{self.seed}|{retry}|".encode() + request.content).digest()
        outage = self.outage_after is not None and len(self.server.paid) >= self.outage_after
        if not outage and int.from_bytes(digest[:4]) / 2**32 >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[4:8]) % len(self.kinds)]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        kind = self._draw(request)
        with self._lock:
            self.requests += 1
            self.retried += request.headers.get("x-stainless-retry-count", "0") != "0"
            if kind is not None:
                self.faults[kind] += 1
        if kind is None:
            return self.server(request)
        return FAULTS[kind](request)


Transport = Server | FaultInjector | Handler


def client(transport: Transport) -> httpx2.Client:
    """An SDK ``http_client`` whose requests ``transport`` answers."""
    return httpx2.Client(transport=httpx2.MockTransport(transport))


@dataclass
class Provider:
    name: str
    reply: Callable[[dict, str], dict]
    key_env: str

    def backend(self, transport: Transport, model: str = "some-model", **options: object):
        options.setdefault("api_key", KEY)
        if self.name == "openai":
            options.setdefault("base_url", "http://llm.test/v1")
        return get_backend(f"{self.name}:{model}", http_client=client(transport), **options)


PROVIDERS = [
    Provider("anthropic", anthropic_reply, "ANTHROPIC_API_KEY"),
    Provider("openai", openai_reply, "OPENAI_API_KEY"),
]


def isolate_api_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No API key, base URL or profile from the environment reaches the SDKs."""
    for var in API_ENV:
        monkeypatch.delenv(var, raising=False)


def fast_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs back off 0.5 s * 2**n (at most 8 s) unless the server sends a positive retry-after; make it ~1 ms."""
    for module in (anthropic._base_client, openai._base_client):
        monkeypatch.setattr(module, "INITIAL_RETRY_DELAY", 0.001)
        monkeypatch.setattr(module, "MAX_RETRY_DELAY", 0.002)


def route_backends(monkeypatch: pytest.MonkeyPatch, transports: dict[str, Transport]) -> None:
    """Every backend of provider ``name`` the engine creates from a task sends its requests to ``transports[name]``."""
    import s3_magic.llm as registry

    real = registry.get_backend

    def with_transport(spec: str, **options: object):
        provider = spec.partition(":")[0]
        if provider in transports:
            options["http_client"] = client(transports[provider])
        return real(spec, **options)

    monkeypatch.setattr(registry, "get_backend", with_transport)


def engine_answer(body: dict, occurrence: int) -> str:
    """Plausible LLM output for the engine's prompts (the scripted reply of the tests' fake LLM)."""
    from conftest import scripted_reply

    return scripted_reply(Prompt(tuple(body_messages(body)), sample=str(occurrence)))
