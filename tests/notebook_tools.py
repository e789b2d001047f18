"""Running the tutorial notebooks in tests: papermill-style parameter injection, small sizes, headless execution."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
from conftest import REPO, needs_data

NOTEBOOKS = REPO / "notebooks"

#: small sizes per notebook, so each runs in a minute or two on 2 cores with the embedded models
SMALL: dict[str, dict[str, Any]] = {
    "01_quickstart.ipynb": {
        "SEED_EXAMPLES": 24, "ROUNDS": 1, "RATIONALES_PER_LABEL": 4, "VALIDATION": 40,
        "EXAMPLES_PER_ERROR": 1, "STUDENT_MODE": "finetune", "EPOCHS": 1,
    },
    "02_pair_task_review.ipynb": {
        "SEED_EXAMPLES": 24, "VALIDATION": 40, "EXAMPLES_PER_ERROR": 1, "MAX_ERRORS": 8, "STUDENT_MODE": "fast",
        "EPOCHS": 1,
    },
    "03_your_data_and_models.ipynb": {
        "SEED_EXAMPLES": 16, "ROUNDS": 1, "VALIDATION": 40, "EXAMPLES_PER_ERROR": 1, "STUDENT_MODE": "fast",
    },
    "04_question_answering.ipynb": {
        "SEED_EXAMPLES": 12, "ROUNDS": 1, "VALIDATION": 24, "TEST": 20, "EXAMPLES_PER_ERROR": 1, "MAX_ERRORS": 4,
        "EPOCHS": 1,
    },
}  # fmt: skip


def parameters_cell(book: Any) -> int:
    """Index of the cell tagged ``parameters``."""
    tagged = [i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters', found {len(tagged)}")
    return tagged[0]


def inject(book: Any, params: dict[str, Any]) -> Any:
    """Insert a cell tagged ``injected-parameters`` after the parameters cell (as papermill does)."""
    at = parameters_cell(book)
    names = {line.split("=")[0].strip() for line in book.cells[at].source.splitlines() if "=" in line}
    unknown = sorted(set(params) - names)
    if unknown:
        raise ValueError(f"{', '.join(unknown)} not in the parameters cell (it has {', '.join(sorted(names))})")
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    cell.id = "injected-parameters"
    book.cells.insert(at + 1, cell)
    return book


def small_copy(name: str, folder: Path) -> Path:
    """``notebooks/<name>`` with its small parameters injected, written into ``folder``."""
    book = inject(nbformat.read(NOTEBOOKS / name, as_version=4), SMALL[name])
    out = folder / name
    nbformat.write(book, str(out))
    return out


def kernel_env() -> dict[str, str]:
    """The environment for a notebook kernel in tests: the real data, the Hub offline (fails fast), no API keys."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY")}
    return {**env, "S3_MAGIC_DATA": str(needs_data()), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
