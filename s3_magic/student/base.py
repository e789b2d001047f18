"""What every student (small model) offers the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    """A classifier that is re-initialised on every ``fit`` (unless ``warm_start`` is given and supported)."""

    #: whether ``fit(..., warm_start=True)`` goes on from the weights of the previous fit
    supports_warm_start: bool = False
    #: whether ``save`` writes a Hugging Face model folder
    can_save: bool = False

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)

    @abstractmethod
    def fit(
        self,
        examples: Sequence[Example],
        seed: int = 0,
        progress: Progress | None = None,
        weights: Sequence[float] | None = None,
        warm_start: bool = False,
    ) -> dict[str, Any]:
        """Train from scratch on ``examples`` (each weighing ``weights[i]`` in the loss, default 1; with
        ``warm_start``, go on from the previous fit where supported); return training stats (seconds, ...)."""

    def save(self, path: str) -> None:
        """Write the trained model as a Hugging Face model folder (students with ``can_save``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved as a model folder")

    @abstractmethod
    def predict(self, examples: Sequence[Example], progress: Progress | None = None) -> Predictions:
        """Predict labels with confidences."""
