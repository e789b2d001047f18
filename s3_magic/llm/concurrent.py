"""What the API backends share: bounded concurrent calls and one-line, key-free failure messages.

Both official SDKs (``anthropic``, ``openai``) are generated from the same template, so their
clients retry 408/409/429/5xx and connection errors themselves (``max_retries``, exponential
backoff, ``retry-after`` honoured) and raise the same family of exceptions. :class:`ApiBackend`
runs one SDK call per prompt on at most ``concurrency`` threads and turns a final failure into a
:class:`~s3_magic.errors.BackendError` that says what to do. A server that asks to wait longer than
``max_retry_wait`` fails the call at once instead of holding the run silently; after Ctrl-C the calls
in flight are waited for a short while, so their (paid) results can be stored.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar, TypeVar

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, BatchApi, BatchStatus, Completion, GenParams, Prompt
from s3_magic.llm.options import ApiOptions

T = TypeVar("T")
R = TypeVar("R")

_KEYLIKE = re.compile(r"(sk-|Bearer\s+)[A-Za-z0-9_\-*.]{4,}")
_MAX_DETAIL = 200
#: how often a thread waiting for calls wakes up: to see Ctrl-C on every platform and to pass on notices
_TICK = 0.2
#: a wait the server asks for that is at least this long (seconds) is reported to the user
NOTICE_WAIT = 5.0


def map_bounded(
    fn: Callable[[T], R],
    items: Sequence[T],
    concurrency: int,
    in_flight: dict[Future[R], int] | None = None,
    poll: Callable[[], None] | None = None,
) -> Iterator[tuple[int, R]]:
    """Yield ``(index, fn(item))`` as calls complete, with at most ``concurrency`` calls in flight.

    The first exception stops the submission of further items. The calls already in flight are waited
    for and their results yielded (an API call that succeeded is paid for, so its result must reach the
    cache), then the exception is re-raised. When the iteration stops otherwise (``KeyboardInterrupt``,
    or the iterator closed early), nothing more is submitted and the calls in flight go on in the
    background; they stay in ``in_flight`` (future -> index), where the caller can wait for them.
    ``poll`` is called by the waiting thread whenever it wakes up (at least every 0.2 s).
    """
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="s3-llm")
    in_flight = {} if in_flight is None else in_flight
    todo = iter(range(len(items)))
    failure: BaseException | None = None
    try:
        while True:
            while failure is None and len(in_flight) < concurrency and (i := next(todo, None)) is not None:
                in_flight[pool.submit(fn, items[i])] = i
            if not in_flight:
                break
            done, _ = wait(in_flight, timeout=_TICK, return_when=FIRST_COMPLETED)
            if poll is not None:
                poll()
            for fut in sorted(done, key=in_flight.__getitem__):
                index = in_flight.pop(fut)
                exc = fut.exception()
                if exc is None:
                    yield index, fut.result()
                elif failure is None:
                    failure = exc
        if failure is not None:
            raise failure
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a response asks the client to wait before trying again, read as both SDKs read it:
    ``retry-after-ms``, else ``retry-after`` in seconds or as an HTTP date; None when it asks nothing."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                pass
    value = headers.get("retry-after")
    date = email.utils.parsedate_tz(value) if value else None
    return None if date is None else float(email.utils.mktime_tz(date) - time.time())


def _s(seconds: float) -> str:
    return f"{seconds:.0f}" if abs(seconds) >= 10 else f"{seconds:.2g}"


def retried_status(status: int) -> bool:
    """Whether the SDKs retry a response with this status (timeouts, conflicts, rate limits, server errors)."""
    return status in (408, 409, 429) or status >= 500


def scrub(text: str, secret: str | None, limit: int | None = None) -> str:
    """``text`` on one line, at most ``limit`` characters, with ``secret`` and anything shaped like a key masked."""
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(_KEYLIKE.sub(r"\1***", text).split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def server_detail(exc: Any) -> str:
    """The server's own error message from an SDK exception: ``error.message`` or ``message`` in the JSON body
    (the APIs, vLLM, llama.cpp), ``error`` as a string (TGI, Ollama), FastAPI's ``detail`` (``transformers serve``;
    validation errors joined), or a plain-text body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message
        if isinstance(inner, str):
            return inner
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail:
            return "; ".join(_validation_error(item) for item in detail)
    if isinstance(body, str) and body.strip():
        return body
    return str(getattr(exc, "message", "") or exc)


def _validation_error(item: Any) -> str:
    """One entry of FastAPI's list of validation errors: ``where: what``."""
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", item))


