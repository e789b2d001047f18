"""The labelled example record shared by data loading, the engine and the students."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One labelled text (``text_b`` set for sentence-pair tasks).

    ``uid`` is stable within a data set (e.g. ``"val:17"``) and is how synthetic examples point
    back at the validation example they were extrapolated from.
    """

    text: str
    label: str
    text_b: str | None = None
    uid: str = ""

    @property
    def is_pair(self) -> bool:
        return self.text_b is not None
