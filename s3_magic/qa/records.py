"""The extractive question-answering records: a question on a context with its answer spans, and a prediction."""

from __future__ import annotations

from dataclasses import dataclass

from s3_magic.errors import DataError

_SHOWN = 60  # characters of a text quoted in an error


@dataclass(frozen=True)
class Answer:
    """An answer span: ``text`` is ``context[start:start + len(text)]`` of its example's context."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """One past the last character of the span."""
        return self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    """A question on a context with one or more human answers (SQuAD form; the first answer trains the student).

    ``uid`` is stable within a data set (the SQuAD ``id`` where there is one); ``title`` names the article the
    context comes from, which is what splits keep on one side (see :func:`s3_magic.qa.data.split_by_article`).
    """

    question: str
    context: str
    answers: tuple[Answer, ...]
    uid: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.answers, tuple):
            object.__setattr__(self, "answers", tuple(self.answers))

    @property
    def answer(self) -> Answer:
        """The first answer: the one training uses."""
        if not self.answers:
            raise DataError(f"question {self.uid or _short(self.question)!r} has no answer; give at least one span")
        return self.answers[0]

    @property
    def answer_texts(self) -> list[str]:
        """The texts of all answers, in order (what scoring compares a prediction with)."""
        return [a.text for a in self.answers]

    @property
    def article(self) -> str:
        """The key that groups examples by article: the title, or the context itself where there is no title."""
        return self.title or self.context


@dataclass(frozen=True)
class QAPrediction:
    """A predicted span of a context: its text, where it starts, and the model's score (start + end logit)."""

    text: str
    start: int
    score: float

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def span_problem(context: str, answer: Answer) -> str | None:
    """What is wrong with ``answer`` as a span of ``context`` (one clause), or None when it is a real span."""
    if not isinstance(answer.text, str) or not answer.text.strip():
        return "has an empty answer text"
    if isinstance(answer.start, bool) or not isinstance(answer.start, int):
        return f"has answer start {answer.start!r}, which is not a whole number"
    if not 0 <= answer.start <= len(context) - len(answer.text):
        return f"has answer {_short(answer.text)!r} at {answer.start}, outside the context ({len(context)} characters)"
    found = context[answer.start : answer.end]
    if found != answer.text:
        return f"has answer {_short(answer.text)!r} at {answer.start} but the context there reads {_short(found)!r}"
    return None


def example_problem(example: QAExample) -> str | None:
    """What is wrong with ``example`` (one clause: empty question or context, no answer, a span off its context)."""
    if not example.question.strip():
        return "has an empty question"
    if not example.context.strip():
        return "has an empty context"
    if not example.answers:
        return "has no answer"
    for answer in example.answers:
        problem = span_problem(example.context, answer)
        if problem:
            return problem
    return None


def check_example(example: QAExample, where: str = "") -> QAExample:
    """``example`` itself when it is valid; a DataError naming ``where`` (e.g. ``"data.jsonl line 3"``) otherwise."""
    problem = example_problem(example)
    if problem:
        name = where or f"question {example.uid or _short(example.question)!r}"
        raise DataError(f"{name} {problem}; fix the span (answer_start counts characters from 0) or remove it")
    return example


def answer_in(context: str, text: str, start: int | None = None) -> Answer:
    """The span of ``text`` in ``context``: at ``start`` when given (and checked), else its first occurrence."""
    if start is None:
        found = context.find(text) if text else -1
        if found < 0:
            raise DataError(f"answer {_short(text)!r} does not occur in the context; give a span of the context")
        start = found
    answer = Answer(text, start)
    problem = span_problem(context, answer)
    if problem:
        raise DataError(f"the context {problem}; give a span of the context")
    return answer


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
