"""Turning one raw LLM output into one clean question, or a reason to reject it.

The first question in the output is kept: a short lead-in before a colon ("Question:", "Here is one:"), list
numbering, markdown and wrapping quotes are stripped, and the text is cut after its first question mark. It must
then be a question (end with "?"), have ``min_words`` to ``max_words`` words, and not give its answer away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3_magic.qa.metrics import normalize_answer

__all__ = ["QUESTION_REASONS", "CleanQuestion", "clean_question"]

#: the reasons a question can be rejected for (described in :data:`s3_magic.clean.REASONS`), beside the
#: duplicate and copy reasons of the deduper
QUESTION_REASONS = ("empty", "not_a_question", "too_short", "too_long", "contains_answer", "copies_context")

_LEAD = re.compile(r"^\s*(?:[-*#>]+\s*|\d+[.)]\s*|(?:new\s+|another\s+)?(?:question|q)\s*\d*\s*[:.\-]\s*)+", re.I)
#: the most words of a lead-in before a colon that is cut off ("Sure, here is the question: ...")
_LEAD_IN_WORDS = 6
_QUOTES = "\"'“”‘’`"


@dataclass(frozen=True)
class CleanQuestion:
    text: str | None
    reason: str | None = None


def clean_question(raw: str, answer: str, context: str, min_words: int = 3, max_words: int = 40) -> CleanQuestion:
    """The question in ``raw`` (an LLM output asked for a question whose answer is ``answer`` in ``context``)."""
    line = _first_question_line(raw)
    if not line:
        return CleanQuestion(None, "empty")
    mark = line.find("?")
    if mark < 0:
        return CleanQuestion(None, "not_a_question")
    head, colon, tail = line[:mark].rpartition(": ")
    if colon and len(head.split()) <= _LEAD_IN_WORDS:  # "Here is a question: What ...?"
        line, mark = tail + "?", len(tail)
    text = line[: mark + 1].strip().strip(_QUOTES).strip()
    text = _LEAD.sub("", text).strip().strip(_QUOTES).strip()
    if not text.endswith("?") or len(text) < 2:
        return CleanQuestion(None, "not_a_question")
    words = len(text.split())
    if words < min_words:
        return CleanQuestion(None, "too_short")
    if words > max_words:
        return CleanQuestion(None, "too_long")
    if _gives_away(text, answer):
        return CleanQuestion(None, "contains_answer")
    if _copies(text, context):
        return CleanQuestion(None, "copies_context")
    return CleanQuestion(text)


def _first_question_line(raw: str) -> str:
    """The first non-empty line with a question mark (else the first non-empty line), markdown stripped."""
    lines = [re.sub(r"[*_]{1,3}", "", line).strip() for line in raw.replace("\r", "").split("\n")]
    lines = [line for line in lines if line.strip(_QUOTES + " ")]
    for line in lines:
        if "?" in line:
            return line
    return lines[0] if lines else ""


def _gives_away(question: str, answer: str) -> bool:
    """Whether the normalised answer occurs, as whole words, in the normalised question."""
    words, key = normalize_answer(question).split(), normalize_answer(answer).split()
    if not key:
        return False
    n = len(key)
    return any(words[i : i + n] == key for i in range(len(words) - n + 1))


def _copies(question: str, context: str) -> bool:
    """Whether the question (without its mark) is a whole sentence-like run of eight or more passage words."""
    body = normalize_answer(question.rstrip("?"))
    return len(body.split()) >= 8 and body in normalize_answer(context)
