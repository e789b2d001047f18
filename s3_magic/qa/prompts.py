"""The prompts of a QA run: write a question whose answer is a given span of a passage (seed and ZeroGen), and
write another question with the same answer in the same passage (error extrapolation, the paper's T_mis).

The passage shown is the context trimmed to whole sentences around the answer (``qa.prompt_context_chars``),
so prompts stay short for a small LLM; the answer span is always inside it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from s3_magic.llm.base import Message, Prompt
from s3_magic.qa.records import Answer, QAExample

SYSTEM = "You write questions for a reading quiz. Each question is answered by a few words of the passage."
ASK = (
    'Passage: $passage\n\nWrite one question about the passage whose answer is "$answer". '
    "Do not use the answer in the question. Reply with the question only."
)
AGAIN = (
    'Write another question about the passage whose answer is also "$answer", asking for it in a different way. '
    "Reply with the question only."
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def passage_around(context: str, answer: Answer, chars: int) -> str:
    """``context`` cut to whole sentences around ``answer`` (about ``chars`` characters; the answer's own
    sentences always whole), with "..." where text was left out."""
    if len(context) <= chars:
        return context
    bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(context)), len(context)]
    starts = bounds[:-1]
    first = max(i for i, s in enumerate(starts) if s <= answer.start)
    last = max(i for i, s in enumerate(starts) if s < answer.end)
    lo, hi = starts[first], bounds[last + 1]
    while True:
        grew = False
        if first > 0 and hi - starts[first - 1] <= chars:
            first -= 1
            lo, grew = starts[first], True
        if last + 1 < len(starts) and bounds[last + 2] - lo <= chars:
            last += 1
            hi, grew = bounds[last + 1], True
        if not grew:
            break
    text = context[lo:hi].strip()
    return ("... " if lo > 0 else "") + text + (" ..." if hi < len(context) else "")


@dataclass(frozen=True)
class QAPrompts:
    """Builds the QA prompts of one task; ``chars`` is ``qa.prompt_context_chars``."""

    chars: int = 600
    system: str = SYSTEM

    def ask(self, context: str, answer: Answer) -> str:
        passage = passage_around(context, answer, self.chars)
        return ASK.replace("$passage", passage).replace("$answer", answer.text)

    def question(
        self, context: str, answer: Answer, sample: str, demonstrations: Sequence[QAExample] = (), step: str = "seed"
    ) -> Prompt:
        """A seed (or ZeroGen) prompt: write a question for ``answer`` in ``context``, after each demonstration
        (a real question on its own context) shown as the LLM's own earlier answer."""
        messages: list[Message] = []
        for demo in demonstrations:
            messages += [
                {"role": "user", "content": self.ask(demo.context, demo.answer)},
                {"role": "assistant", "content": demo.question},
            ]
        messages.append({"role": "user", "content": self.ask(context, answer)})
        meta = {"step": step, "context": context, "answer": answer.text, "answer_start": answer.start}
        return Prompt.chat(messages, sample, self.system, meta)

    def error(self, example: QAExample, sample: str) -> Prompt:
        """An extrapolation prompt: the question the student got wrong, shown as the LLM's own answer to the
        seed request for its context and answer, then a request for another question with the same answer."""
        answer = example.answer
        messages: list[Message] = [
            {"role": "user", "content": self.ask(example.context, answer)},
            {"role": "assistant", "content": example.question},
            {"role": "user", "content": AGAIN.replace("$answer", answer.text)},
        ]
        meta = {"step": "error", "context": example.context, "answer": answer.text, "question": example.question}
        return Prompt.chat(messages, sample, self.system, meta)
