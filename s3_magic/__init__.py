"""s3_magic: Synthesis Step by Step (S3) for notebooks, the command line and plain Python.

Importing the package is cheap: torch, transformers, ipywidgets and the LLM SDKs load only when a
step needs them. The names in ``__all__`` are the public API (the benchmark in ``benchmarks/`` uses nothing
else); each is imported from its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "Deduper",
    "Example",
    "GenParams",
    "Prompt",
    "QAExample",
    "Reporter",
    "Round",
    "RoundStatus",
    "RunStatus",
    "S3Error",
    "Session",
    "SyntheticExample",
    "TaskSpec",
    "TqdmReporter",
    "data_root",
    "get_backend",
    "load_examples",
    "load_ipython_extension",
    "load_qa",
    "load_task",
    "make_student",
    "normalised",
    "parse_sets",
    "register_backend",
    "register_student",
    "split_by_article",
    "squad_scores",
    "write_atomic",
]

if TYPE_CHECKING:
    from s3_magic.atomic import write_atomic
    from s3_magic.cli import TqdmReporter
    from s3_magic.data import load_examples, normalised
    from s3_magic.data_sources import data_root
    from s3_magic.dedup import Deduper
    from s3_magic.engine.context import Reporter
    from s3_magic.errors import ConfigError, S3Error
    from s3_magic.example import Example
    from s3_magic.llm import GenParams, Prompt, get_backend, register_backend
    from s3_magic.qa import QAExample, load_qa, split_by_article, squad_scores
    from s3_magic.records import Round, RoundStatus, RunStatus, SyntheticExample
    from s3_magic.session import Session
    from s3_magic.settings import parse_sets
    from s3_magic.student import make_student, register_student
    from s3_magic.task import TaskSpec, load_task

#: public name -> the module it lives in
_LAZY = {
    "Session": "s3_magic.session",
    "TaskSpec": "s3_magic.task",
    "load_task": "s3_magic.task",
    "S3Error": "s3_magic.errors",
    "ConfigError": "s3_magic.errors",
    # what a run's accessors return: its rounds and stored synthetic examples, and the statuses runs go through
    "Round": "s3_magic.records",
    "SyntheticExample": "s3_magic.records",
    "RunStatus": "s3_magic.records",
    "RoundStatus": "s3_magic.records",
    # progress: the interface runs report to, and the CLI's progress bars
    "Reporter": "s3_magic.engine.context",
    "TqdmReporter": "s3_magic.cli",
    # labelled data: the record, the loader of every data source, and the form texts are compared in
    "Example": "s3_magic.example",
    "load_examples": "s3_magic.data",
    "normalised": "s3_magic.data",
    "Deduper": "s3_magic.dedup",
    # where the shared data sets live (``S3_MAGIC_DATA``, else a ``shared/data`` folder above the working folder)
    "data_root": "s3_magic.data_sources",
    # extractive QA: the question record, its loader (SQuAD form), the split by article and SQuAD v1.1 scoring
    "QAExample": "s3_magic.qa",
    "load_qa": "s3_magic.qa",
    "split_by_article": "s3_magic.qa",
    "squad_scores": "s3_magic.qa",
    # the parts a run is made of, usable alone: an LLM backend (``provider:model``) and a student
    "get_backend": "s3_magic.llm",
    "GenParams": "s3_magic.llm",
    "Prompt": "s3_magic.llm",
    "make_student": "s3_magic.student",
    # plugging in another LLM backend or student mode (a factory and the typed model of its options)
    "register_backend": "s3_magic.llm",
    "register_student": "s3_magic.student",
    # ``key=value`` texts (the CLI's ``--set``) as task changes for ``Session.create(overrides=...)``
    "parse_sets": "s3_magic.settings",
    # a file written whole or not at all (exports, the benchmark's reports)
    "write_atomic": "s3_magic.atomic",
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
