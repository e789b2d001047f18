"""Steps 3–4: train the student from scratch on accepted data, evaluate it, collect validation errors.

The check split is predicted for the honest estimate (``check_acc``) that every choice reads; its examples are
not stored as errors, so nothing extrapolates them. The test split is only predicted for the report: its
accuracy is stored and shown, never read by any step that chooses something.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from s3_magic.engine.context import RunContext
from s3_magic.errors import S3Error
from s3_magic.example import Example
from s3_magic.records import EVALUATED, Round


def training_examples(ctx: RunContext, round_no: int) -> list[Example]:
    """Accepted synthetic examples of rounds ``0..round_no`` (or the gold data for the gold method)."""
    if ctx.task.method == "gold":
        return list(ctx.data.gold)
    rows = ctx.store.examples(ctx.run_id, max_round=round_no, accepted=True)
    return [r.example() for r in rows if r.text]


def train_and_evaluate(ctx: RunContext, round_no: int, extra_stats: dict[str, Any] | None = None) -> Round:
    """Train on everything accepted up to ``round_no``, evaluate, store errors and stats; return the round."""
    train = training_examples(ctx, round_no)
    counts = Counter(e.label for e in train)
    if len(counts) < 2:
        found = ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"
        raise S3Error(
            f"round {round_no} has accepted training examples of fewer than two labels ({found}); "
            "synthesise more examples (sizes.seed_examples) or loosen the filters"
        )
    student, fit_stats, started = fit_round_student(
        ctx, train, f"round {round_no}: training the student on {len(train)} examples"
    )
    val = ctx.data.validation
    preds = student.predict(val, progress=lambda d, t: ctx.reporter.progress("evaluate", d, t))
    errors = [
        {"uid": ex.uid, "text": ex.text, "text_b": ex.text_b, "gold": ex.label, "pred": p, "confidence": c}
        for ex, p, c in zip(val, preds.labels, preds.confidences, strict=True)
        if p != ex.label
    ]
    stats: dict[str, Any] = dict(extra_stats or {})
    stats.update(
        n_train=len(train),
        train_by_label=dict(counts),
        val_acc=preds.accuracy([e.label for e in val]),
        n_errors=len(errors),
        train_seconds=round_s(fit_stats.get("seconds", time.time() - started)),
    )
    stats.update(held_out_scores(ctx, student))
    stats["eval_seconds"] = round_s(time.time() - started - stats["train_seconds"])
    record = Round.from_stats(round_no, EVALUATED, stats)
    ctx.store.save_evaluation(ctx.run_id, errors, record)
    return record


def fit_round_student(ctx: RunContext, train: Sequence[Any], message: str) -> tuple[Any, dict[str, Any], float]:
    """A fresh student fitted on ``train`` (after ``message``): the student, its fit stats and when it started."""
    student = ctx.new_student()
    started = time.time()
    ctx.reporter.message(message)
    fit_stats = student.fit(list(train), seed=ctx.task.seed, progress=lambda d, t: ctx.reporter.progress("train", d, t))
    return student, fit_stats, started


def accuracy(student: Any, examples: Sequence[Example]) -> float | None:
    """The student's accuracy on ``examples``, or None when there are none."""
    return student.predict(list(examples)).accuracy([e.label for e in examples]) if examples else None


def held_out_scores(ctx: RunContext, student: Any) -> dict[str, Any]:
    """``check_acc`` and ``n_check`` (when the task has a check split) and the report-only ``test_acc``."""
    scores: dict[str, Any] = {}
    if ctx.data.check:
        scores.update(check_acc=accuracy(student, ctx.data.check), n_check=len(ctx.data.check))
    if ctx.data.test:
        scores["test_acc"] = accuracy(student, ctx.data.test)
    return scores


def round_s(x: float) -> float:
    return float(f"{x:.2f}")
