"""Files and folders written whole or not at all: they are made beside their target and renamed into place, so a
crash, a Ctrl-C or a failed write leaves the old version (or nothing) and never half of a new one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: renames tried when another process puts something at the target at the same moment
_TRIES = 3


@contextmanager
def staged(target: str | Path, *, folder: bool = False, keep: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """A path to write ``target``'s new version to (``folder``: an empty folder made there; else no file yet).

    When the block ends without an error, the new version replaces ``target`` in one rename (a folder replaces a
    folder; a file is never put over a folder); when it raises, the new version is removed and ``target`` is left
    as it was. ``keep(target)`` true (checked just before the rename) keeps what is at ``target`` instead, e.g. a
    complete copy another process made. The folder above ``target`` is made when missing.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    area = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    path = area / target.name  # made with the usual permissions, not mkdtemp's private ones
    if folder:
        path.mkdir()
    try:
        yield path
        _put_in_place(path, target, area, keep)
    finally:
        shutil.rmtree(area, ignore_errors=True)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path``, whole or not at all."""
    with staged(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _put_in_place(path: Path, target: Path, area: Path, keep: Callable[[Path], bool] | None) -> None:
    for attempt in range(_TRIES):
        if keep is not None and keep(target):
            return
        old = None
        if path.is_dir() and target.is_dir() and not target.is_symlink():  # a folder is not renamed over: move it
            old = area / f"old-{attempt}"
            try:
                os.replace(target, old)
            except FileNotFoundError:
                old = None  # another process moved it just now
        try:
            os.replace(path, target)
            return
        except OSError:
            if old is not None and not target.exists():
                with contextlib.suppress(OSError):
                    os.replace(old, target)  # the old version goes back
            raced = target.exists() and target.is_dir() == path.is_dir()  # another writer put one there meanwhile
            if attempt == _TRIES - 1 or not raced:
                raise  # the folder cannot be written, or a file was to go over a folder
