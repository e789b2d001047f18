"""The Anthropic and OpenAI backends, driven through the real SDKs against a scripted HTTP server
(:mod:`faults`); the SDKs' own retry loop runs for real, with its backoff shrunk to milliseconds.
"""

from __future__ import annotations

import traceback

import httpx2
import pytest
from faults import (
    KEY,
    PROVIDERS,
    Provider,
    Server,
    anthropic_reply,
    fast_sdk_retries,
    isolate_api_env,
    openai_reply,
)

from s3_magic.errors import BackendError
from s3_magic.llm import GenParams, Prompt, get_backend
from s3_magic.llm.anthropic_backend import AnthropicBackend
from s3_magic.llm.concurrent import map_bounded
from s3_magic.llm.openai_backend import OpenAIBackend

PARAMS = GenParams(temperature=0.7, top_p=0.9, max_tokens=33)


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param


@pytest.fixture(autouse=True)
def clean_env_and_fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_api_env(monkeypatch)
    fast_sdk_retries(monkeypatch)


def prompts(n: int) -> list[Prompt]:
    return [Prompt.user(f"prompt {i}", sample=i, system="be brief") for i in range(n)]


def run(backend, items: list[Prompt]) -> dict:
    return dict(backend.generate(items, PARAMS))


# ---------------------------------------------------------------- request bodies and parsing


def test_anthropic_request_body_system_and_usage() -> None:
    server = Server(anthropic_reply)
    backend = AnthropicBackend("claude-test", api_key=KEY, http_client=server.client())
    messages = (
        {"role": "system", "content": "rule one"},
        {"role": "system", "content": "rule two"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "write"},
    )
    [(index, completion)] = list(backend.generate([Prompt(messages)], PARAMS))
    [body] = server.bodies()
    assert body == {
        "model": "claude-test",
        "max_tokens": 33,
        "system": "rule one\n\nrule two",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "write"},
        ],
    }  # no temperature / top_p: API version 2026-10-21 rejects them
    assert server.requests[0].url == "https://api.anthropic.com/v1/messages"
    assert (index, completion.text) == (0, "echo: write")
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, len("echo: write"))
    assert completion.extra == {"stop_reason": "end_turn"}


def test_anthropic_without_system_sends_no_system_and_default_model() -> None:
    server = Server(anthropic_reply)
    backend = AnthropicBackend("", api_key=KEY, http_client=server.client())
    run(backend, [Prompt.user("x")])
    assert backend.spec == "anthropic:claude-haiku-4-5"
    assert "system" not in server.bodies()[0]
    assert server.bodies()[0]["model"] == "claude-haiku-4-5"


def test_openai_compatible_request_body_and_usage() -> None:
    server = Server(openai_reply)
    backend = OpenAIBackend("my-model", base_url="http://llm.test/v1", api_key=KEY, http_client=server.client())
    [(_, completion)] = list(backend.generate([Prompt.user("go", system="sys")], PARAMS))
    [body] = server.bodies()
    assert body == {
        "model": "my-model",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "go"}],
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 33,
    }
    assert server.requests[0].url == "http://llm.test/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == ("echo: go", 11, 8)
    assert completion.extra == {"finish_reason": "stop"}


def test_openai_official_api_gets_max_completion_tokens() -> None:
    server = Server(openai_reply)
    backend = OpenAIBackend("", api_key=KEY, http_client=server.client())
    run(backend, [Prompt.user("go")])
    [body] = server.bodies()
    assert server.requests[0].url.host == "api.openai.com"
    assert body["model"] == "gpt-4.1-mini" and body["max_completion_tokens"] == 33 and "max_tokens" not in body


def test_openai_base_url_from_env_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    server = Server(openai_reply)
    backend = OpenAIBackend("m", http_client=server.client())
    assert run(backend, [Prompt.user("a")])[0].text == "echo: a"
    assert str(server.requests[0].url) == "http://localhost:8000/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer no-key-needed"


def test_openai_model_defaults_to_the_served_one() -> None:
    server = Server(openai_reply)
    backend = OpenAIBackend("", base_url="http://llm.test/v1", http_client=server.client())
    assert backend.spec == "openai:served-model"
    run(backend, [Prompt.user("a")])
    assert [r.url.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]


