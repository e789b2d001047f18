"""Students (small classifiers) in a registry of modes: fine-tune and fast frozen-embedding mode, made by
``make_student``.

Each mode is registered with its factory (``factory(labels, model=..., **options)``, imported on first use, so
registering the built-ins imports no torch) and the :class:`~s3_magic.options.Options` model of its options, which a
task's ``student`` section is checked against when it is loaded. Another student plugs in with
:func:`register_student`; a run can also take one from ``Session.create(..., student_factory=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from s3_magic.errors import ConfigError
from s3_magic.options import Options
from s3_magic.registry import Entry, Registry
from s3_magic.student.base import Predictions, Student
from s3_magic.student.options import FastOptions, FineTuneOptions, QAOptions

__all__ = [
    "Predictions",
    "Student",
    "make_student",
    "register_student",
    "student_entry",
    "student_modes",
    "unregister_student",
]

STUDENTS = Registry("student mode", "student", ConfigError)


def register_student(
    name: str,
    factory: str | Callable[..., Student],
    options: type[Options],
    extra: str | None = None,
    replace: bool = False,
    kinds: tuple[str, ...] = ("single", "pair"),
) -> Entry:
    """Register student mode ``name``: ``factory(labels, model=..., **options)`` makes a fresh student (a callable,
    or ``"module:attr"`` imported on first use); ``options`` is the model of the options it takes; ``kinds`` the
    task kinds it serves (``("qa",)`` for an extractive-QA student). A name already registered needs
    ``replace=True``."""
    return STUDENTS.register(Entry(name, factory, options, extra, kinds), replace=replace)


def unregister_student(name: str) -> None:
    STUDENTS.unregister(name)


def student_modes() -> list[str]:
    """The registered student modes, sorted."""
    return STUDENTS.names()


def student_entry(mode: str) -> Entry:
    """The registry entry of ``mode`` (a ConfigError listing the modes when there is none)."""
    return STUDENTS.get(mode)


def make_student(labels: Sequence[str], mode: str = "finetune", model: str = "embedded", **options: Any) -> Student:
    """A fresh student for ``labels``; ``options`` are the mode's (e.g. epochs, lr for finetune; C for fast), checked
    against its options model (an unknown or bad one is a one-line ConfigError)."""
    entry = student_entry(mode)
    opts = entry.options.check(options, f"the {mode} student", "student.", error=ConfigError)
    student: Student = STUDENTS.load(mode)(list(labels), model=model, **opts.model_dump())
    return student


register_student("finetune", "s3_magic.student.finetune:FineTuneStudent", FineTuneOptions, extra="local")
register_student("fast", "s3_magic.student.fast:FastStudent", FastOptions, extra="local")
register_student("qa", "s3_magic.student.qa:qa_student", QAOptions, extra="local", kinds=("qa",))
