"""Looking at a run: ``%s3_errors``, ``%s3_samples``, ``%s3_review``, ``%s3_status``."""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument

from s3_magic.magics.args import FILTERS, PAGE, call, options, parse


@options(
    argument("-r", "--round", dest="round_no", metavar="ROUND", type=int, help="round (default: the newest evaluated)"),
    *PAGE,
)
def s3_errors(self: Any, line: str) -> Any:
    """The validation errors of a round (gold, prediction, confidence) with the examples the LLM
    extrapolated from each in the next round, and their filter verdicts."""
    return call(self, "errors", parse(s3_errors, line))


@options(
    *FILTERS,
    argument("--accepted", action="store_const", const=True, help="only accepted examples"),
    argument("--rejected", dest="accepted", action="store_const", const=False, help="only rejected examples"),
    *PAGE,
)
def s3_samples(self: Any, line: str) -> Any:
    """Browse the synthetic examples of any round (default: all), filtered by label, kind and verdict."""
    return call(self, "samples", parse(s3_samples, line))


@options(*FILTERS, *PAGE)
def s3_review(self: Any, line: str) -> Any:
    """Accept, reject or edit synthetic examples (default: the newest round's); saved to the run at once,
    and the next training uses only accepted examples."""
    return call(self, "review", parse(s3_review, line))


@options()
def s3_status(self: Any, line: str) -> Any:
    """The current run: status, rounds (accuracy, data size, LLM calls) and token usage."""
    return call(self, "status", parse(s3_status, line))
