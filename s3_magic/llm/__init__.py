"""LLM backends behind one interface, addressed as ``provider:model``, in a registry of providers.

>>> backend = get_backend("local:embedded")          # doctest: +SKIP
>>> backend = get_backend("anthropic:claude-sonnet-4-5")  # doctest: +SKIP
>>> backend = get_backend("oracle:${S3_MAGIC_DATA}/sst2/train.jsonl")  # doctest: +SKIP

Each provider is registered with its factory and the :class:`~s3_magic.options.Options` model of its
``llm.options``; a task's options are checked against that model when the task is loaded. Built-in backends are
imported lazily, so importing this package loads no SDK or torch. Another backend plugs in with
:func:`register_backend` (tests register a scripted one this way).
"""

from __future__ import annotations

from collections.abc import Callable

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt
from s3_magic.llm.options import ApiOptions, LocalOptions, OracleOptions
from s3_magic.options import Options
from s3_magic.registry import Entry, Registry

__all__ = [
    "Backend",
    "Completion",
    "GenParams",
    "Prompt",
    "backend_entry",
    "get_backend",
    "parse_spec",
    "providers",
    "register_backend",
    "unregister_backend",
]

BACKENDS = Registry("LLM provider", "backend", BackendError, hint=" (write provider:model)")


def register_backend(
    name: str,
    factory: str | Callable[..., Backend],
    options: type[Options] | None = None,
    extra: str | None = None,
    replace: bool = False,
) -> Entry:
    """Register provider ``name``: ``factory(model, **options)`` makes its backends (a callable, or
    ``"module:attr"`` imported on first use); ``options`` is the model of its ``llm.options`` (default: a Backend
    class's own ``Options``); ``extra`` the pip extra that installs what a lazily imported factory needs. A name
    already registered needs ``replace=True``."""
    if options is None:
        options = getattr(factory, "Options", None)
        if options is None:
            raise TypeError(f"give the options model of provider {name!r} (its factory has no Options)")
    return BACKENDS.register(Entry(name, factory, options, extra), replace=replace)


def unregister_backend(name: str) -> None:
    BACKENDS.unregister(name)


def providers() -> list[str]:
    """The registered provider names, sorted."""
    return BACKENDS.names()


def backend_entry(provider: str) -> Entry:
    """The registry entry of ``provider`` (a BackendError listing the providers when there is none)."""
    return BACKENDS.get(provider)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"provider:model"``; a bare provider gets its default model (``""``)."""
    provider, sep, model = spec.partition(":")
    provider = provider.strip()
    if not provider:
        raise BackendError(f"LLM spec {spec!r} names no provider; write provider:model, e.g. local:embedded")
    BACKENDS.get(provider)  # unknown: the list of providers
    return provider, model.strip() if sep else ""


def get_backend(spec: str, **options: object) -> Backend:
    """Create the backend for ``spec`` (``provider:model``) with backend-specific ``options`` (the backend refuses
    those it does not take, naming the ones it does)."""
    provider, model = parse_spec(spec)
    backend: Backend = BACKENDS.load(provider)(model, **options)
    return backend


register_backend("local", "s3_magic.llm.local:LocalBackend", LocalOptions, extra="local")
register_backend("anthropic", "s3_magic.llm.anthropic_backend:AnthropicBackend", ApiOptions, extra="anthropic")
register_backend("openai", "s3_magic.llm.openai_backend:OpenAIBackend", ApiOptions, extra="openai")
# a simulation, not an LLM: answers with real pool sentences (s3_magic/llm/oracle.py)
register_backend("oracle", "s3_magic.llm.oracle:OracleBackend", OracleOptions, extra="local")
