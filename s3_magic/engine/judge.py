"""The validation judge: a student trained on the validation examples checks the labels of new synthetic data.

Small LLMs often write an example whose content does not match the label they were asked for. Before a round's
data is complete, a student trained (with the task's recipe and seed) on the validation examples predicts every
new accepted example of the round; one it gives another label with at least ``filters.judge_confidence`` is
rejected as ``judge_disagrees``. It reads the validation split only, never the test split. Examples a user has
edited are left alone. Judging is deterministic, so a resumed round rejects the same examples.
"""

from __future__ import annotations

import time
from typing import Any

from s3_magic.engine.context import RunContext

VERDICT = "judge_disagrees"


def judge_round(ctx: RunContext, round_no: int) -> dict[str, Any]:
    """Reject the round's new examples the validation judge confidently disagrees with; return its stats."""
    threshold = ctx.task.filters.judge_confidence
    if threshold is None or ctx.task.method != "s3" or not ctx.data.validation:
        return {}
    rows = [
        r
        for r in ctx.store.examples(ctx.run_id, round_no=round_no, accepted=True)
        if r.verdict == "ok" and not r.edited and r.text
    ]
    if not rows:
        return {}
    started = time.time()
    judge = validation_judge(ctx)
    preds = judge.predict([r.example() for r in rows])
    rejected = {
        r.id: VERDICT
        for r, label, conf in zip(rows, preds.labels, preds.confidences, strict=True)
        if label != r.label and conf >= threshold
    }
    ctx.store.set_verdicts(rejected)
    if rejected:
        ctx.reporter.message(f"round {round_no}: the validation judge rejected {len(rejected)} of {len(rows)} examples")
    seconds = float(f"{time.time() - started:.2f}")
    return {"judge_checked": len(rows), "judge_rejected": len(rejected), "judge_seconds": seconds}


def validation_judge(ctx: RunContext) -> Any:
    """The student trained on the validation examples, once per run context."""
    if ctx.judge is not None:
        return ctx.judge
    ctx.reporter.message(f"training the validation judge on {len(ctx.data.validation)} examples")
    judge = ctx.new_student()
    judge.fit(list(ctx.data.validation), seed=ctx.task.seed)
    ctx.judge = judge
    return judge
