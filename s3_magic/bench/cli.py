"""``s3-magic bench``: the subcommand's arguments and what it does, kept beside the benchmark it runs.

:mod:`s3_magic.cli` builds the ``bench`` subparser with :func:`add_bench_arguments` and runs :func:`cmd_bench`.
"""

from __future__ import annotations

import argparse

from s3_magic.bench.protocol import ARMS, DEFAULT_TASK, PROFILES, TASKS, Protocol, get_protocol

BENCH_HELP = "run the benchmark on SST-2 or IMDb (every arm, then speed) and write its results"


def add_bench_arguments(sp: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's options."""
    sp.add_argument(
        "--task",
        choices=list(TASKS),
        default=DEFAULT_TASK,
        help=f"benchmark task: {', '.join(TASKS)} (default: {DEFAULT_TASK}); only where the real data comes from "
        "differs",
    )
    sp.add_argument("--quick", action="store_true", help="one seed and small sizes (SST-2: a few minutes)")
    sp.add_argument("--seeds", help="comma list of seeds (default: 0,1,2; with --quick: 0)")
    sp.add_argument("--arms", help=f"comma list of {', '.join(ARMS)} (default: all)")
    sp.add_argument(
        "--out",
        help="results folder (default: benchmarks/results/DATE; DATE-imdb for --task imdb, -quick with --quick)",
    )
    sp.add_argument("--skip-speed", action="store_true", help="leave out the speed section")
    sp.add_argument(
        "--folder", default="benchmarks/runs", help="folder of the arms' runs and LLM cache (default: benchmarks/runs)"
    )
    sp.add_argument("--profile", choices=list(PROFILES), help=argparse.SUPPRESS)
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def bench_protocol(args: argparse.Namespace) -> Protocol:
    """The protocol the parsed ``bench`` arguments ask for."""
    return get_protocol(args.profile or ("quick" if args.quick else "full"), task=args.task)


def cmd_bench(args: argparse.Namespace) -> None:
    from s3_magic.bench.protocol import parse_arms, parse_seeds
    from s3_magic.bench.report import markdown
    from s3_magic.bench.runner import run_benchmark
    from s3_magic.cli import TqdmReporter

    protocol = bench_protocol(args)
    seeds, arms = parse_seeds(args.seeds, protocol), parse_arms(args.arms)
    reporter = TqdmReporter(args.quiet)
    try:
        results, paths = run_benchmark(
            protocol, seeds, arms, out=args.out, runs=args.folder, speed=not args.skip_speed, reporter=reporter,
            echo=reporter.message,
        )  # fmt: skip
    finally:
        reporter.close()
    print(markdown(results))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
