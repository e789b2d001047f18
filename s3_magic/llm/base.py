"""The small interface every LLM backend implements.

A backend turns a list of chat prompts into completions. It yields each result as soon as it is
ready, as ``(index, Completion)`` pairs in any order, so callers can store results while the rest
are still being generated: an interrupted run keeps everything that finished.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import ClassVar

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
    """One chat prompt. ``sample`` tells apart repeated draws from the same messages."""

    messages: tuple[Message, ...]
    sample: str = "0"

    @classmethod
    def user(cls, content: str, sample: str | int = "0", system: str | None = None) -> Prompt:
        return cls.chat([{"role": "user", "content": content}], sample, system)

    @classmethod
    def chat(cls, messages: Sequence[Message], sample: str | int = "0", system: str | None = None) -> Prompt:
        """A conversation, after the system message when ``system`` is given."""
        head: list[Message] = [{"role": "system", "content": system}] if system else []
        return cls((*head, *messages), str(sample))

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
    extra: dict = field(default_factory=dict)


class Backend(ABC):
    """Base class of LLM backends. Subclasses set ``provider`` and implement ``generate``.

    ``generate`` yields ``(index, Completion)`` for each prompt, in any order. It raises
    :class:`s3_magic.errors.BackendError` when a call fails for good (after retries); results
    yielded before the failure stay valid.
    """

    provider: ClassVar[str] = ""
    #: how many prompts the caller should hand over at once (local backends batch internally)
    default_chunk: ClassVar[int] = 64
    #: the first chunk of a call is this small and later ones double up to ``default_chunk``, so the first results
    #: (and the samples a notebook shows) arrive in seconds; None: every chunk is ``default_chunk``
    first_chunk: ClassVar[int | None] = None
    #: where the backend tells the user something while it waits (set by the run to its reporter; None: silent)
    notice: Callable[[str], None] | None = None

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

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, clients, models)."""
