"""A scripted backend for tests. It is not registered as a provider: a test registers it (tests/conftest.py
registers ``fake``) or hands an instance to a run with ``Session.create(..., backend_factory=lambda: backend)``.

Replies come from, in order: a queue filled with :meth:`FakeBackend.enqueue`, else a ``responder`` callable
``(Prompt) -> str``, else a deterministic echo built from the prompt. Every prompt it answers is appended to the
instance's :attr:`FakeBackend.history`, so tests can count real calls; with ``fail_after`` it fails (a
BackendError) once it has answered that many, for crash/resume tests. All state is the instance's own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt
from s3_magic.llm.options import NoOptions

Responder = Callable[[Prompt], str]


class FakeBackend(Backend):
    provider = "fake"
    Options = NoOptions

    def __init__(
        self, model: str = "", responder: Responder | None = None, fail_after: int | None = None, **options: object
    ) -> None:
        NoOptions.check(options, "the fake backend", "llm.options.", error=BackendError)
        super().__init__(model or "scripted")
        self.responder = responder
        self.fail_after = fail_after
        self.queue: deque[str] = deque()
        self.history: list[Prompt] = []
        self._lock = threading.Lock()

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
                if self.fail_after is not None and len(self.history) >= self.fail_after:
                    raise BackendError("fake backend: scripted failure; resume the run to go on")
                self.history.append(prompt)
                text = self._reply(prompt)
            n_prompt = sum(len(m["content"].split()) for m in prompt.messages)
            yield i, Completion(text=text, prompt_tokens=n_prompt, completion_tokens=len(text.split()))
