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
from s3_magic.engine.qa_steps import extrapolate_qa_errors, qa_train_and_evaluate, synthesize_qa_seed
from s3_magic.engine.rationales import generate_rationales
from s3_magic.engine.seed import synthesize_seed, synthesize_zerogen
from s3_magic.engine.training import train_and_evaluate
from s3_magic.errors import BudgetExceeded, S3Error
from s3_magic.prompts import Prompts
from s3_magic.records import (
    FAILED,
    FINISHED,
    GENERATED,
    INTERRUPTED,
    PAUSED,
    STOPPED,
    Round,
)
from s3_magic.records import last_evaluated as last_of


def ensure_data(ctx: RunContext, prompts: Prompts, round_no: int) -> Round:
    """Make round ``round_no``'s synthetic data unless it is already complete; return the round."""
    stored = ctx.store.get_round(ctx.run_id, round_no)
    if stored is not None:
        return stored
    task = ctx.task
    started = time.time()
    hits_before = ctx.llm.stats.cache_hits if ctx._llm is not None else 0
    generation_before = generation_counters(ctx)
    if task.method == "gold":
        pass
    elif task.is_qa:
        qa_data_phase(ctx, round_no)
    elif round_no == 0 and task.method == "zerogen":
        synthesize_zerogen(ctx, prompts, task.sizes.seed_examples, accepted=task.sizes.zerogen_accepted)
    elif round_no == 0:
        if task.sizes.rationales_per_example:
            generate_rationales(ctx, prompts)
        synthesize_seed(ctx, prompts)
    else:
        require_evaluated(ctx, round_no - 1)
        extrapolate_errors(ctx, prompts, round_no)
    judged = judge_round(ctx, round_no)
    hits = (ctx.llm.stats.cache_hits if ctx._llm is not None else 0) - hits_before
    generation = generation_stats(generation_before, generation_counters(ctx))
    stats = {**data_stats(ctx, round_no, seconds=time.time() - started, cache_hits=hits), **generation, **judged}
    record = Round.from_stats(round_no, GENERATED, stats)
    ctx.store.set_round(ctx.run_id, record)
    return record


def require_evaluated(ctx: RunContext, round_no: int) -> None:
    """Refuse to extrapolate from round ``round_no`` before it has been evaluated."""
    prev = ctx.store.get_round(ctx.run_id, round_no)
    if prev is None or not prev.evaluated:
        raise S3Error(f"round {round_no} has not been evaluated yet; train and evaluate it before round {round_no + 1}")


def qa_data_phase(ctx: RunContext, round_no: int) -> None:
    """A QA round's data: seed (or ZeroGen) questions in round 0, extrapolated errors after."""
    if round_no == 0:
        synthesize_qa_seed(ctx, "zerogen" if ctx.task.method == "zerogen" else "seed")
    else:
        require_evaluated(ctx, round_no - 1)
        extrapolate_qa_errors(ctx, round_no)


def data_stats(ctx: RunContext, round_no: int, seconds: float, cache_hits: int) -> dict[str, Any]:
    """The data phase's stats of a round: verdict counts, LLM calls and tokens, seconds."""
    verdicts = ctx.store.verdicts(ctx.run_id, round_no)
    usage = ctx.store.usage(ctx.run_id, step_prefix=f"r{round_no}:")
    return {
        "new_accepted": verdicts.pop("ok", 0),
        "rejected": verdicts,
        "llm_calls": usage["calls"],
        "cache_hits": cache_hits,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "data_seconds": float(f"{seconds:.2f}"),
    }


def generation_counters(ctx: RunContext) -> tuple[float, int, int, int, int]:
    """So far in this process: seconds spent waiting for real LLM calls, their prompt and completion tokens, and
    the backend's batch rows (generating, batch size) summed over decode steps."""
    if ctx._llm is None:
        return (0.0, 0, 0, 0, 0)
    stats = ctx._llm.stats
    live, capacity = ctx._llm.backend.batch_occupancy()
    return (stats.seconds, stats.prompt_tokens, stats.completion_tokens, live, capacity)


