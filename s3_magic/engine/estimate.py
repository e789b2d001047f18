"""A dry run: the most LLM calls, tokens and dollars a run can still spend, computed before any call is made."""

from __future__ import annotations

from typing import Any

from s3_magic.engine.context import RunContext
from s3_magic.engine.rationales import MAX_CALLS_PER_LABEL, rationales_by_label
from s3_magic.engine.seed import ZEROGEN_MAX_PROMPTS_PER_EXAMPLE
from s3_magic.example import Example
from s3_magic.llm.cached import estimate_prompt_tokens
from s3_magic.llm.prices import Price, cost_usd
from s3_magic.prompts import Prompts

#: a stand-in rationale for sizing seed prompts before the rationales exist
_PLACEHOLDER_RATIONALE = "a few words of reason"


def longest(ctx: RunContext, label: str, n: int) -> list[Example]:
    """The ``n`` longest validation examples of ``label``: the largest demonstrations a prompt can show."""
    of_label = [e for e in ctx.data.validation if e.label == label]
    return sorted(of_label, key=lambda e: -len(e.text) - len(e.text_b or ""))[:n]


def estimate_run(ctx: RunContext, prompts: Prompts) -> dict[str, Any]:
    """Calls and tokens still to spend: ``seed_calls`` (about, for round 0's data), ``max_calls`` and
    ``max_tokens`` (at most, every round extrapolating every validation example), the same in US dollars at the
    LLM's price (``max_seed_cost_usd``, ``max_cost_usd``, ``spent_usd``; None when the model has no known price),
    and whether the budgets (tokens and dollars) cover the seed data (``fits_seed``) and everything
    (``fits_all``); None without a budget.
    """
    task, store, run_id = ctx.task, ctx.store, ctx.run_id
    sizes = task.sizes
    done = {r.round for r in store.rounds(run_id)}  # every stored round has its data
    need = qa_needs(ctx, done) if task.is_qa else classification_needs(ctx, prompts, done)
    rationale_min, rationale_max, seed_min, seed_max, seed_prompt_tokens, per_round, longest_error = need
    rounds_left = [r for r in range(1, sizes.rounds + 1) if r not in done] if task.method == "s3" else []
    error_calls = per_round * len(rounds_left)
    max_calls = rationale_max + seed_max + error_calls
    completion = task.llm.max_tokens
    seed_tokens = seed_prompt_tokens + (rationale_max + seed_max) * completion
    max_tokens = seed_tokens + error_calls * (longest_error + completion)
    budget = task.llm.budget_tokens
    spent = store.usage(run_id)
    spent_tokens = spent["prompt_tokens"] + spent["completion_tokens"]
    left = None if budget is None else budget - spent_tokens
    price = task.llm.price()
    seed_completion = (rationale_max + seed_max) * completion
    seed_usd = _usd(price, seed_tokens - seed_completion, seed_completion)
    max_usd = _usd(price, max_tokens - max_calls * completion, max_calls * completion)
    spent_usd = _usd(price, spent["prompt_tokens"], spent["completion_tokens"])
    budget_usd = task.llm.budget_usd
    left_usd = None if budget_usd is None or spent_usd is None else budget_usd - spent_usd
    return {
        "task": task.name,
        "llm": task.llm.spec,
        **part_sizes(ctx),
        "seed_calls": rationale_min + seed_min,
        "max_calls": max_calls,
        "max_seed_tokens": seed_tokens,
        "max_tokens": max_tokens,
        "max_completion_tokens": max_calls * completion,
        "spent_tokens": spent_tokens,
        "budget_tokens": budget,
        "price": price,
        "max_seed_cost_usd": seed_usd,
        "max_cost_usd": max_usd,
        "spent_usd": spent_usd,
        "budget_usd": budget_usd,
        "fits_seed": _fits((seed_tokens, left), (seed_usd, left_usd)),
        "fits_all": _fits((max_tokens, left), (max_usd, left_usd)),
    }


#: (rationale calls at least, at most, seed calls at least, at most, seed prompt tokens at most, error calls per
#: round at most, the longest error prompt's tokens)
Needs = tuple[int, int, int, int, int, int, int]


def part_sizes(ctx: RunContext) -> dict[str, int]:
    qa = ctx.data.qa
    data = qa if qa is not None else ctx.data
    return {"validation": len(data.validation), "check": len(data.check), "test": len(data.test)}


