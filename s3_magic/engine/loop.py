"""The S3 loop as a resumable state machine over the run store.

Round ``r`` has two phases. *Data*: round 0 makes rationales and seed data (or ZeroGen data);
round ``r > 0`` extrapolates the validation errors of round ``r - 1``. *Evaluation*: the student is
trained from scratch on all accepted data of rounds ``0..r`` and evaluated. Each phase is recorded
when it completes (``generated``, then ``evaluated``), every example as it arrives, so a resumed run
redoes only unfinished work and never makes an example twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from s3_magic.engine.context import RunContext
from s3_magic.engine.extrapolate import extrapolate_errors
from s3_magic.engine.judge import judge_round
from s3_magic.engine.rationales import generate_rationales
from s3_magic.engine.seed import synthesize_seed, synthesize_zerogen
from s3_magic.engine.training import train_and_evaluate
from s3_magic.errors import BudgetExceeded, S3Error
from s3_magic.prompts import Prompts

GENERATED, EVALUATED = "generated", "evaluated"


def ensure_data(ctx: RunContext, prompts: Prompts, round: int) -> dict[str, Any]:
    """Make round ``round``'s synthetic data unless it is already complete; return the round's data stats."""
    status, stats = ctx.store.round_state(ctx.run_id, round)
    if status in (GENERATED, EVALUATED):
        return stats
    task = ctx.task
    started = time.time()
    hits_before = ctx.llm.stats.cache_hits if ctx._llm is not None else 0
    if task.method == "gold":
        pass
    elif round == 0 and task.method == "zerogen":
        synthesize_zerogen(ctx, prompts, task.sizes.seed_examples, accepted=task.sizes.zerogen_accepted)
    elif round == 0:
        if task.sizes.rationales_per_example:
            generate_rationales(ctx, prompts)
        synthesize_seed(ctx, prompts)
    else:
        prev, _ = ctx.store.round_state(ctx.run_id, round - 1)
        if prev != EVALUATED:
            raise S3Error(f"round {round - 1} has not been evaluated yet; train and evaluate it before round {round}")
        extrapolate_errors(ctx, prompts, round)
    judged = judge_round(ctx, round)
    hits = (ctx.llm.stats.cache_hits if ctx._llm is not None else 0) - hits_before
    stats = {**data_stats(ctx, round, seconds=time.time() - started, cache_hits=hits), **judged}
    ctx.store.set_round(ctx.run_id, round, GENERATED, stats)
    return stats


def data_stats(ctx: RunContext, round: int, seconds: float, cache_hits: int) -> dict[str, Any]:
    verdicts = ctx.store.verdicts(ctx.run_id, round)
    usage = ctx.store.usage(ctx.run_id, step_prefix=f"r{round}:")
    return {
        "new_accepted": verdicts.pop("ok", 0),
        "rejected": verdicts,
        "llm_calls": usage["calls"],
        "cache_hits": cache_hits,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "data_seconds": float(f"{seconds:.2f}"),
    }


def ensure_evaluated(ctx: RunContext, prompts: Prompts, round: int) -> dict[str, Any]:
    status, stats = ctx.store.round_state(ctx.run_id, round)
    if status == EVALUATED:
        return stats
    data = ensure_data(ctx, prompts, round)
    return train_and_evaluate(ctx, round, extra_stats=data)


def last_evaluated(ctx: RunContext) -> int:
    """The highest evaluated round, or -1."""
    done = [r["round"] for r in ctx.store.rounds(ctx.run_id) if r["status"] == EVALUATED]
    return max(done, default=-1)


def steering_metric(ctx: RunContext) -> str:
    """The accuracy every choice reads: ``check_acc``, or ``val_acc`` on a task with no check split."""
    return "check_acc" if ctx.data.check else "val_acc"


def best_round(ctx: RunContext) -> int:
    """The evaluated round with the highest check accuracy (the later one on a tie), or -1.

    It reads check accuracy only (validation accuracy where the task has no check split), never test accuracy.
    """
    key = steering_metric(ctx)
    scored = [(r[key], r["round"]) for r in ctx.store.rounds(ctx.run_id) if r["status"] == EVALUATED]
    return max(scored, default=(None, -1))[1]


def should_stop(ctx: RunContext) -> bool:
    """Early stop: no check-accuracy gain of ``min_delta`` for ``patience`` rounds (see :func:`steering_metric`)."""
    patience = ctx.task.stop.patience
    if patience is None:
        return False
    key = steering_metric(ctx)
    accs = [r[key] for r in ctx.store.rounds(ctx.run_id) if r["status"] == EVALUATED]
    if len(accs) <= patience:
        return False
    best_before = max(accs[:-patience])
    return max(accs[-patience:]) < best_before + ctx.task.stop.min_delta


@contextmanager
def tracked(ctx: RunContext) -> Iterator[None]:
    """Mark the run ``running`` by this process while the block runs (refused while another live process runs
    it); record a budget stop, an interrupt or a failure."""
    store, run_id = ctx.store, ctx.run_id
    store.claim_run(run_id)
    try:
        yield
    except BudgetExceeded as exc:
        store.set_run_status(run_id, "stopped", str(exc))
        raise
    except KeyboardInterrupt:
        store.set_run_status(run_id, "interrupted", "interrupted; resume it to go on")
        raise
    except Exception as exc:
        store.set_run_status(run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
        raise


def run_rounds(ctx: RunContext, prompts: Prompts, until: int | None = None) -> list[dict[str, Any]]:
    """Run (or resume) rounds up to ``until`` (default: the task's rounds) and return the round table."""
    task = ctx.task
    final = 0 if task.method != "s3" else (task.sizes.rounds if until is None else until)
    store, run_id = ctx.store, ctx.run_id
    with tracked(ctx):
        for r in range(final + 1):
            if r > 0 and store.round_state(run_id, r)[0] is None and should_stop(ctx):
                what = "check" if ctx.data.check else "validation"
                ctx.reporter.message(
                    f"stopping early: {what} accuracy has not improved for {task.stop.patience} rounds"
                )
                store.set_run_status(run_id, "finished", f"stopped early (no {what} gain)")
                return store.rounds(run_id)
            ensure_evaluated(ctx, prompts, r)
    done = final >= task.sizes.rounds or task.method != "s3"
    store.set_run_status(run_id, "finished" if done else "paused", None if done else f"evaluated round {final}")
    return store.rounds(run_id)
