"""Running one arm for one seed as an ordinary run of the engine, in the benchmark's run folder.

Each arm of each seed is the run named after the arm in its own folder ``<runs>/<task>/<profile>/seed<s>/<arm>/``, with
its own LLM call cache: the local backend's sampling seed changes with the benchmark seed (and is not part of the
cache key), and an arm never gets another arm's calls for free, so its tokens and seconds are its own cost.
Running an arm again opens that run: a finished run is only read back, an unfinished one resumes where it
stopped, and every LLM call it already made is answered from the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3_magic import ConfigError, Deduper, Reporter, Round, Session, TaskSpec
from s3_magic_bench.protocol import Protocol, arm_task, protocol_folder

#: the in-run generation figures of a round, averaged over an arm's rounds weighted by their ``gen_seconds``
GENERATION_RATES = ("completion_tok_s", "prompt_tok_s", "batch_occupancy")


def arm_folder(runs: str | Path, protocol: Protocol, arm: str, seed: int) -> Path:
    return protocol_folder(runs, protocol) / f"seed{seed}" / arm


def run_arm(
    protocol: Protocol,
    arm: str,
    seed: int,
    runs: str | Path,
    zerogen_examples: int | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Run (or resume, or read back) ``arm`` for ``seed`` and return its result (see :func:`arm_result`)."""
    task = arm_task(protocol, arm, seed, zerogen_examples, runs=runs)
    with finished_run(task, arm_folder(runs, protocol, arm, seed), arm, reporter) as session:
        return arm_result(session, arm, seed)


def finished_run(task: TaskSpec, folder: Path, arm: str, reporter: Reporter | None) -> Session:
    """The arm's run in ``folder``, run to its end: opened (and resumed) when it exists, else created; refused
    when it was made with another task."""
    if arm in Session.run_ids(folder):
        session = Session.open(arm, folder=folder, reporter=reporter)
    else:
        session = Session.create(task, folder=folder, name=arm, reporter=reporter)
    try:
        check_same_task(session.task, task, arm, folder)
        session.run()
    except BaseException:
        session.close()
        raise
    return session


def check_same_task(existing: TaskSpec, task: TaskSpec, arm: str, folder: Path) -> None:
    """Refuse to mix results: an existing run must have been made with exactly this arm's task (the student's
    options compared with their defaults filled in: an option given at its default is the same setting)."""
    stored = {**existing.to_dict(), "student": existing.student.recipe()}
    wanted = {**task.to_dict(), "student": task.student.recipe()}
    if stored != wanted:
        changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ConfigError(
            f"the {arm} run in {str(folder)!r} was made with other settings ({', '.join(changed)}); "
            "pass another --folder or delete that folder to start the arm again"
        )


def arm_result(session: Session, arm: str, seed: int) -> dict[str, Any]:
    """One arm's numbers for one seed, read from its finished run.

    ``test_acc`` values are copied for the report only; nothing in the benchmark decides anything with them.
    ``check_acc`` is None for an arm without a check split (the gold arms). ``cost_usd`` is what the run's LLM
    calls cost at its LLM's price (None: no known price); the in-run generation figures are those of
    :func:`generation_figures`.
    """
    rows = [r for r in session.rounds() if r.evaluated]
    if not rows:
        raise ConfigError(f"the {arm} run {session.run_id!r} has no evaluated round; resume it")
    usage = session.usage()
    last = rows[-1]
    data = session.data
    labelled = [*data.validation, *data.check]
    return {
        "arm": arm,
        "seed": seed,
        "run_id": session.run_id,
        "folder": str(session.folder),
        "status": session.status,
        "n_train": last.n_train,
        "val_acc": last.val_acc,
        "check_acc": last.check_acc,
        "test_acc": last.test_acc,
        "n_validation": len(data.validation),
        "n_check": len(data.check),
        "n_test": len(data.test),
        "labelled_mean_words": round(sum(len(e.text.split()) for e in labelled) / len(labelled), 1),
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "llm_calls": usage["calls"],
        "cost_usd": session.cost_usd(),
        "cache_hits": sum(r.cache_hits or 0 for r in rows),
        "seconds": round(sum(r.seconds for r in rows), 2),
        **{k: round(sum(float(getattr(r, k) or 0.0) for r in rows), 2) for k in Round.PHASE_SECONDS},
        **generation_figures(rows),
        "train_copies_of_test": train_copies_of_test(session, last.round),
        "rounds": [
            {
                "round": r.round,
                "n_train": r.n_train,
                "new_accepted": r.new_accepted or 0,
                "val_acc": r.val_acc,
                "check_acc": r.check_acc,
                "test_acc": r.test_acc,
                "n_check": r.n_check,
                "n_errors": r.n_errors,
                "seconds": round(r.seconds, 2),
                **{k: getattr(r, k) for k in Round.PHASE_SECONDS},
                **{k: getattr(r, k) for k in ("gen_seconds", *GENERATION_RATES, "cost_usd")},
            }
            for r in rows
        ],
    }


def generation_figures(rounds: Sequence[Round]) -> dict[str, float | None]:
    """The in-run LLM generation of ``rounds``: ``gen_seconds`` (seconds waiting for real calls, summed) and each
    of :data:`GENERATION_RATES` averaged over the rounds that have it, weighted by their ``gen_seconds`` (None
    where no round has it: no real call was made in the process, or the backend does not batch)."""
    out: dict[str, float | None] = {"gen_seconds": None}
    timed = [r for r in rounds if r.gen_seconds]
    if timed:
        out["gen_seconds"] = round(sum(float(r.gen_seconds or 0.0) for r in timed), 3)
    for key in GENERATION_RATES:
        pairs = [(float(r.gen_seconds or 0.0), getattr(r, key)) for r in timed if getattr(r, key) is not None]
        weight = sum(w for w, _ in pairs)
        out[key] = round(sum(w * float(v) for w, v in pairs) / weight, 3) if weight > 0 else None
    return out


def train_copies_of_test(session: Session, round_no: int) -> int:
    """Report-only diagnostic: training examples that are (near) copies of a test sentence.

    The benchmark's filters do not look at the test split, so this counts how much of it the LLM reproduced. The
    benchmark's tasks are single-text tasks: texts are compared alone.
    """
    test = session.data.test
    if not test:
        return 0
    dedup = Deduper(threshold=session.task.filters.near_duplicate)
    dedup.add_reference([e.text for e in test], "test")
    return sum(dedup.check(e.text) == "copies_test" for e in session.training_examples(round_no))
