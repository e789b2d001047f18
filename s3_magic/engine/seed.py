"""Step 2: seed synthesis (with or without rationales), and the ZeroGen baseline."""

from __future__ import annotations

from s3_magic.engine.context import RunContext
from s3_magic.engine.rationales import rationales_by_label
from s3_magic.engine.synthesize import PlannedItem, SynthesisSummary, run_items
from s3_magic.prompts import Prompts


def balanced_labels(ctx: RunContext, n: int, step: str) -> list[str]:
    """``n`` labels, as equal in count as possible, in a seeded random order."""
    names = ctx.task.label_names
    order = [names[i % len(names)] for i in range(n)]
    ctx.rng(step).shuffle(order)
    return order


def plan_seed(ctx: RunContext, prompts: Prompts) -> list[PlannedItem]:
    task = ctx.task
    k = task.sizes.rationales_per_example
    rationales = rationales_by_label(ctx) if k else {}
    rng = ctx.rng("seed")
    items = []
    for i, name in enumerate(balanced_labels(ctx, task.sizes.seed_examples, "seed-labels")):
        pool = rationales.get(name, [])
        chosen = rng.sample(pool, min(k, len(pool))) if k else []
        context = rng.choice(ctx.data.contexts) if task.is_pair else None
        key = f"seed:{i}"
        prompt = prompts.seed(task.label(name), chosen, sample=key, context=context)
        origin = {"method": "seed", "rationales": chosen}
        items.append(PlannedItem(key, prompt, name, origin, context))
    return items


def synthesize_seed(ctx: RunContext, prompts: Prompts) -> SynthesisSummary:
    return run_items(ctx, plan_seed(ctx, prompts), round=0, kind="seed", step="seed")


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


def synthesize_zerogen(ctx: RunContext, prompts: Prompts, n: int) -> SynthesisSummary:
    return run_items(ctx, plan_zerogen(ctx, prompts, n), round=0, kind="zerogen", step="zerogen")
