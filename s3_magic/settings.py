"""Run settings shared by the adapters (CLI flags, magic options, notebook keyword arguments), mapped to
dotted task keys. One table, so every adapter names and maps settings the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from s3_magic.errors import ConfigError

#: setting name -> dotted task key
SETTING_KEYS = {
    "rounds": "sizes.rounds",
    "seed_examples": "sizes.seed_examples",
    "llm": "llm.spec",
    "student_mode": "student.mode",
    "budget": "llm.budget_tokens",
    "budget_usd": "llm.budget_usd",
    "seed": "seed",
    "concurrency": "llm.options.concurrency",
}


def parse_sets(pairs: Iterable[str]) -> dict[str, Any]:
    """``["sizes.rounds=3", ...]`` -> ``{"sizes.rounds": 3}`` (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs KEY=VALUE (e.g. --set sizes.rounds=3), got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def overrides(settings: Mapping[str, Any], sets: Iterable[str] | Mapping[str, Any] = ()) -> dict[str, Any]:
    """Dotted task changes from named settings (None = not given) and ``key=value`` texts or a mapping."""
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; use {', '.join(SETTING_KEYS)}")
    changes = dict(sets) if isinstance(sets, Mapping) else parse_sets(sets)
    for name, value in settings.items():
        if value is not None:
            changes[SETTING_KEYS[name]] = value
    return changes
