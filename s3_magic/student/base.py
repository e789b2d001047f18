"""What every student (small model) offers the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from s3_magic.example import Example

#: progress callback: (done, total)
Progress = Callable[[int, int], None]


@dataclass
class Predictions:
    """Predicted label per example, its confidence (max softmax probability) and all probabilities."""

    labels: list[str]
    confidences: list[float]
    probabilities: list[list[float]]  # one row per example, columns in the student's label order

    def accuracy(self, gold: Sequence[str]) -> float:
        if not gold:
            return 0.0
        return sum(p == g for p, g in zip(self.labels, gold, strict=True)) / len(gold)


class Student(ABC):
    """A classifier that is re-initialised on every ``fit``."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)

    @abstractmethod
    def fit(self, examples: Sequence[Example], seed: int = 0, progress: Progress | None = None) -> dict:
        """Train from scratch on ``examples``; return training stats (seconds, examples/s, ...)."""

    @abstractmethod
    def predict(self, examples: Sequence[Example], progress: Progress | None = None) -> Predictions:
        """Predict labels with confidences."""