def generation_stats(
    before: tuple[float, int, int, int, int], after: tuple[float, int, int, int, int]
) -> dict[str, float]:
    """The generation throughput between two :func:`generation_counters` (nothing when no real call was made)."""
    seconds, prompt, completion, live, capacity = (b - a for a, b in zip(before, after, strict=True))
    if seconds <= 0 or completion <= 0:
        return {}
    out = {
        "gen_seconds": round(seconds, 3),
        "completion_tok_s": round(completion / seconds, 1),
        "prompt_tok_s": round(prompt / seconds, 1),
    }
    if capacity > 0:
        out["batch_occupancy"] = round(live / capacity, 3)
    return out


def ensure_evaluated(ctx: RunContext, prompts: Prompts, round_no: int) -> Round:
    """Make round ``round_no``'s data if needed, then train and evaluate its student unless that is done."""
    stored = ctx.store.get_round(ctx.run_id, round_no)
    if stored is not None and stored.evaluated:
        return stored
    data = ensure_data(ctx, prompts, round_no)
    evaluate = qa_train_and_evaluate if ctx.task.is_qa else train_and_evaluate
    return evaluate(ctx, round_no, extra_stats=data.stats())


def last_evaluated(ctx: RunContext) -> int:
    """The highest evaluated round, or -1."""
    return last_of(ctx.store.rounds(ctx.run_id))


def steering_metric(ctx: RunContext) -> str:
    """The score every choice reads: ``check_acc``, or ``val_acc`` on a task with no check split (a QA task's
    F1: ``check_f1`` or ``val_f1``)."""
    qa = ctx.data.qa
    if qa is not None:
        return "check_f1" if qa.check else "val_f1"
    return "check_acc" if ctx.data.check else "val_acc"


def best_round(ctx: RunContext) -> int:
    """The evaluated round with the highest check accuracy (the later one on a tie), or -1.

    It reads check accuracy only (validation accuracy where the task has no check split), never test accuracy.
    """
    key = steering_metric(ctx)
    scored = [(getattr(r, key), r.round) for r in ctx.store.rounds(ctx.run_id) if r.evaluated]
    return max(scored, default=(None, -1))[1]


def should_stop(ctx: RunContext) -> bool:
    """Early stop: no check-accuracy gain of ``min_delta`` for ``patience`` rounds (see :func:`steering_metric`)."""
    patience = ctx.task.stop.patience
    if patience is None:
        return False
    key = steering_metric(ctx)
    accs: list[float] = [getattr(r, key) for r in ctx.store.rounds(ctx.run_id) if r.evaluated]
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
        store.set_run_status(run_id, STOPPED, str(exc))
        raise
    except KeyboardInterrupt:
        store.set_run_status(run_id, INTERRUPTED, "interrupted; resume it to go on")
        raise
    except Exception as exc:
        store.set_run_status(run_id, FAILED, f"{type(exc).__name__}: {exc}"[:500])
        raise


def run_rounds(ctx: RunContext, prompts: Prompts, until: int | None = None) -> list[Round]:
    """Run (or resume) rounds up to ``until`` (default: the task's rounds) and return the round table."""
    task = ctx.task
    final = 0 if task.method != "s3" else (task.sizes.rounds if until is None else until)
    store, run_id = ctx.store, ctx.run_id
    with tracked(ctx):
        for r in range(final + 1):
            if r > 0 and store.get_round(run_id, r) is None and should_stop(ctx):
                metric = steering_metric(ctx)
                what = "check" if metric.startswith("check") else "validation"
                score = "F1" if metric.endswith("f1") else "accuracy"
                ctx.reporter.message(f"stopping early: {what} {score} has not improved for {task.stop.patience} rounds")
                store.set_run_status(run_id, FINISHED, f"stopped early (no {what} gain)")
                return store.rounds(run_id)
            ensure_evaluated(ctx, prompts, r)
    done = final >= task.sizes.rounds or task.method != "s3"
    store.set_run_status(run_id, FINISHED if done else PAUSED, None if done else f"evaluated round {final}")
    return store.rounds(run_id)
