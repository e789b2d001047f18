"""SQuAD v1.1 scoring, as the official ``evaluate-v1.1.py`` computes it.

An answer is normalised (lower case, punctuation removed, the articles a/an/the removed, white space squeezed);
exact match and token F1 are each the maximum over the human answers; corpus scores are means in percent.
As in v1.1 (unlike v2.0), a prediction and answer that both normalise to nothing get EM 1 but F1 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from s3_magic.qa.records import QAExample, QAPrediction

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, remove punctuation, remove articles, squeeze white space (the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised answer, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in _answers(answers)))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any answer (0..1)."""
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(a).split()) for a in _answers(answers))


@dataclass(frozen=True)
class QAScores:
    """Corpus means in percent over ``n`` questions."""

    exact_match: float
    f1: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"exact_match": self.exact_match, "f1": self.f1, "n": self.n}


def squad_scores(predictions: Sequence[str | QAPrediction], gold: Sequence[QAExample | Sequence[str]]) -> QAScores:
    """Mean exact match and F1 (percent) of ``predictions`` against ``gold`` (examples or lists of answer texts)."""
    if len(predictions) != len(gold):
        raise ValueError(f"{len(predictions)} predictions for {len(gold)} questions; give one per question")
    if not gold:
        return QAScores(0.0, 0.0, 0)
    em = f1 = 0.0
    for pred, ref in zip(predictions, gold, strict=True):
        text = pred.text if isinstance(pred, QAPrediction) else pred
        answers = ref.answer_texts if isinstance(ref, QAExample) else ref
        em += exact_match(text, answers)
        f1 += token_f1(text, answers)
    return QAScores(100.0 * em / len(gold), 100.0 * f1 / len(gold), len(gold))


def _f1(pred: list[str], gold: list[str]) -> float:
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _answers(answers: Sequence[str]) -> Sequence[str]:
    if isinstance(answers, str):
        raise TypeError("answers must be a list of answer texts, not one string")
    if not answers:
        raise ValueError("a question needs at least one gold answer to be scored")
    return answers