def test_openai_unreachable_server_without_model_names_the_fix() -> None:
    server = Server(openai_reply, script=(404,))
    with pytest.raises(BackendError, match=r"name the model as openai:MODEL"):
        OpenAIBackend("", base_url="http://llm.test/v1", http_client=server.client())


def test_every_index_yielded_exactly_once(provider: Provider) -> None:
    backend = provider.backend(Server(provider.reply, delay=0.002), concurrency=4)
    items = prompts(25)
    pairs = list(backend.generate(items, PARAMS))
    assert sorted(i for i, _ in pairs) == list(range(25))
    assert all(c.text == f"echo: prompt {i}" for i, c in pairs)
    assert list(backend.generate([], PARAMS)) == []


# ---------------------------------------------------------------- retries inside the SDK

TRANSIENT = {
    "429 retry-after 0": (429, {"retry-after": "0"}, "rate limited"),
    "529 overloaded": (529, {}, "Overloaded"),
    "500": 500,
    "503": 503,
    "read timeout": "timeout",
}


@pytest.mark.parametrize("failure", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_failure_is_retried(provider: Provider, failure: object) -> None:
    server = Server(provider.reply, script=(failure,))
    backend = provider.backend(server, max_retries=2)
    assert run(backend, [Prompt.user("x")])[0].text == "echo: x"
    assert len(server.requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]


def test_persistent_server_error_fails_after_retries(provider: Provider) -> None:
    server = Server(provider.reply, script=(500,) * 10)
    backend = provider.backend(server, max_retries=2)
    with pytest.raises(BackendError, match=r"server error \(500: scripted 500\) after 2 retries.*resumed"):
        run(backend, [Prompt.user("x")])
    assert len(server.requests) == 3


def test_persistent_overload_says_retry_later_or_lower_concurrency(provider: Provider) -> None:
    server = Server(provider.reply, script=(529,) * 10)
    with pytest.raises(BackendError, match=r"overloaded \(529\) after 1 retries: lower concurrency or retry later"):
        run(provider.backend(server, max_retries=1), [Prompt.user("x")])


def test_persistent_timeout(provider: Provider) -> None:
    server = Server(provider.reply, script=("timeout",) * 10)
    with pytest.raises(BackendError, match=r"timed out after 1 retries.*check base_url / network"):
        run(provider.backend(server, max_retries=1), [Prompt.user("x")])


# ---------------------------------------------------------------- errors that are not retried


def test_auth_error_names_the_env_var(provider: Provider) -> None:
    server = Server(provider.reply, script=(401,))
    with pytest.raises(BackendError, match=rf"rejected the API key \(401\): check {provider.key_env}") as info:
        run(provider.backend(server), [Prompt.user("x")])
    assert len(server.requests) == 1
    assert "\n" not in str(info.value)


def test_unknown_model(provider: Provider) -> None:
    server = Server(provider.reply, script=((404, {}, "model: nope"),))
    with pytest.raises(BackendError, match=rf"unknown model 'nope' for provider {provider.name} \(404: model: nope\)"):
        run(provider.backend(server, model="nope"), [Prompt.user("x")])


def test_bad_request_carries_the_server_message(provider: Provider) -> None:
    server = Server(provider.reply, script=((400, {}, "max_tokens: too large"),))
    with pytest.raises(BackendError, match=r"rejected the request \(400: max_tokens: too large\)"):
        run(provider.backend(server), [Prompt.user("x")])


#: error bodies of OpenAI-compatible servers: transformers serve (FastAPI's detail, a list for validation errors),
#: TGI (error as a string), a proxy's plain-text page
SERVER_ERROR_BODIES = {
    "fastapi detail": (400, {"detail": "Server is pinned to 'a'; requested 'b'."}, r"\(400: Server is pinned to 'a'"),
    "fastapi validation": (422, {"detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required"}]},
                           r"\(422: messages: Field required\)"),
    "tgi error string": (400, {"error": "Input validation error", "error_type": "validation"},
                         r"\(400: Input validation error\)"),
    "plain text": (500, "upstream crashed", r"server error \(500: upstream crashed\)"),
}  # fmt: skip


