"""The options each LLM backend takes (``llm.options`` in a task), as typed models.

They live apart from the backends, which import torch or an SDK, so that a task's options are checked when it is
loaded. ``price`` is not among them: it is the task's own (:class:`s3_magic.task.LLMSpec`), read by the accounting
and never passed to a backend. API keys are not options either (they come from the environment, or ``api_key=`` in
code), nor are objects only code can give (an ``http_client``, a fake backend's ``responder``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from annotated_types import Ge
from pydantic import Field, model_validator

from s3_magic.options import Number, Options, Whole

#: names the local backend accepts for ``dtype``
DType = Literal["auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16"]
DTYPE_NAMES: tuple[str, ...] = get_args(DType)


class NoOptions(Options):
    """A backend that takes no options."""


class LocalOptions(Options):
    """``local:MODEL``: the embedded SmolLM2, a transformers model folder or a Hub id, run in this process."""

    batch_size: Whole = Field(128, ge=1, description="prompts per forward batch")
    device: str = Field("auto", min_length=1, description="auto (cuda when available), cpu, cuda, cuda:1, ...")
    seed: Whole = Field(0, description="sampling seed: each prompt's random stream is drawn from it")
    dtype: DType | None = Field(
        None, description="weights' dtype; auto/null: bf16 on GPUs and on CPUs with native bf16, else fp32"
    )
    threads: Annotated[Whole, Ge(1)] | Literal["auto"] | None = Field(
        None, description="torch CPU threads while generating; auto/null: torch's setting (all cores)"
    )


class ApiOptions(Options):
    """``anthropic:MODEL`` and ``openai:MODEL`` (OpenAI or any OpenAI-compatible server).

    With ``batch`` on, the prompts of each call not answered from the cache go out as one provider batch
    (Anthropic Message Batches, the OpenAI Batch API): the provider answers within 24 hours at half the list price.
    The batch id is kept in the run store as soon as the batch is made, so a resumed run polls the same batch
    instead of paying again; a request that failed inside a batch is retried as a normal call.
    """

    concurrency: Whole = Field(8, ge=1, description="calls in flight at once")
    max_retries: Whole = Field(6, ge=0, description="retries of a failed call (the SDK's own backoff)")
    timeout: Number = Field(60.0, gt=0, description="seconds one call may take", json_schema_extra={"unit": "seconds"})
    max_retry_wait: Number = Field(
        60.0, ge=0, description="the longest retry-after a server may ask for; longer fails the call at once",
        json_schema_extra={"unit": "seconds"},
    )  # fmt: skip
    base_url: str | None = Field(
        None, min_length=1, description="the API's address, e.g. a vLLM/TGI/Ollama server's .../v1"
    )
    batch: bool = Field(
        False, description="send each call's prompts as one provider batch (half price, results within 24 h)"
    )
    batch_poll_seconds: Number = Field(
        30.0, ge=0.1, le=3600, description="how often a batch's status is asked for while it runs",
        json_schema_extra={"unit": "seconds"},
    )  # fmt: skip


class OracleOptions(Options):
    """``oracle:POOL``: answers with real pool sentences (see :mod:`s3_magic.llm.oracle`)."""

    pool: str | None = Field(None, description="the pool's path, instead of oracle:POOL")
    format: str | None = Field(None, description="the pool file's format when its suffix does not say")
    text: str | None = Field(None, description="the text column (default text)")
    label: str | None = Field(None, description="the label column (default label)")
    label_map: dict[Any, Any] | None = Field(None, description="raw label value -> label name")
    labels: list[str] | None = Field(None, min_length=1, description="label names in the order of integer labels")
    limit: Whole | None = Field(20_000, ge=1, description="pool rows kept (a stratified sample); null: all")
    seed: Whole = Field(0, description="seed of the sample and of random answers")
    # SST-2 train holds parse-tree phrases; most under 6 words are fragments, while 97% of dev sentences have 6 or more
    min_words: Whole = Field(6, ge=0, description="shortest pool sentence kept, in words")
    max_words: Whole | None = Field(None, ge=1, description="longest pool sentence kept, in words; null: any")
    near_duplicate: Number = Field(
        0.9, gt=0, le=1, description="an answer is never this near (3-gram Jaccard) an earlier one; 1.0: exact only"
    )
    encoder: str = Field("embedded", min_length=1, description="the embedding model (a student model spec)")
    device: str = Field("auto", min_length=1, description="auto, cpu, cuda, ...")
    max_length: Whole = Field(128, ge=8, description="tokens per embedded sentence")
    batch_size: Whole = Field(128, ge=1, description="sentences per embedding batch")

    @model_validator(mode="after")
    def _words(self) -> OracleOptions:
        if self.max_words is not None and self.max_words < max(1, self.min_words):
            raise ValueError(
                f"max_words ({self.max_words}) must be at least min_words ({self.min_words}); "
                "change llm.options.max_words"
            )
        return self
