"""Students (small classifiers): fine-tune mode and fast frozen-embedding mode, created by ``make_student``."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from s3_magic.errors import ConfigError
from s3_magic.student.base import Predictions, Student

MODES = ("finetune", "fast")

__all__ = ["MODES", "Predictions", "Student", "make_student"]


def _student_class(mode: str) -> type[Student]:
    if mode == "finetune":
        from s3_magic.student.finetune import FineTuneStudent

        return FineTuneStudent
    if mode == "fast":
        from s3_magic.student.fast import FastStudent

        return FastStudent
    raise ConfigError(f"unknown student mode {mode!r}: use one of {', '.join(MODES)}")


def make_student(labels: Sequence[str], mode: str = "finetune", model: str = "embedded", **params: Any) -> Student:
    """A student for ``labels``; ``params`` are the mode's options (e.g. epochs, lr for finetune; C for fast)."""
    cls = _student_class(mode)
    allowed = [name for name in inspect.signature(cls.__init__).parameters if name not in ("self", "labels", "model")]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown {mode} student option(s) {', '.join(unknown)}: use {', '.join(allowed)}")
    return cls(labels, model=model, **params)
