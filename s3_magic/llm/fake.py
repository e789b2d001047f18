"""A scripted backend for tests. Never a default: it must be named explicitly as ``fake:...``.

Replies come from, in order: a queue filled with :meth:`FakeBackend.enqueue`, else a ``responder``
callable ``(Prompt) -> str``, else a deterministic echo built from the prompt. Every prompt it
answers is appended to :attr:`FakeBackend.history`, so tests can count real calls.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt

Responder = Callable[[Prompt], str]


class FakeBackend(Backend):
    provider = "fake"

    #: backends created in this process, newest last (tests reach them after the engine made them)
    instances: list[FakeBackend] = []  # noqa: RUF012
    #: a responder given to every new instance (set by tests before the engine creates backends)
    default_responder: Responder | None = None
    #: fail (raise BackendError) after this many calls in total, for crash/resume tests
    fail_after: int | None = None

    def __init__(self, model: str = "", responder: Responder | None = None, **options: object) -> None:
        if options:
            raise BackendError(f"unknown option(s) for the fake backend: {', '.join(sorted(options))}")
        super().__init__(model or "scripted")
        self.responder = responder or FakeBackend.default_responder
        self.queue: deque[str] = deque()
        self.history: list[Prompt] = []
        self._lock = threading.Lock()
        FakeBackend.instances.append(self)

    def enqueue(self, *replies: str) -> FakeBackend:
        self.queue.extend(replies)
        return self

    def _reply(self, prompt: Prompt) -> str:
        if self.queue:
            return self.queue.popleft()
        if self.responder is not None:
            return self.responder(prompt)
        last = prompt.messages[-1]["content"]
        return f"fake reply {prompt.sample} to: {last[:60]}"

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        for i, prompt in enumerate(prompts):
            with self._lock:
                total = sum(len(b.history) for b in FakeBackend.instances)
                if FakeBackend.fail_after is not None and total >= FakeBackend.fail_after:
                    raise BackendError("fake backend: scripted failure; resume the run to go on")
                self.history.append(prompt)
                text = self._reply(prompt)
            n_prompt = sum(len(m["content"].split()) for m in prompt.messages)
            yield i, Completion(text=text, prompt_tokens=n_prompt, completion_tokens=len(text.split()))

    @classmethod
    def reset(cls) -> None:
        cls.instances.clear()
        cls.default_responder = None
        cls.fail_after = None
