"""Step 5: error extrapolation — new examples of the gold label, similar to each misclassified one."""

from __future__ import annotations

from typing import Any

from s3_magic.engine.context import RunContext
from s3_magic.engine.synthesize import PlannedItem, SynthesisSummary, run_items
from s3_magic.example import Example
from s3_magic.prompts import Prompts


def plan_extrapolation(
    ctx: RunContext, prompts: Prompts, errors: list[dict[str, Any]], round_no: int
) -> list[PlannedItem]:
    """Items for round ``round_no`` from the errors of round ``round_no - 1`` (most confident mistakes first)."""
    task = ctx.task
    cap = task.sizes.max_errors_per_round
    chosen = errors[:cap] if cap else errors
    items = []
    for err in chosen:
        source = Example(err["text"], err["gold"], err.get("text_b"), err["uid"])
        for j in range(task.sizes.examples_per_error):
            key = f"r{round_no}:{err['uid']}:{j}"
            prompt = prompts.error(task.label(err["gold"]), source, sample=key)
            origin = {
                "method": "extrapolated", "from_uid": err["uid"], "from_text": err["text"],
                "from_text_b": err.get("text_b"), "from_pred": err["pred"], "from_confidence": err["confidence"],
                "error_round": round_no - 1,
            }  # fmt: skip
            items.append(PlannedItem(key, prompt, err["gold"], origin, source.text if task.is_pair else None))
    return items


def extrapolate_errors(ctx: RunContext, prompts: Prompts, round_no: int) -> SynthesisSummary:
    errors = ctx.store.errors(ctx.run_id, round_no - 1)
    items = plan_extrapolation(ctx, prompts, errors, round_no)
    return run_items(ctx, items, round_no=round_no, kind="extrapolated", step="extrapolate")
