"""s3_magic: Synthesis Step by Step (S3) for notebooks, the command line and plain Python.

Importing the package is cheap: torch, transformers, ipywidgets and the LLM SDKs load only when a
step needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["S3Error", "Session", "TaskSpec", "load_ipython_extension", "load_task"]

if TYPE_CHECKING:
    from s3_magic.errors import S3Error
    from s3_magic.session import Session
    from s3_magic.task import TaskSpec, load_task

_LAZY = {
    "Session": "s3_magic.session",
    "TaskSpec": "s3_magic.task",
    "load_task": "s3_magic.task",
    "S3Error": "s3_magic.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 's3_magic' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext s3_magic``: register the magics (imports nothing heavy)."""
    from s3_magic.magics import register

    register(ipython)
