"""Claude through the official ``anthropic`` SDK (Messages API).

Sampling parameters are not sent: SDK 1.0 removed ``temperature``/``top_p``/``top_k`` from
``messages.create`` and API version 2026-10-21 (the SDK 2.x default) rejects them with a 400, even at
their defaults. ``GenParams.max_tokens`` is honoured; ``temperature`` and ``top_p`` are ignored here,
so repeated samples of one prompt draw at the model's own default sampling.

With ``batch`` on, prompts go out through Message Batches (``messages.batches``): one request per prompt, named
by its ``custom_id``, the same body as a single call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import anthropic

from s3_magic.llm.base import BatchStatus, Completion, GenParams, Prompt
from s3_magic.llm.concurrent import ApiBackend

DEFAULT_MODEL = "claude-haiku-4-5"


class AnthropicBackend(ApiBackend):
    """``anthropic:MODEL``; the key comes from ``api_key`` or ``ANTHROPIC_API_KEY``.

    ``http_client`` (an ``httpx2.Client``) replaces the SDK's own, e.g. for a proxy or a mock transport; the
    backend adds its response hook to it. ``max_retry_wait``: the longest ``retry-after`` (s) waited for.
    """

    provider = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    sdk: ClassVar[Any] = anthropic

    def __init__(
        self,
        model: str = "",
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        timeout: float = 60.0,
        max_retry_wait: float = 60.0,
        base_url: str | None = None,
        http_client: object | None = None,
        batch: bool = False,
        batch_poll_seconds: float = 30.0,
        **options: object,
    ) -> None:
        super().__init__(
            model or DEFAULT_MODEL,
            api_key=api_key,
            concurrency=concurrency,
            max_retries=max_retries,
            timeout=timeout,
            max_retry_wait=max_retry_wait,
            unknown=options,
            batch=batch,
            batch_poll_seconds=batch_poll_seconds,
        )
        self.client = anthropic.Anthropic(
            api_key=self._secret,
            base_url=base_url,
            max_retries=self.max_retries,
            timeout=self.timeout,
            http_client=self.hooked_client(http_client),
        )

    def _request(self, prompt: Prompt, params: GenParams) -> dict[str, Any]:
        """The Messages API body for ``prompt`` (system messages joined into ``system``)."""
        system = "\n\n".join(m["content"] for m in prompt.messages if m["role"] == "system")
        messages = [{"role": m["role"], "content": m["content"]} for m in prompt.messages if m["role"] != "system"]
        body: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens, "messages": messages}
        return {**body, "system": system} if system else body

    def _complete(self, prompt: Prompt, params: GenParams) -> Completion:
        return self._completion(self.client.messages.create(**self._request(prompt, params)))

    def _submit_batch(self, requests: Sequence[tuple[str, Prompt]], params: GenParams) -> str:
        made = self.client.messages.batches.create(
            requests=[{"custom_id": cid, "params": self._request(p, params)} for cid, p in requests]
        )
        return str(made.id)

    def _batch_status(self, batch_id: str) -> BatchStatus:
        batch = self.client.messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = counts.succeeded + counts.errored + counts.canceled + counts.expired
        return BatchStatus(batch.processing_status == "ended", done, done + counts.processing)

    def _batch_results(self, batch_id: str) -> Iterator[tuple[str, Completion | None]]:
        for line in self.client.messages.batches.results(batch_id):
            result = line.result
            yield line.custom_id, self._completion(result.message) if result.type == "succeeded" else None

    @staticmethod
    def _completion(response: Any) -> Completion:
        text = "".join(block.text for block in response.content if block.type == "text")
        usage = response.usage
        return Completion(
            text=text,
            prompt_tokens=usage.input_tokens or 0,
            completion_tokens=usage.output_tokens or 0,
            extra={"stop_reason": response.stop_reason},
        )
