"""What the API backends share: bounded concurrent calls and one-line, key-free failure messages.

Both official SDKs (``anthropic``, ``openai``) are generated from the same template, so their
clients retry 408/409/429/5xx and connection errors themselves (``max_retries``, exponential
backoff, ``retry-after`` honoured) and raise the same family of exceptions. :class:`ApiBackend`
runs one SDK call per prompt on at most ``concurrency`` threads and turns a final failure into a
:class:`~s3_magic.errors.BackendError` that says what to do.
"""

from __future__ import annotations

import os
import re
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar, TypeVar

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt

T = TypeVar("T")
R = TypeVar("R")

_KEYLIKE = re.compile(r"(sk-|Bearer\s+)[A-Za-z0-9_\-*.]{4,}")
_MAX_DETAIL = 200


def map_bounded(fn: Callable[[T], R], items: Sequence[T], concurrency: int) -> Iterator[tuple[int, R]]:
    """Yield ``(index, fn(item))`` as calls complete, with at most ``concurrency`` calls in flight.

    The first exception stops the submission of further items. The calls already in flight are waited
    for and their results yielded (an API call that succeeded is paid for, so its result must reach the
    cache), then the exception is re-raised. Closing the iterator early (e.g. on ``KeyboardInterrupt``)
    cannot interrupt calls in flight: they finish in the background and their results are dropped.
    """
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="s3-llm")
    in_flight: dict[Future[R], int] = {}
    todo = iter(range(len(items)))
    failure: BaseException | None = None
    try:
        while True:
            if failure is None:
                for i in todo:
                    in_flight[pool.submit(fn, items[i])] = i
                    if len(in_flight) >= concurrency:
                        break
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
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


def scrub(text: str, secret: str | None, limit: int | None = None) -> str:
    """``text`` on one line, at most ``limit`` characters, with ``secret`` and anything shaped like a key masked."""
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(_KEYLIKE.sub(r"\1***", text).split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def server_detail(exc: Any) -> str:
    """The server's own error message from an SDK exception (``error.message`` in the JSON body)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", "") or exc)


class ApiBackend(Backend):
    """A backend that makes one SDK call per prompt, concurrently. Subclasses build ``self.client``."""

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
        unknown: dict[str, object],
        key_required: bool = True,
    ) -> None:
        if unknown:
            raise BackendError(
                f"unknown option(s) for the {self.provider} backend: {', '.join(sorted(unknown))}; "
                "use only api_key, base_url, concurrency, max_retries, timeout"
            )
        for name, value, rule, ok in (
            ("concurrency", concurrency, "a whole number >= 1", isinstance(concurrency, int) and concurrency >= 1),
            ("max_retries", max_retries, "a whole number >= 0", isinstance(max_retries, int) and max_retries >= 0),
            ("timeout", timeout, "a number of seconds > 0", isinstance(timeout, (int, float)) and timeout > 0),
        ):
            if not ok or isinstance(value, bool):
                raise BackendError(f"{name} must be {rule}, got {value!r}; change llm.options.{name}")
        key = api_key or os.environ.get(self.key_env) or None
        if key is None and key_required:
            raise BackendError(f"set {self.key_env} or pass api_key=... to use the {self.provider} backend")
        super().__init__(model)
        self.options = {"concurrency": concurrency, "max_retries": max_retries, "timeout": timeout}
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self._secret = key
        self.client: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, concurrency={self.concurrency})"

    @abstractmethod
    def _complete(self, prompt: Prompt, params: GenParams) -> Completion:
        """One SDK call; SDK exceptions propagate."""

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        failure: str | None = None
        try:
            yield from map_bounded(lambda p: self._complete(p, params), prompts, self.concurrency)
        except self.sdk.APIError as exc:
            failure = self.explain(exc)
        if failure is not None:  # raised outside the except block: the SDK error (request, headers) is not chained
            raise BackendError(failure)

    def explain(self, exc: Exception) -> str:
        """A one-line message for an SDK error that failed for good, saying what to do."""
        p, retried = self.provider, f"after {self.max_retries} retries"
        later = "retry later; the run can be resumed"
        if isinstance(exc, self.sdk.APITimeoutError):
            msg = f"{p} request timed out {retried} ({self.timeout:g}s each): check base_url / network, raise timeout="
            msg += f" or {later}"
        elif isinstance(exc, self.sdk.APIConnectionError):
            msg = f"cannot reach the {p} API at {self.client.base_url} {retried}: check base_url / network, or {later}"
        elif isinstance(exc, self.sdk.APIStatusError):
            status, detail = exc.status_code, scrub(server_detail(exc), self._secret, _MAX_DETAIL)
            if status == 401:
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
