"""The ``S3Magics`` class: session defaults as traitlets (``%config S3Magics.llm = "anthropic:..."``) and
the magics, each a thin function from its group module."""

from __future__ import annotations

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from traitlets import CaselessStrEnum, Float, Int, Unicode

from s3_magic.magics import browse, iterate, runs, synthesize


@magics_class
class S3Magics(Magics):
    """S3 (Synthesis Step by Step) in the notebook. Start with ``%%s3_synthesize``."""

    folder = Unicode("s3_runs", help="run folder for new runs and %s3_runs").tag(config=True)
    llm = Unicode(None, allow_none=True, help="LLM for new runs as provider:model (None: the task's)").tag(config=True)
    student_mode = CaselessStrEnum(
        ["finetune", "fast"], default_value=None, allow_none=True, help="student training for new runs"
    ).tag(config=True)
    concurrency = Int(None, allow_none=True, help="parallel LLM calls for API backends").tag(config=True)
    budget = Int(None, allow_none=True, help="token budget for new runs").tag(config=True)
    budget_usd = Float(None, allow_none=True, help="money budget (US dollars) for new runs").tag(config=True)
    page_size = Int(10, help="rows per page in tables and browsers").tag(config=True)
    widgets = CaselessStrEnum(
        ["auto", "on", "off"], default_value="auto", help="interactive widgets: auto (inside a kernel), on, off"
    ).tag(config=True)

    s3_synthesize = line_cell_magic(synthesize.s3_synthesize)
    s3_rationales = line_magic(synthesize.s3_rationales)
    s3_iterate = line_magic(iterate.s3_iterate)
    s3_train = line_magic(iterate.s3_train)
    s3_final = line_magic(iterate.s3_final)
    s3_errors = line_magic(browse.s3_errors)
    s3_samples = line_magic(browse.s3_samples)
    s3_review = line_magic(browse.s3_review)
    s3_status = line_magic(browse.s3_status)
    s3_runs = line_magic(runs.s3_runs)
    s3_resume = line_magic(runs.s3_resume)
    s3_export = line_magic(runs.s3_export)
