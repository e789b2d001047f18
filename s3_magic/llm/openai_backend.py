"""OpenAI, or any OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp server), through the ``openai`` SDK.

With ``base_url`` (or ``OPENAI_BASE_URL``) the backend talks to that server; such servers usually need
no key, so a placeholder is sent when none is set. The output limit goes out as ``max_completion_tokens``
to api.openai.com (its newer models refuse ``max_tokens``) and as ``max_tokens`` elsewhere, which every
compatible server understands. With no model named, a compatible server's first listed model is used.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import openai

from s3_magic.errors import BackendError
from s3_magic.llm.base import Completion, GenParams, Prompt
from s3_magic.llm.concurrent import ApiBackend, scrub

DEFAULT_MODEL = "gpt-4.1-mini"
PLACEHOLDER_KEY = "no-key-needed"


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

    def _complete(self, prompt: Prompt, params: GenParams) -> Completion:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": m["role"], "content": m["content"]} for m in prompt.messages],
            temperature=params.temperature,
            top_p=params.top_p,
            **{self._limit_name: params.max_tokens},
        )
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Completion(
            text=(choice.message.content or "") if choice else "",
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
            extra={"finish_reason": choice.finish_reason if choice else None},
        )
