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


#: with a target of accepted examples, ZeroGen gives up after this many prompts per wanted example
ZEROGEN_MAX_PROMPTS_PER_EXAMPLE = 4


def synthesize_zerogen(ctx: RunContext, prompts: Prompts, n: int, accepted: int | None = None) -> SynthesisSummary:
    """``n`` ZeroGen prompts; with ``accepted``, as many prompts as it takes until that many examples pass the
    filters (at most ``ZEROGEN_MAX_PROMPTS_PER_EXAMPLE`` per wanted example).

    Prompts are taken in order, each chunk as large as the number still missing, so no chunk overshoots the
    target, and the chunks depend only on stored verdicts: a resumed run replays the same chunks.
    """
    if accepted is None:
        return run_items(ctx, plan_zerogen(ctx, prompts, n), round=0, kind="zerogen", step="zerogen")
    pool = plan_zerogen(ctx, prompts, accepted * ZEROGEN_MAX_PROMPTS_PER_EXAMPLE)
    total = SynthesisSummary(planned=0)
    used = 0
    while used < len(pool):
        ok = {row["gen_key"] for row in ctx.store.examples(ctx.run_id, round=0, kind="zerogen", accepted=True)}
        missing = accepted - sum(item.gen_key in ok for item in pool[:used])
        if missing <= 0:
            break
        chunk = pool[used : used + missing]
        part = run_items(ctx, chunk, round=0, kind="zerogen", step="zerogen")
        total.planned += part.planned
        total.already_done += part.already_done
        total.accepted += part.accepted
        total.rejected.update(part.rejected)
        used += len(chunk)
    return total
