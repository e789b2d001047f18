"""IPython magics for S3: ``%load_ext s3_magic`` registers them. Loading imports nothing heavy; each magic
imports what it needs when it runs."""

from __future__ import annotations

from typing import Any


def register(ipython: Any) -> None:
    """Register :class:`~s3_magic.magics.core.S3Magics` with ``ipython`` (once)."""
    from s3_magic.magics.core import S3Magics

    if not any(isinstance(m, S3Magics) for m in ipython.magics_manager.registry.values()):
        ipython.register_magics(S3Magics)