@pytest.mark.parametrize(("status", "body", "shown"), SERVER_ERROR_BODIES.values(), ids=SERVER_ERROR_BODIES.keys())
def test_compatible_server_error_bodies_are_shown(status: int, body: object, shown: str) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, text=body) if isinstance(body, str) else httpx2.Response(status, json=body)

    transport = httpx2.Client(transport=httpx2.MockTransport(answer))
    backend = OpenAIBackend("m", base_url="http://llm.test/v1", max_retries=0, http_client=transport)
    with pytest.raises(BackendError, match=shown):
        run(backend, [Prompt.user("x")])


def test_timeout_names_the_options_a_slow_server_needs(provider: Provider) -> None:
    server = Server(provider.reply, script=("timeout",) * 10)
    with pytest.raises(BackendError, match=r"higher llm\.options\.timeout or a lower llm\.options\.concurrency"):
        run(provider.backend(server, max_retries=1, timeout=5), [Prompt.user("x")])


def test_connection_error(provider: Provider) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    backend = get_backend(
        f"{provider.name}:m", api_key=KEY, base_url="http://nowhere.test/v1", max_retries=1,
        http_client=httpx2.Client(transport=httpx2.MockTransport(refuse)),
    )  # fmt: skip
    with pytest.raises(BackendError, match=r"cannot reach the .* API at http://nowhere.test/v1/ .*check base_url"):
        run(backend, [Prompt.user("x")])


def test_failure_stops_pending_work_and_keeps_earlier_results(provider: Provider) -> None:
    server = Server(provider.reply, script=(None, 401))
    got = []
    with pytest.raises(BackendError):
        for index, completion in provider.backend(server, concurrency=1).generate(prompts(6), PARAMS):
            got.append((index, completion.text))
    assert got == [(0, "echo: prompt 0")]
    assert len(server.requests) == 2  # nothing was sent after the failure


def test_concurrency_limit_is_honoured(provider: Provider) -> None:
    server = Server(provider.reply, delay=0.05)
    results = run(provider.backend(server, concurrency=3), prompts(12))
    assert len(results) == 12
    assert 1 < server.max_in_flight <= 3


# ---------------------------------------------------------------- keys and options


@pytest.mark.parametrize("key", [KEY, "plain-PLANTED-0123456789abcdef"])
def test_planted_key_never_appears(provider: Provider, key: str) -> None:
    for step in [(401, {}, f"Incorrect API key provided: {key}"), (400, {}, f"bad header: {key}")]:
        backend = provider.backend(Server(provider.reply, script=(step,)), api_key=key)
        with pytest.raises(BackendError) as info:
            run(backend, [Prompt.user("x")])
        shown = "".join(traceback.format_exception(info.value)) + repr(info.value) + repr(backend)
        shown += repr(backend.options)
        assert "PLANTED" not in shown and "0123456789abcdef" not in shown
        assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("cls", [AnthropicBackend, OpenAIBackend])
def test_missing_key_is_a_one_line_fix(cls: type) -> None:
    with pytest.raises(BackendError, match=rf"^set {cls.key_env} or pass api_key=\.\.\. to use the"):
        cls("some-model")


def test_unknown_and_invalid_options(provider: Provider) -> None:
    with pytest.raises(BackendError, match=r"unknown option 'temprature' for the .* backend; use one of base_url"):
        get_backend(f"{provider.name}:m", api_key=KEY, temprature=0.5)
    with pytest.raises(BackendError, match=r"concurrency must be a whole number >= 1"):
        get_backend(f"{provider.name}:m", api_key=KEY, concurrency=0)


def test_map_bounded_reraises_after_yielding_finished_results() -> None:
    def fn(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x * 10

    got = []
    with pytest.raises(ValueError, match="three"):
        for index, value in map_bounded(fn, [0, 1, 2, 3, 4, 5], concurrency=1):
            got.append((index, value))
    assert got == [(0, 0), (1, 10), (2, 20)]
