"""Step 2: seed synthesis (with or without rationales), and the ZeroGen baseline."""

from __future__ import annotations

from s3_magic.engine.context import RunContext
from s3_magic.engine.rationales import rationale_demonstration_uids, rationales_by_label
from s3_magic.engine.synthesize import (
    ZEROGEN_MAX_PROMPTS_PER_EXAMPLE,
    PlannedItem,
    SynthesisSummary,
    run_items,
    synthesize_until,
)
from s3_magic.example import Example
from s3_magic.prompts import Prompts

__all__ = ["ZEROGEN_MAX_PROMPTS_PER_EXAMPLE", "plan_seed", "plan_zerogen", "synthesize_seed", "synthesize_zerogen"]


def balanced_labels(ctx: RunContext, n: int, step: str) -> list[str]:
    """``n`` labels, as equal in count as possible, in a seeded random order."""
    names = ctx.task.label_names
    order = [names[i % len(names)] for i in range(n)]
    ctx.rng(step).shuffle(order)
    return order


def seed_demonstrations(ctx: RunContext, label: str, index: int, context: str | None = None) -> list[Example]:
    """The real examples shown in seed prompt ``index`` of ``label`` (``sizes.demonstrations`` of them, fewer
    when the label has fewer).

    Drawn from the validation split only (never the check or test split), by a generator that depends only on
    the task seed and the prompt's index, so the same seed gives the same prompts and the other choices of the
    seed step (labels, rationales, contexts) do not move. On a pair task a pair whose first text is the prompt's
    context is left out (the LLM would copy its second text).
    """
    k = ctx.task.sizes.demonstrations
    if not k:
        return []
    pool = [e for e in ctx.data.validation if e.label == label]
    if context is not None:
        pool = [e for e in pool if _norm(e.text) != _norm(context)]
    return ctx.rng(f"seed-demos:{index}").sample(pool, min(k, len(pool)))


def plan_seed(ctx: RunContext, prompts: Prompts) -> list[PlannedItem]:
    """Round 0's prompts. Each origin records the rationales, the uids of the real examples shown as
    demonstrations (``demonstrations``) and of those shown when its rationales were written
    (``rationale_demonstrations``)."""
    task = ctx.task
    k = task.sizes.rationales_per_example
    rationales = rationales_by_label(ctx) if k else {}
    shown_for = rationale_demonstration_uids(ctx) if k else {}
    rng = ctx.rng("seed")
    items = []
    for i, name in enumerate(balanced_labels(ctx, task.sizes.seed_examples, "seed-labels")):
        pool = rationales.get(name, [])
        chosen = rng.sample(pool, min(k, len(pool))) if k else []
        context = rng.choice(ctx.data.contexts) if task.is_pair else None
        demos = seed_demonstrations(ctx, name, i, context)
        key = f"seed:{i}"
        prompt = prompts.seed(task.label(name), chosen, sample=key, context=context, demonstrations=demos)
        behind = shown_for.get(name, {})
        origin = {
            "method": "seed", "rationales": chosen, "demonstrations": [e.uid for e in demos],
            "rationale_demonstrations": list(dict.fromkeys(u for r in chosen for u in behind.get(r, []))),
        }  # fmt: skip
        items.append(PlannedItem(key, prompt, name, origin, context))
    return items


def synthesize_seed(ctx: RunContext, prompts: Prompts) -> SynthesisSummary:
    return run_items(ctx, plan_seed(ctx, prompts), round_no=0, kind="seed", step="seed")


def plan_zerogen(ctx: RunContext, prompts: Prompts, n: int) -> list[PlannedItem]:
    task = ctx.task
    rng = ctx.rng("zerogen")
    items = []
    for i, name in enumerate(balanced_labels(ctx, n, "zerogen-labels")):
        context = rng.choice(ctx.data.contexts) if task.is_pair else None
        key = f"zerogen:{i}"
        prompt = prompts.zerogen(task.label(name), sample=key, context=context)
        items.append(PlannedItem(key, prompt, name, {"method": "zerogen"}, context))
    return items


def synthesize_zerogen(ctx: RunContext, prompts: Prompts, n: int, accepted: int | None = None) -> SynthesisSummary:
    """``n`` ZeroGen prompts; with ``accepted``, as many prompts as it takes until that many examples pass the
    filters (see :func:`~s3_magic.engine.synthesize.synthesize_until`)."""
    if accepted is None:
        return run_items(ctx, plan_zerogen(ctx, prompts, n), round_no=0, kind="zerogen", step="zerogen")
    return synthesize_until(ctx, lambda size: plan_zerogen(ctx, prompts, size), accepted, "zerogen")


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())
