"""The question-answering benchmark (``s3-magic bench --task squad``): gold on the validation questions,
ZeroGen-QA at the S3 arm's size, S3-QA, and the final model (S3's data + the real questions); exact match and
token F1 on the test questions, mean ± std over seeds, with seconds and tokens per arm.

Data, for seed ``s``: the built-in ``squad`` task (the first half of SQuAD v1.1 dev) is split by article with
``qa.split_seed = s``: test articles (``test`` questions), validation articles (``validation`` questions; the S3
and ZeroGen arms hold a quarter of them out as the check split, whole contexts at a time; the gold arm trains on
all of them), and the other articles, whose contexts and answer spans seed questions are written for. No article
is on two sides. The test questions reach the engine only to be scored for the report
(``filters.reject_test_copies: false``), and only this module's report reads those scores.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s3_magic import ConfigError, Reporter, Session, TaskSpec, load_task, write_atomic
from s3_magic_bench.arms import GENERATION_RATES, finished_run, generation_figures
from s3_magic_bench.final import final_record

TASK = "squad"
#: arm -> title, in the order they run (ZeroGen matches the S3 arm's final training-set size; final uses S3's run)
QA_ARMS: dict[str, str] = {
    "gold_val": "Gold: the {validation} real validation questions",
    "s3": "S3-QA",
    "zerogen": "ZeroGen-QA (S3's size)",
    "final": "Final: S3's questions + the {validation} real ones",
}
SHORT = {"gold_val": "Gold-val", "s3": "S3-QA", "zerogen": "ZeroGen-QA", "final": "Final"}


@dataclass(frozen=True)
class QAProtocol:
    name: str
    seeds: tuple[int, ...] = (0, 1, 2)
    validation: int = 200
    test: int = 1000
    seed_examples: int = 300
    examples_per_error: int = 2
    max_errors_per_round: int = 100
    rounds: int = 2
    epochs: int = 3

    def describe(self) -> dict[str, Any]:
        return {"task": TASK, **asdict(self)}


QA_PROFILES: dict[str, QAProtocol] = {
    "full": QAProtocol("full"),
    "quick": QAProtocol("quick", seeds=(0,), validation=80, test=200, seed_examples=60, examples_per_error=1,
                        max_errors_per_round=30, rounds=1, epochs=2),
    # for the test suite: a minute or two on 2 quiet cores with the real models
    "tiny": QAProtocol("tiny", seeds=(0,), validation=16, test=20, seed_examples=8, examples_per_error=1,
                       max_errors_per_round=4, rounds=1, epochs=1),
}  # fmt: skip


def qa_arm_task(protocol: QAProtocol, arm: str, seed: int, zerogen_examples: int | None = None) -> TaskSpec:
    """The task ``arm`` runs for ``seed``."""
    changes: dict[str, Any] = {
        "name": f"{TASK}-{arm}",
        "seed": seed,
        "qa.split_seed": seed,
        "qa.validation": protocol.validation,
        "qa.test": protocol.test,
        "filters.reject_test_copies": False,
        "llm.options.seed": seed,
        "sizes.seed_examples": protocol.seed_examples,
        "sizes.examples_per_error": protocol.examples_per_error,
        "sizes.max_errors_per_round": protocol.max_errors_per_round,
        "sizes.rounds": protocol.rounds,
        "stop.patience": None,
        "student.epochs": protocol.epochs,
    }
    if arm == "gold_val":
        changes.update({"method": "gold", "check.fraction": 0.0})
    elif arm == "zerogen":
        if zerogen_examples is None:
            raise ConfigError("the ZeroGen-QA arm needs the S3 arm's final training-set size; run the s3 arm first")
        changes.update({"method": "zerogen", "sizes.zerogen_accepted": zerogen_examples, "sizes.rounds": 0})
    elif arm == "s3":
        changes["method"] = "s3"
    else:
        raise ConfigError(f"unknown QA arm {arm!r}; use one of {', '.join(QA_ARMS)}")
    return load_task(TASK).updated(changes)


def qa_folder(runs: str | Path, protocol: QAProtocol, arm: str, seed: int) -> Path:
    return Path(runs) / TASK / protocol.name / f"seed{seed}" / arm


def run_qa_arm(
    protocol: QAProtocol, arm: str, seed: int, runs: str | Path, size: int | None, reporter: Reporter | None
) -> dict[str, Any]:
    """Run (or resume, or read back) one arm for one seed; its result."""
    if arm == "final":
        return run_qa_final(protocol, seed, runs, reporter)
    task = qa_arm_task(protocol, arm, seed, size)
    with finished_run(task, qa_folder(runs, protocol, arm, seed), arm, reporter) as session:
        return qa_arm_result(session, arm, seed)


def qa_arm_result(session: Session, arm: str, seed: int) -> dict[str, Any]:
    """An arm's numbers for one seed: its last round's scores (test scores for the report only)."""
    rows = [r for r in session.rounds() if r.evaluated]
    if not rows:
        raise ConfigError(f"the {arm} run {session.run_id!r} has no evaluated round; resume it")
    last, usage = rows[-1], session.usage()
    return {
        "arm": arm, "seed": seed, "run_id": session.run_id, "n_train": last.n_train,
        "val_em": last.val_em, "val_f1": last.val_f1, "check_em": last.check_em, "check_f1": last.check_f1,
        "test_em": last.test_em, "test_f1": last.test_f1,
        "prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
        "llm_calls": usage["calls"], "cost_usd": session.cost_usd(),
        "seconds": round(sum(r.seconds for r in rows), 2),
        **{k: round(sum(float(getattr(r, k) or 0.0) for r in rows), 2) for k in ("data_seconds", "train_seconds",
                                                                                  "eval_seconds")},
        **generation_figures(rows),
        "rounds": [
            {"round": r.round, "n_train": r.n_train, "new_accepted": r.new_accepted or 0, "n_errors": r.n_errors,
             "val_f1": r.val_f1, "check_f1": r.check_f1, "test_em": r.test_em, "test_f1": r.test_f1,
             "seconds": round(r.seconds, 2), "data_seconds": r.data_seconds, "train_seconds": r.train_seconds,
             "eval_seconds": r.eval_seconds}
            for r in rows
        ],
    }  # fmt: skip


def run_qa_final(protocol: QAProtocol, seed: int, runs: str | Path, reporter: Reporter | None) -> dict[str, Any]:
    """The final model of the S3-QA run (trained once; its record is read back afterwards, see
    :func:`~s3_magic_bench.final.final_record`)."""
    folder = qa_folder(runs, protocol, "s3", seed)
    if "s3" not in Session.run_ids(folder):
        raise ConfigError(f"no S3-QA run in {str(folder)!r}; run the s3 arm first")
    with Session.open("s3", folder=folder, reporter=reporter) as s3:
        record = final_record(s3, qa_folder(runs, protocol, "final", seed) / "model")
    return {
        "arm": "final", "seed": seed, "run_id": "s3", "n_train": record["n_train"], "recipe": record["recipe"],
        "round": record["round"], "candidates": record.get("candidates") or [], "val_em": None, "val_f1": None,
        "check_em": None, "check_f1": record.get("check_f1"), "test_em": None, "test_f1": record.get("test_f1"),
        "prompt_tokens": 0, "completion_tokens": 0, "llm_calls": 0, "cost_usd": 0.0,
        "seconds": record.get("seconds"), **dict.fromkeys(("gen_seconds", *GENERATION_RATES)), "rounds": [],
    }  # fmt: skip


def run_qa_benchmark(
    protocol: QAProtocol,
    seeds: Sequence[int] | None = None,
    arms: Sequence[str] | None = None,
    out: str | Path | None = None,
    runs: str | Path = "benchmarks/runs",
    reporter: Reporter | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Every arm for every seed, then results.json and results.md in ``out``."""
    seeds = list(protocol.seeds if seeds is None else seeds)
    chosen = [a for a in QA_ARMS if a in (arms or QA_ARMS)]
    started = time.time()
    per_arm: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        size: int | None = None
        for arm in chosen:
            echo(f"seed {seed}: {qa_title(arm, protocol)} ...")
            result = run_qa_arm(protocol, arm, seed, runs, size, reporter)
            if arm == "s3":
                size = result["n_train"]
            echo(f"seed {seed}: {qa_title(arm, protocol)}: test F1 {pct(result['test_f1'])}, {result['seconds']:.0f} s")
            per_arm.setdefault(arm, []).append(result)
    results = {
        "protocol": protocol.describe(),
        "seeds": seeds,
        "wall_s": round(time.time() - started, 1),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "arms": per_arm,
        "summary": {arm: summarize(rows) for arm, rows in per_arm.items()},
    }
    out_dir = Path(out) if out is not None else Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-{TASK}"
    if protocol.name != "full" and out is None:
        out_dir = out_dir.with_name(f"{out_dir.name}-{protocol.name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
    write_atomic(paths["json"], json.dumps(results, indent=1) + "\n")
    write_atomic(paths["markdown"], qa_markdown(results))
    return results, paths


#: the figures summarised over seeds
SUMMARISED = ("test_em", "test_f1", "check_f1", "n_train", "seconds", "prompt_tokens", "completion_tokens",
              "completion_tok_s", "cost_usd")  # fmt: skip


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and (sample) standard deviation over seeds of each of :data:`SUMMARISED`."""
    out: dict[str, dict[str, float | None]] = {}
    for key in SUMMARISED:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        out[key] = {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else (0.0 if values else None),
        }
    return out


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def qa_title(arm: str, protocol: QAProtocol | dict[str, Any]) -> str:
    validation = protocol.validation if isinstance(protocol, QAProtocol) else protocol.get("validation", 200)
    return QA_ARMS[arm].format(validation=validation)


def qa_markdown(results: dict[str, Any]) -> str:
    """The report: EM and F1 on the test questions (mean ± std over seeds), seconds and tokens per arm, and the
    differences the targets are about."""
    protocol, summary = results["protocol"], results["summary"]

    def mean_std(arm: str, key: str, scale: float = 100.0, digits: int = 1) -> str:
        s = summary.get(arm, {}).get(key) or {}
        if s.get("mean") is None:
            return "–"
        return f"{scale * s['mean']:.{digits}f} ± {scale * (s['std'] or 0.0):.{digits}f}"

    lines = [
        f"# QA benchmark: SQuAD v1.1 (first half of dev), {protocol['name']} profile, seeds "
        f"{', '.join(map(str, results['seeds']))}",
        "",
        f"{protocol['validation']} validation questions, {protocol['test']} test questions, split by article per seed; "
        f"{protocol['seed_examples']} seed questions, {protocol['rounds']} rounds of {protocol['examples_per_error']} "
        f"per error (at most {protocol['max_errors_per_round']} errors a round); the QA student trains "
        f"{protocol['epochs']} epochs. Test scores are for the report only.",
        "",
        "| arm | test EM | test F1 | check F1 | train questions | seconds | prompt tokens | completion tokens | USD |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm in QA_ARMS:
        if arm not in summary:
            continue
        lines.append(
            f"| {qa_title(arm, protocol)} | {mean_std(arm, 'test_em')} | {mean_std(arm, 'test_f1')} | "
            f"{mean_std(arm, 'check_f1')} | {mean_std(arm, 'n_train', 1, 0)} | {mean_std(arm, 'seconds', 1, 0)} | "
            f"{mean_std(arm, 'prompt_tokens', 1, 0)} | {mean_std(arm, 'completion_tokens', 1, 0)} | "
            f"{mean_std(arm, 'cost_usd', 1, 2)} |"
        )
    arms = results.get("arms", {})
    lines += ["", "Differences in test F1 (mean over seeds, points):", ""]
    for a, b, target in (("s3", "zerogen", 5.0), ("final", "gold_val", 3.0)):
        if a in summary and b in summary:
            diff = 100 * ((summary[a]["test_f1"]["mean"] or 0.0) - (summary[b]["test_f1"]["mean"] or 0.0))
            paired = paired_diffs(arms.get(a, []), arms.get(b, []), "test_f1")
            spread = f" ± {statistics.stdev(paired):.1f}" if len(paired) > 1 else ""
            seeds = f"; by seed {', '.join(f'{d:+.1f}' for d in paired)}" if len(paired) > 1 else ""
            verdict = "met" if diff >= target else "not met"
            lines.append(f"- {SHORT[a]} − {SHORT[b]}: {diff:+.1f}{spread} (target ≥ +{target:.0f}: {verdict}{seeds})")
    lines += estimate_lines(arms) + round_time_lines(arms) + final_lines(arms)
    lines.append("")
    return "\n".join(lines)


def paired_diffs(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], key: str) -> list[float]:
    """``100 * (a - b)`` of ``key`` for each seed both arms have, in seed order."""
    by_seed = {r["seed"]: r for r in b if r.get(key) is not None}
    return [100 * (r[key] - by_seed[r["seed"]][key]) for r in a if r.get(key) is not None and r["seed"] in by_seed]


def estimate_lines(arms: dict[str, list[dict[str, Any]]]) -> list[str]:
    """How far validation and check F1 are from test F1, over every seed and round of the looping arms."""
    lines: list[str] = []
    for arm in ("s3", "zerogen"):
        rounds = [r for row in arms.get(arm, []) for r in row.get("rounds", []) if r.get("test_f1") is not None]
        gaps = {
            name: [100 * (r[key] - r["test_f1"]) for r in rounds if r.get(key) is not None]
            for name, key in (("validation", "val_f1"), ("check", "check_f1"))
        }
        if not gaps["check"]:
            continue
        if not lines:
            lines = ["", "Validation and check F1 against test F1 (points, mean ± std over seeds × rounds):", ""]
        parts = [
            f"{name} − test {statistics.fmean(v):+.1f}" + (f" ± {statistics.stdev(v):.1f}" if len(v) > 1 else "")
            for name, v in gaps.items()
            if v
        ]
        n = len(gaps["check"])
        lines.append(f"- {SHORT[arm]}: {'; '.join(parts)} ({n} point{'s' if n != 1 else ''})")
    return lines


def round_time_lines(arms: dict[str, list[dict[str, Any]]]) -> list[str]:
    """S3-QA's extrapolation rounds (train, evaluate, extrapolate the errors) against the 5-minute target."""
    times = [r["seconds"] for row in arms.get("s3", []) for r in row.get("rounds", []) if r["round"] > 0]
    if not times:
        return []
    verdict = "met" if max(times) <= 300 else "not met"
    return ["", f"S3-QA rounds after the seed round: mean {statistics.fmean(times):.0f} s, longest {max(times):.0f} s "
            f"(target ≤ 300 s: {verdict})."]  # fmt: skip


def final_lines(arms: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Which round and recipe the final model took in each seed, with every candidate's check F1."""
    rows = arms.get("final", [])
    if not rows:
        return []
    lines = ["", "The final model per seed (chosen on check F1; test F1 of each candidate before the refit):", ""]
    for row in rows:
        candidates = ", ".join(
            f"{c['recipe']} {pct(c.get('check_f1'))} / {pct(c.get('test_f1'))}" for c in row.get("candidates", [])
        )
        lines.append(f"- seed {row['seed']}: round {row.get('round')}, `{row.get('recipe')}` "
                     f"(check / test F1: {candidates})")  # fmt: skip
    return lines
