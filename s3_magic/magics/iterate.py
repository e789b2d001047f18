"""``%s3_iterate`` (more S3 rounds) and ``%s3_train`` (train and evaluate only)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument

from s3_magic.magics.args import BUDGET, PAGE, call, options, parse


@options(argument("-n", "--rounds", type=int, default=1, help="rounds to run (default 1)"), *BUDGET, *PAGE)
def s3_iterate(self: Any, line: str) -> Any:
    """Run more S3 rounds on the current run: extrapolate the validation errors with the LLM, train the
    student, evaluate. Shows the errors with what the LLM made of them, and accuracy per round."""
    return call(self, "iterate", parse(s3_iterate, line))


@options(*PAGE)
def s3_train(self: Any, line: str) -> Any:
    """Train and evaluate the student on the newest round whose data is complete; shows its errors."""
    return call(self, "train", parse(s3_train, line))