def classification_needs(ctx: RunContext, prompts: Prompts, done: set[int]) -> Needs:
    """What a classification run still needs (see :data:`Needs`)."""
    task, store, run_id = ctx.task, ctx.store, ctx.run_id
    sizes, labels = task.sizes, task.labels
    seed_prompt_tokens = 0
    rationale_min = rationale_max = 0
    seed_min = seed_max = 0
    if task.method != "gold" and 0 not in done:
        stored = len(store.gen_keys(run_id, "zerogen:" if task.method == "zerogen" else "seed:"))
        seed_min = seed_max = max(0, sizes.seed_examples - stored)
        if task.method == "zerogen" and sizes.zerogen_accepted:
            seed_min = max(0, sizes.zerogen_accepted - stored)
            seed_max = max(0, sizes.zerogen_accepted * ZEROGEN_MAX_PROMPTS_PER_EXAMPLE - stored)
        k = sizes.rationales_per_example if task.method == "s3" else 0
        have = rationales_by_label(ctx)
        missing = [lab for lab in labels if k and not have.get(lab.name) and not (task.rationales or {}).get(lab.name)]
        rationale_min, rationale_max = len(missing), len(missing) * MAX_CALLS_PER_LABEL
        rationale_tokens = max(
            (
                estimate_prompt_tokens(
                    prompts.rationale(
                        lab,
                        sizes.rationales_per_label,
                        "0",
                        examples=longest(ctx, lab.name, sizes.rationale_demonstrations),
                    )
                )
                for lab in missing
            ),
            default=0,
        )
        context = max(ctx.data.contexts, key=len) if task.is_pair and ctx.data.contexts else None
        seed = max(
            estimate_prompt_tokens(
                prompts.seed(
                    lab,
                    [_PLACEHOLDER_RATIONALE] * k,
                    "0",
                    context=context,
                    demonstrations=longest(ctx, lab.name, sizes.demonstrations),
                )
            )
            for lab in labels
        )
        seed_prompt_tokens = rationale_max * rationale_tokens + seed_max * seed
    val = ctx.data.validation
    per_round = min(len(val), sizes.max_errors_per_round or len(val)) * sizes.examples_per_error
    longest_error = max((estimate_prompt_tokens(prompts.error(task.label(e.label), e, "0")) for e in val), default=0)
    return rationale_min, rationale_max, seed_min, seed_max, seed_prompt_tokens, per_round, longest_error


def qa_needs(ctx: RunContext, done: set[int]) -> Needs:
    """What a QA run still needs (see :data:`Needs`): no rationales; each seed prompt at most as long as the one
    for the pool's longest context with the longest validation questions as demonstrations."""
    from s3_magic.engine.qa_steps import qa_data, qa_prompts

    task, sizes, data, prompts = ctx.task, ctx.task.sizes, qa_data(ctx), qa_prompts(ctx)
    seed_min = seed_max = seed_tokens = 0
    method = "zerogen" if task.method == "zerogen" else "seed"
    if task.method != "gold" and 0 not in done:
        stored = len(ctx.store.gen_keys(ctx.run_id, f"{method}:"))
        seed_min = seed_max = max(0, sizes.seed_examples - stored)
        if task.method == "zerogen" and sizes.zerogen_accepted:
            seed_min = max(0, sizes.zerogen_accepted - stored)
            seed_max = max(0, sizes.zerogen_accepted * ZEROGEN_MAX_PROMPTS_PER_EXAMPLE - stored)
        k = sizes.demonstrations if method == "seed" else 0
        demos = sorted(data.validation, key=lambda q: -len(q.question) - len(q.context))[:k]
        widest = max(data.pool, key=lambda q: len(q.context))
        seed_tokens = seed_max * estimate_prompt_tokens(prompts.question(widest.context, widest.answer, "0", demos))
    per_round = min(len(data.validation), sizes.max_errors_per_round or len(data.validation)) * sizes.examples_per_error
    longest_error = max((estimate_prompt_tokens(prompts.error(q, "0")) for q in data.validation), default=0)
    return 0, 0, seed_min, seed_max, seed_tokens, per_round, longest_error


def _usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    return None if price is None else cost_usd(price, prompt_tokens, completion_tokens)


def _fits(*needs: tuple[float | None, float | None]) -> bool | None:
    """Whether every (need, left) pair with a budget fits; None when no budget is set."""
    checked = [need <= left for need, left in needs if left is not None and need is not None]
    return None if not checked else all(checked)
