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
    sizes, labels = task.sizes, task.labels
    done = {r.round for r in store.rounds(run_id)}  # every stored round has its data
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
    rounds_left = [r for r in range(1, sizes.rounds + 1) if r not in done] if task.method == "s3" else []
    error_calls = per_round * len(rounds_left)
    longest_error = max((estimate_prompt_tokens(prompts.error(task.label(e.label), e, "0")) for e in val), default=0)
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
        "validation": len(val),
        "check": len(ctx.data.check),
        "test": len(ctx.data.test),
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


def _usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    return None if price is None else cost_usd(price, prompt_tokens, completion_tokens)


def _fits(*needs: tuple[float | None, float | None]) -> bool | None:
    """Whether every (need, left) pair with a budget fits; None when no budget is set."""
    checked = [need <= left for need, left in needs if left is not None and need is not None]
    return None if not checked else all(checked)