class ApiBackend(Backend):
    """A backend that makes one SDK call per prompt, concurrently, or sends prompts as a provider batch (with
    ``batch`` on: see :class:`~s3_magic.llm.base.BatchApi`). Subclasses build ``self.client``."""

    Options = ApiOptions

    #: the environment variable holding the key (named in error messages)
    key_env: ClassVar[str] = ""
    #: the SDK module (``anthropic`` or ``openai``), for its exception classes
    sdk: ClassVar[Any] = None

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        concurrency: int,
        max_retries: int,
        timeout: float,
        max_retry_wait: float,
        unknown: dict[str, object],
        key_required: bool = True,
        batch: bool = False,
        batch_poll_seconds: float = 30.0,
    ) -> None:
        given = {"concurrency": concurrency, "max_retries": max_retries, "timeout": timeout,
                 "max_retry_wait": max_retry_wait, "batch": batch, "batch_poll_seconds": batch_poll_seconds,
                 **unknown}  # fmt: skip
        opts = ApiOptions.check(given, f"the {self.provider} backend", "llm.options.", ("api_key",), BackendError)
        key = api_key or os.environ.get(self.key_env) or None
        if key is None and key_required:
            raise BackendError(f"set {self.key_env} or pass api_key=... to use the {self.provider} backend")
        super().__init__(model)
        self.options = opts.model_dump(
            include={"concurrency", "max_retries", "timeout", "max_retry_wait", "batch", "batch_poll_seconds"}
        )
        self.batch = opts.batch
        self.batch_poll_seconds = float(opts.batch_poll_seconds)
        self.concurrency = opts.concurrency
        self.max_retries = opts.max_retries
        self.timeout = opts.timeout
        self.max_retry_wait = opts.max_retry_wait
        self._secret = key
        self.client: Any = None
        #: the calls of the current ``generate`` still in flight (future -> prompt index)
        self._in_flight: dict[Future[Completion], int] = {}
        #: set after an interrupt: the calls still in flight are not retried any more
        self._stopping = False
        #: notices from the calling threads, passed on to :attr:`notice` by the thread that waits for them
        self._notices: deque[str] = deque()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, concurrency={self.concurrency})"

    @abstractmethod
    def _complete(self, prompt: Prompt, params: GenParams) -> Completion:
        """One SDK call; SDK exceptions propagate."""

    def batch_api(self) -> BatchApi | None:
        return self if self.batch else None

    def submit_batch(self, requests: Sequence[tuple[str, Prompt]], params: GenParams) -> str:
        """Make one provider batch of ``(custom_id, prompt)`` requests; returns its id (BackendError on failure)."""
        return self._sdk(self._submit_batch, requests, params)

    def batch_status(self, batch_id: str) -> BatchStatus:
        return self._sdk(self._batch_status, batch_id, batch=batch_id)

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, Completion | None]]:
        return iter(self._sdk(lambda b: list(self._batch_results(b)), batch_id, batch=batch_id))

    def _submit_batch(self, requests: Sequence[tuple[str, Prompt]], params: GenParams) -> str:
        raise BackendError(f"the {self.provider} backend has no batch API; set llm.options.batch: false")

    def _batch_status(self, batch_id: str) -> BatchStatus:
        raise BackendError(f"the {self.provider} backend has no batch API")

    def _batch_results(self, batch_id: str) -> Iterator[tuple[str, Completion | None]]:
        raise BackendError(f"the {self.provider} backend has no batch API")

    def _sdk(self, fn: Callable[..., R], *args: Any, batch: str | None = None) -> R:
        """``fn(*args)``, an SDK error that failed for good turned into a one-line BackendError (``batch``: the
        batch the call asks about, named when the provider does not know it)."""
        try:
            return fn(*args)
        except self.sdk.NotFoundError as exc:
            failure = self.explain(exc)
            if batch is not None:
                failure = scrub(
                    f"{self.provider} does not know batch {batch} (404), recorded in the run store: it may belong to "
                    f"another key or workspace, or be deleted; use that key, or set llm.options.batch: false to "
                    "go on with single calls",
                    self._secret,
                )
        except self.sdk.APIError as exc:
            failure = self.explain(exc)
        raise BackendError(failure)  # outside the except block: the SDK error (request, headers) is not chained

    def hooked_client(self, given: Any | None) -> Any:
        """The ``httpx2`` client for the SDK, with :meth:`_on_response` added to its response hooks: ``given``
        (its hooks are extended in place), or a new one with the SDK's defaults."""
        client = given if given is not None else self.sdk.DefaultHttpxClient()
        hooks = client.event_hooks
        client.event_hooks = {**hooks, "response": [*hooks.get("response", []), self._on_response]}
        return client

    def _on_response(self, response: Any) -> None:
        """Sees every HTTP response before the SDK decides whether to retry it (an ``httpx2`` event hook).

        When the server asks to wait longer than ``max_retry_wait``, or the backend is stopping after an
        interrupt, it sets ``x-should-retry: false`` on the response: both SDKs obey that header over their
        own retry policy, so the call fails at once (:meth:`explain` says why) instead of sleeping silently.
        A shorter but noticeable wait is reported to the user.
        """
        status = response.status_code
        if not retried_status(status) or response.headers.get("x-should-retry") == "false":
            return
        wait_s = retry_after(response.headers)
        if self._stopping or (wait_s is not None and wait_s > self.max_retry_wait):
            response.headers["x-should-retry"] = "false"
        elif wait_s is not None and wait_s >= NOTICE_WAIT:
            self._notices.append(f"{self.provider} asked to wait {_s(wait_s)} s ({status}); waiting, then retrying")

    def _tell(self) -> None:
        while self._notices:
            text = self._notices.popleft()
            if self.notice is not None:
                self.notice(text)

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        failure: str | None = None
        self._stopping, self._in_flight = False, {}
        try:
            yield from map_bounded(
                lambda p: self._complete(p, params), prompts, self.concurrency, self._in_flight, self._tell
            )
        except self.sdk.APIError as exc:
            failure = self.explain(exc)
        if failure is not None:  # raised outside the except block: the SDK error (request, headers) is not chained
            raise BackendError(failure)

    def settle(self) -> Iterator[tuple[int, Completion]]:
        """The calls still in flight after ``generate`` stopped, as they finish, for at most ``timeout`` seconds.

        They are not retried any more. A second Ctrl-C ends the wait at once (within 0.2 s).
        """
        pending, self._in_flight = self._in_flight, {}
        self._stopping = True
        pending = {fut: i for fut, i in pending.items() if not fut.cancelled()}
        if not pending:
            return
        self._notices.append(
            f"stopping: waiting up to {self.timeout:g} s for {len(pending)} {self.provider} call(s) in flight, to "
            "keep what is paid for (Ctrl-C again to abandon them)"
        )
        deadline = time.monotonic() + self.timeout
        while pending and (left := deadline - time.monotonic()) > 0:
            self._tell()
            done, _ = wait(pending, timeout=min(left, _TICK), return_when=FIRST_COMPLETED)
            for fut in done:
                index = pending.pop(fut)
                if fut.exception() is None:
                    yield index, fut.result()

    def explain(self, exc: Exception) -> str:
        """A one-line message for an SDK error that failed for good, saying what to do."""
        p, retried = self.provider, f"after {self.max_retries} retries"
        later = "retry later; the run can be resumed"
        if isinstance(exc, self.sdk.APITimeoutError):
            msg = (f"{p} request timed out {retried} ({self.timeout:g} s each): a slow or busy server (a local one "
                   "queues concurrent requests) needs a higher llm.options.timeout or a lower llm.options.concurrency; "
                   f"else check base_url / network, or {later}")  # fmt: skip
        elif isinstance(exc, self.sdk.APIConnectionError):
            msg = f"cannot reach the {p} API at {self.client.base_url} {retried}: check base_url / network, or {later}"
        elif isinstance(exc, self.sdk.APIStatusError):
            status, detail = exc.status_code, scrub(server_detail(exc), self._secret, _MAX_DETAIL)
            wait_s = retry_after(exc.response.headers) if retried_status(status) else None
            if wait_s is not None and wait_s > self.max_retry_wait:
                msg = (f"{p} asked to wait {_s(wait_s)} s before retrying ({status}), longer than max_retry_wait "
                       f"({self.max_retry_wait:g} s): {later}, or raise llm.options.max_retry_wait")  # fmt: skip
            elif status == 401:
                msg = f"{p} rejected the API key (401): check {self.key_env} or pass api_key=..."
            elif status == 403:
                msg = f"{p} denied access (403: {detail}): check that the key in {self.key_env} may use {self.model!r}"
            elif status == 404:
                msg = f"unknown model {self.model!r} for provider {p} (404: {detail}); check the model name"
            elif status in (429, 503, 529):
                msg = f"{p} is rate-limited or overloaded ({status}) {retried}: lower concurrency or {later}"
            elif status >= 500:
                msg = f"{p} server error ({status}: {detail}) {retried}: {later}"
            else:
                msg = f"{p} rejected the request ({status}: {detail}); check the model and generation settings"
        else:
            msg = f"{p} call failed: {type(exc).__name__}: {scrub(server_detail(exc), self._secret, _MAX_DETAIL)}"
        return scrub(msg, self._secret)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
