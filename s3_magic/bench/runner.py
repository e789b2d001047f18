"""Running the whole benchmark: every arm for every seed, then the speed section, then the result files.

>>> from s3_magic.bench import get_protocol
>>> from s3_magic.bench.runner import run_benchmark
>>> results, paths = run_benchmark(get_protocol("quick"), out="bench-out")   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from s3_magic.bench.arms import run_arm
from s3_magic.bench.extra import run_s3_plus_gold
from s3_magic.bench.protocol import ARMS, RUN_ORDER, Protocol
from s3_magic.engine.context import Reporter

DEFAULT_RUNS = "benchmarks/runs"
RESULTS_ROOT = "benchmarks/results"


def default_out(protocol: Protocol) -> Path:
    """``benchmarks/results/<date>`` for the full protocol, ``<date>-<profile>`` for the smaller ones."""
    date = time.strftime("%Y-%m-%d")
    return Path(RESULTS_ROOT) / (date if protocol.name == "full" else f"{date}-{protocol.name}")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def run_arms(
    protocol: Protocol,
    seeds: Sequence[int],
    arms: Sequence[str],
    runs: str | Path,
    reporter: Reporter | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, list[dict[str, Any]]]:
    """Each arm for each seed, in run order (S3 before ZeroGen, which matches its final training-set size)."""
    results: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        s3_examples: int | None = None
        for arm in [a for a in RUN_ORDER if a in arms]:
            echo(f"seed {seed}: {ARMS[arm]} ...")
            if arm == "s3_plus_gold":
                result = run_s3_plus_gold(protocol, seed, runs, reporter=reporter)
            else:
                result = run_arm(protocol, arm, seed, runs, zerogen_examples=s3_examples, reporter=reporter)
            if arm == "s3":
                s3_examples = result["n_train"]
            val = "" if result["val_acc"] is None else f", validation accuracy {100 * result['val_acc']:.1f}%"
            echo(f"seed {seed}: {ARMS[arm]}: {result['n_train']:,} training examples{val}, {result['seconds']:.0f} s")
            results.setdefault(arm, []).append(result)
    return results


def run_benchmark(
    protocol: Protocol,
    seeds: Sequence[int] | None = None,
    arms: Sequence[str] | None = None,
    out: str | Path | None = None,
    runs: str | Path = DEFAULT_RUNS,
    speed: bool = True,
    reporter: Reporter | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Run the benchmark and write results.json, results.md and accuracy_per_round.png into ``out``.

    Arms already finished in ``runs`` are read back and unfinished ones resume; LLM calls come from the cache.
    """
    from s3_magic.bench.machine import describe_machine, load_average
    from s3_magic.bench.report import build_results, write_results
    from s3_magic.bench.speed import measure_speed

    seeds = list(protocol.seeds if seeds is None else seeds)
    arms = [a for a in RUN_ORDER if a in (arms or RUN_ORDER)]
    out_dir = Path(out) if out is not None else default_out(protocol)
    started = time.time()
    machine = describe_machine()
    arm_results = run_arms(protocol, seeds, arms, runs, reporter, echo)
    speed_results = measure_speed(protocol, Path(runs) / protocol.name, echo) if speed else None
    machine["load_average_end"] = load_average()
    finished = time.time()
    timing = {
        "seeds": seeds,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "wall_s": round(finished - started, 1),
        "runs_folder": str(runs),
    }
    results = build_results(protocol.describe(), machine, arm_results, speed_results, timing)
    return results, write_results(results, out_dir)
