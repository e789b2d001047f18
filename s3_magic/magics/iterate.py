"""``%s3_iterate`` (more S3 rounds), ``%s3_train`` (train and evaluate only) and ``%s3_final`` (the model to keep)."""

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


@options(argument("--out", help="folder for the model (default: <run folder>/<run id>-final)"))
def s3_final(self: Any, line: str) -> Any:
    """Train the model to keep: the student on the synthetic data of the best round (by check accuracy, the
    held-out real examples the loop never sees) plus the real labels, with the recipe chosen on the check split
    (``final.min_gain_se``). Saves a Hugging Face model folder with a model card; shows the recipes tried."""
    return call(self, "final", parse(s3_final, line))
