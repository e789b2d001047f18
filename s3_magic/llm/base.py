"""The small interface every LLM backend implements.

A backend turns a list of chat prompts into completions. It yields each result as soon as it is
ready, as ``(index, Completion)`` pairs in any order, so callers can store results while the rest
are still being generated: an interrupted run keeps everything that finished.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from s3_magic.llm.options import NoOptions
from s3_magic.options import Options

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters shared by all backends."""

    temperature: float = 0.9
    top_p: float = 0.95
    max_tokens: int = 128

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Prompt:
    """One chat prompt. ``sample`` tells apart repeated draws from the same messages.

    ``meta`` says what the engine asked for, for backends that answer without reading the messages (the
    ``oracle`` simulation): ``step`` (``rationale``, ``seed``, ``zerogen`` or ``error``), ``label`` (the label
    name) and the query (``rationales`` and, on pair tasks, ``context`` for seed prompts; ``text`` and
    ``text_b`` of the misclassified example for error prompts; ``n`` for rationale prompts). It is not part of
    equality, the prompt hash or the call cache key, so it never changes which calls are cached.
    """

    messages: tuple[Message, ...]
    sample: str = "0"
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def user(
        cls, content: str, sample: str | int = "0", system: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> Prompt:
        return cls.chat([{"role": "user", "content": content}], sample, system, meta)

    @classmethod
    def chat(
        cls,
        messages: Sequence[Message],
        sample: str | int = "0",
        system: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Prompt:
        """A conversation, after the system message when ``system`` is given."""
        head: list[Message] = [{"role": "system", "content": system}] if system else []
        return cls((*head, *messages), str(sample), dict(meta or {}))

    @property
    def hash(self) -> str:
        return prompt_hash(self.messages)


def prompt_hash(messages: Sequence[Message]) -> str:
    blob = json.dumps(list(messages), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchStatus:
    """Where a provider batch stands: ``ended`` once every request in it succeeded or failed for good."""

    ended: bool
    done: int = 0
    total: int = 0


class BatchApi(Protocol):
    """A provider's batch endpoint, as :class:`s3_magic.llm.cached.CachedLLM` drives it.

    A request is named by its ``custom_id`` (the call cache key). Submitting is paid for, so the caller records
    the batch id before it polls; ``batch_results`` gives ``(custom_id, Completion)`` for each request that
    succeeded and ``(custom_id, None)`` for each that failed (errored, expired, canceled).
    """

    batch_poll_seconds: float

    def submit_batch(self, requests: Sequence[tuple[str, Prompt]], params: GenParams) -> str:
        """Make one batch of ``(custom_id, prompt)`` requests; returns its id."""
        ...

    def batch_status(self, batch_id: str) -> BatchStatus: ...

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, Completion | None]]: ...


class Backend(ABC):
    """Base class of LLM backends. Subclasses set ``provider`` and implement ``generate``.

    ``generate`` yields ``(index, Completion)`` for each prompt, in any order. It raises
    :class:`s3_magic.errors.BackendError` when a call fails for good (after retries); results
    yielded before the failure stay valid.
    """

    provider: ClassVar[str] = ""
    #: the options the backend takes (``llm.options``), as a typed model that refuses unknown names
    Options: ClassVar[type[Options]] = NoOptions
    #: how many prompts the caller should hand over at once (local backends batch internally)
    default_chunk: ClassVar[int] = 64
    #: the first chunk of a call is this small and later ones double up to ``default_chunk``, so the first results
    #: (and the samples a notebook shows) arrive in seconds; None: every chunk is ``default_chunk``
    first_chunk: ClassVar[int | None] = None
    #: where the backend tells the user something while it waits (set by the run to its reporter; None: silent)
    notice: Callable[[str], None] | None = None
    #: True for backends whose answers depend on the answers given before (the oracle never gives one twice): they
    #: are shown, through :meth:`observe`, the answers of the run that did not come from them
    observes: ClassVar[bool] = False

    def __init__(self, model: str, **options: object) -> None:
        self.model = model
        self.options = options

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def cache_salt(self) -> str:
        """Backend options that change what a prompt's answer is (part of the call cache key); "" for none."""
        return ""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index, Completion)`` for every prompt."""

    def settle(self) -> Iterator[tuple[int, Completion]]:
        """After ``generate`` was interrupted or closed early: ``(index, Completion)`` for the calls that were
        still in flight and finish in a short while. They are paid for, so the caller stores them. No call is
        started. Backends that make no concurrent calls have nothing to settle."""
        return iter(())

    def batch_api(self) -> BatchApi | None:
        """The provider batch endpoint this backend sends its calls through, when it is set to; None: single calls."""
        return None

    def observe(self, texts: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Answers already given in this run that this instance did not give: the raw outputs the run has stored
        when the backend is attached to it, and calls answered from the cache. Called only when ``observes``."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Load what the first call needs (a local model), so that the call's time is generation only."""

    def batch_occupancy(self) -> tuple[int, int]:
        """For backends that batch prompts themselves: the rows still generating and the batch size, each summed
        over every decode step so far (their ratio is how full the batches were); ``(0, 0)`` for the others."""
        return (0, 0)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, clients, models)."""
