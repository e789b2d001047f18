"""LLM backends behind one interface, addressed as ``provider:model``.

>>> backend = get_backend("local:embedded")          # doctest: +SKIP
>>> backend = get_backend("anthropic:claude-sonnet-4-5")  # doctest: +SKIP
>>> backend = get_backend("oracle:${S3_MAGIC_DATA}/sst2/train.jsonl")  # doctest: +SKIP

Backends are imported lazily, so importing this package loads no SDK or torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt

__all__ = ["Backend", "Completion", "GenParams", "Prompt", "get_backend", "parse_spec", "providers", "register"]

# provider -> "module:Class" (imported on first use) or a factory registered at run time
_REGISTRY: dict[str, str | Callable[..., Backend]] = {
    "local": "s3_magic.llm.local:LocalBackend",
    "anthropic": "s3_magic.llm.anthropic_backend:AnthropicBackend",
    "openai": "s3_magic.llm.openai_backend:OpenAIBackend",
    "fake": "s3_magic.llm.fake:FakeBackend",
    # a simulation, not an LLM: answers with real pool sentences (s3_magic/llm/oracle.py)
    "oracle": "s3_magic.llm.oracle:OracleBackend",
}


def register(provider: str, factory: str | Callable[..., Backend]) -> None:
    """Register a backend factory (a class or ``"module:Class"``) under ``provider``."""
    _REGISTRY[provider] = factory


def providers() -> list[str]:
    return sorted(_REGISTRY)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"provider:model"``; a bare provider gets its default model (``""``)."""
    provider, sep, model = spec.partition(":")
    provider = provider.strip()
    if not provider:
        raise BackendError(f"LLM spec {spec!r} names no provider; write provider:model, e.g. local:embedded")
    if provider not in _REGISTRY:
        raise BackendError(
            f"unknown LLM provider {provider!r}; choose one of {', '.join(providers())} (write provider:model)"
        )
    return provider, model.strip() if sep else ""


def get_backend(spec: str, **options: object) -> Backend:
    """Create the backend for ``spec`` (``provider:model``) with backend-specific ``options``."""
    provider, model = parse_spec(spec)
    factory = _REGISTRY[provider]
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            extra = "local" if provider in ("local", "oracle") else provider
            raise BackendError(
                f"the {provider} backend needs extra packages ({exc.name}); "
                f"install them with pip install 's3-magic[{extra}]'"
            ) from exc
    return factory(model, **options)
