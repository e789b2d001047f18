"""`import s3_magic` must stay light: no torch, transformers, ipywidgets or LLM SDK."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "ipywidgets", "anthropic", "openai", "datasets", "pandas", "sklearn")


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_s3_magic_is_light():
    mods = loaded_after("import s3_magic")
    assert not [m for m in HEAVY if m in mods]


def test_task_store_and_registry_are_light():
    mods = loaded_after("import s3_magic.task, s3_magic.store, s3_magic.llm, s3_magic.session, s3_magic.cli")
    assert not [m for m in HEAVY if m in mods]
