"""`import s3_magic` must stay light: no torch, transformers, ipywidgets or LLM SDK."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "ipywidgets", "anthropic", "openai", "datasets", "pandas", "sklearn")
#: what only the notebook adapter (the magics) and the widgets may import
NOTEBOOK = ("IPython", "ipywidgets", "ipykernel", "traitlets")


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


def test_the_layers_below_the_magics_never_import_ipython():
    """Session, every engine module, the plain twins of the magics and the CLI run without IPython or widgets."""
    code = (
        "import importlib, pkgutil, s3_magic, s3_magic.engine\n"
        "for m in pkgutil.iter_modules(s3_magic.engine.__path__):\n"
        "    importlib.import_module('s3_magic.engine.' + m.name)\n"
        "import s3_magic.session, s3_magic.twins, s3_magic.records, s3_magic.store, s3_magic.cli"
    )
    mods = loaded_after(code)
    assert "s3_magic.engine.loop" in mods and "s3_magic.twins" in mods, "the modules were imported"
    assert not sorted({m.split(".")[0] for m in mods} & set(NOTEBOOK))
    assert {m.split(".")[0] for m in loaded_after("import s3_magic")}.isdisjoint(NOTEBOOK)
