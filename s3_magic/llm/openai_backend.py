"""OpenAI, or any OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp server), through the ``openai`` SDK.

With ``base_url`` (or ``OPENAI_BASE_URL``) the backend talks to that server; such servers usually need
no key, so a placeholder is sent when none is set. The output limit goes out as ``max_completion_tokens``
to api.openai.com (its newer models refuse ``max_tokens``) and as ``max_tokens`` elsewhere, which every
compatible server understands. With no model named, a compatible server's first listed model is used.

With ``batch`` on, prompts go out through the Batch API: a JSONL file of chat completion requests (one per
prompt, named by its ``custom_id``) is uploaded and run as one batch; its output and error files are read once it
is over. Most OpenAI-compatible servers have no Batch API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import openai
from openai.types.chat import ChatCompletion

from s3_magic.errors import BackendError
from s3_magic.llm.base import BatchStatus, Completion, GenParams, Prompt
from s3_magic.llm.concurrent import ApiBackend, scrub

DEFAULT_MODEL = "gpt-4.1-mini"
PLACEHOLDER_KEY = "no-key-needed"
BATCH_ENDPOINT = "/v1/chat/completions"
#: batch states after which nothing more is answered (``failed``: the input file was refused)
BATCH_OVER = frozenset({"completed", "expired", "cancelled", "failed"})


class OpenAIBackend(ApiBackend):
    """``openai:MODEL``; the key comes from ``api_key`` or ``OPENAI_API_KEY`` (optional with a ``base_url``).

    ``http_client`` (an ``httpx2.Client``) replaces the SDK's own, e.g. for a proxy or a mock transport; the
    backend adds its response hook to it. ``max_retry_wait``: the longest ``retry-after`` (s) waited for.
    """

    provider = "openai"
    key_env = "OPENAI_API_KEY"
    sdk: ClassVar[Any] = openai

    def __init__(
        self,
        model: str = "",
        api_key: str | None = None,
        base_url: str | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        timeout: float = 60.0,
        max_retry_wait: float = 60.0,
        http_client: object | None = None,
        batch: bool = False,
        batch_poll_seconds: float = 30.0,
        **options: object,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        super().__init__(
            model,
            api_key=api_key,
            concurrency=concurrency,
            max_retries=max_retries,
            timeout=timeout,
            max_retry_wait=max_retry_wait,
            unknown=options,
            key_required=base_url is None,
            batch=batch,
            batch_poll_seconds=batch_poll_seconds,
        )
        self.client = openai.OpenAI(
            api_key=self._secret or PLACEHOLDER_KEY,
            base_url=base_url,
            max_retries=self.max_retries,
            timeout=self.timeout,
            http_client=self.hooked_client(http_client),
        )
        self.options["base_url"] = base_url
        self._limit_name = "max_completion_tokens" if self.client.base_url.host == "api.openai.com" else "max_tokens"
        if not self.model:
            self.model = DEFAULT_MODEL if base_url is None else self._served_model()

    def _served_model(self) -> str:
        """The first model a compatible server lists (vLLM and llama.cpp serve exactly one)."""
        where = f"the server at {self.client.base_url}"
        try:
            models: list[str] = [m.id for m in self.client.models.list()]
        except openai.APIError as exc:
            models, why = [], f"cannot list the models of {where} ({type(exc).__name__}): check base_url / network"
        else:
            why = f"{where} lists no models"
        if models:
            return models[0]
        raise BackendError(scrub(f"{why}, or name the model as openai:MODEL", self._secret))

    def _request(self, prompt: Prompt, params: GenParams) -> dict[str, Any]:
        """The chat completions body for ``prompt``."""
        return {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in prompt.messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            self._limit_name: params.max_tokens,
        }

    def _complete(self, prompt: Prompt, params: GenParams) -> Completion:
        return self._completion(self.client.chat.completions.create(**self._request(prompt, params)))

    def _submit_batch(self, requests: Sequence[tuple[str, Prompt]], params: GenParams) -> str:
        lines = [
            {"custom_id": cid, "method": "POST", "url": BATCH_ENDPOINT, "body": self._request(p, params)}
            for cid, p in requests
        ]
        blob = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
        upload = self.client.files.create(file=("s3-magic-batch.jsonl", blob, "application/jsonl"), purpose="batch")
        made = self.client.batches.create(input_file_id=upload.id, endpoint=BATCH_ENDPOINT, completion_window="24h")
        return str(made.id)

    def _batch_status(self, batch_id: str) -> BatchStatus:
        batch = self.client.batches.retrieve(batch_id)
        counts = batch.request_counts
        done, total = (counts.completed + counts.failed, counts.total) if counts else (0, 0)
        return BatchStatus(batch.status in BATCH_OVER, done, total)

    def _batch_results(self, batch_id: str) -> Iterator[tuple[str, Completion | None]]:
        """Each line of the output file (answered requests) and of the error file (failed ones)."""
        batch = self.client.batches.retrieve(batch_id)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for raw in self.client.files.content(file_id).text.splitlines():
                if raw.strip():
                    line = json.loads(raw)
                    response = line.get("response") or {}
                    ok = response.get("status_code") == 200 and not line.get("error")
                    body = ChatCompletion.model_validate(response["body"]) if ok else None
                    yield str(line["custom_id"]), None if body is None else self._completion(body)

    @staticmethod
    def _completion(response: Any) -> Completion:
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Completion(
            text=(choice.message.content or "") if choice else "",
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
            extra={"finish_reason": choice.finish_reason if choice else None},
        )
