"""One registry shape for the pluggable parts: LLM backends (``s3_magic.llm``) and student modes (``s3_magic.student``).

An :class:`Entry` holds a name, a factory (a callable, or ``"module:attr"`` imported on first use, so registering a
built-in imports nothing heavy) and the :class:`~s3_magic.options.Options` model of what it accepts, which a task is
checked against when it is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from s3_magic.errors import S3Error
from s3_magic.options import Options


@dataclass(frozen=True)
class Entry:
    """A registered part: ``name``, its ``factory`` and its ``options`` model; ``extra`` is the pip extra
    (``s3-magic[EXTRA]``) that installs the packages a lazily imported factory needs; ``kinds`` the task kinds a
    student mode serves (``single`` and ``pair`` classification, or ``qa``)."""

    name: str
    factory: str | Callable[..., Any]
    options: type[Options]
    extra: str | None = None
    kinds: tuple[str, ...] = ("single", "pair")


class Registry:
    """Entries of one kind (``"LLM provider"``, ``"student mode"``) of a ``noun`` (``"backend"``, ``"student"``);
    lookups fail with ``error`` (an S3Error), ``hint`` ends the message that lists the names."""

    def __init__(self, kind: str, noun: str, error: type[S3Error], hint: str = "") -> None:
        self.kind, self.noun, self.error, self.hint = kind, noun, error, hint
        self._entries: dict[str, Entry] = {}

    def register(self, entry: Entry, replace: bool = False) -> Entry:
        """Add ``entry``; a name already registered needs ``replace=True``."""
        if not entry.name or ":" in entry.name:
            raise ValueError(f"a {self.kind} name must be non-empty and without ':', got {entry.name!r}")
        if entry.name in self._entries and not replace:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered; pass replace=True to replace it")
        if not (isinstance(entry.options, type) and issubclass(entry.options, Options)):
            raise TypeError(f"the options of {self.kind} {entry.name!r} must be an s3_magic.options.Options model")
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Entry:
        """The entry called ``name``; an error listing the registered names when there is none."""
        if name not in self._entries:
            raise self.error(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}{self.hint}")
        return self._entries[name]

    def load(self, name: str) -> Callable[..., Any]:
        """The factory of ``name``, imported on first use; a missing package is an error saying what to install."""
        entry = self.get(name)
        if not isinstance(entry.factory, str):
            return entry.factory
        module_name, _, attr = entry.factory.partition(":")
        try:
            factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
            return factory
        except ImportError as exc:
            extra = entry.extra or name
            raise self.error(
                f"the {name} {self.noun} needs extra packages ({exc.name}); install them with pip install "
                f"'s3-magic[{extra}]'"
            ) from exc
