"""Running the whole benchmark: every arm for every seed, then the speed section, then the result files.

>>> from s3_magic_bench import get_protocol
>>> from s3_magic_bench.runner import run_benchmark
>>> results, paths = run_benchmark(get_protocol("quick"), out="bench-out")   # doctest: +SKIP
>>> results, paths = run_benchmark(get_protocol("full", task="imdb"))      # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from s3_magic import Reporter
from s3_magic_bench.arms import run_arm
from s3_magic_bench.final import run_final
from s3_magic_bench.protocol import DEFAULT_TASK, NEEDS, RUN_ORDER, Protocol, arm_title, protocol_folder

DEFAULT_RUNS = "benchmarks/runs"
RESULTS_ROOT = "benchmarks/results"


def default_out(protocol: Protocol) -> Path:
    """``benchmarks/results/<date>`` for the full protocol on SST-2; ``-<task>`` is added for another task and
    ``-<profile>`` for a smaller profile (``<date>-imdb``, ``<date>-quick``, ``<date>-imdb-quick``)."""
    parts = [time.strftime("%Y-%m-%d")]
    if protocol.task != DEFAULT_TASK:
        parts.append(protocol.task)
    if protocol.name != "full":
        parts.append(protocol.name)
    return Path(RESULTS_ROOT) / "-".join(parts)


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
    """Each arm for each seed, in run order (S3 before the final arm, which trains on its run, and before ZeroGen,
    which matches its final training-set size). Only validation and check accuracy are printed."""
    described = protocol.describe()
    results: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        sizes: dict[str, int] = {}  # arm -> its final training-set size, for the ZeroGen arms that match it
        for arm in [a for a in RUN_ORDER if a in arms]:
            title = arm_title(arm, described)
            echo(f"seed {seed}: {title} ...")
            if arm == "final":
                result = run_final(protocol, seed, runs, reporter=reporter)
            else:
                size = sizes.get(NEEDS.get(arm, ""))
                result = run_arm(protocol, arm, seed, runs, zerogen_examples=size, reporter=reporter)
            sizes[arm] = result["n_train"]
            shown = "".join(
                f", {name} accuracy {100 * result[key]:.1f}%"
                for name, key in (("validation", "val_acc"), ("check", "check_acc"))
                if result.get(key) is not None
            )
            echo(f"seed {seed}: {title}: {result['n_train']:,} training examples{shown}, {result['seconds']:.0f} s")
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
    from s3_magic_bench.machine import describe_machine, load_average
    from s3_magic_bench.report import build_results, write_results
    from s3_magic_bench.speed import measure_speed

    seeds = list(protocol.seeds if seeds is None else seeds)
    arms = [a for a in RUN_ORDER if a in (arms or RUN_ORDER)]
    out_dir = Path(out) if out is not None else default_out(protocol)
    started = time.time()
    machine = describe_machine()
    arm_results = run_arms(protocol, seeds, arms, runs, reporter, echo)
    speed_results = measure_speed(protocol, protocol_folder(runs, protocol), echo) if speed else None
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
