"""``s3-magic-bench`` (also ``s3-magic bench``): the benchmark's command line.

:func:`main` is the console script; :func:`run` parses the arguments and runs the benchmark, raising the project's
errors (``s3-magic bench`` calls it and reports them like every other subcommand).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from s3_magic import S3Error
from s3_magic_bench.protocol import ARMS, DEFAULT_TASK, PROFILES, TASKS, Protocol, get_protocol

BENCH_HELP = "run the benchmark on SST-2, IMDb or SQuAD (every arm, then speed) and write its results"
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def add_bench_arguments(sp: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    sp.add_argument(
        "--task",
        choices=[*TASKS, "squad"],
        default=DEFAULT_TASK,
        help=f"benchmark task: {', '.join(TASKS)} (default: {DEFAULT_TASK}; only where the real data comes from "
        "differs), or squad (extractive QA: its own arms, no speed section)",
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


def build_parser(prog: str = "s3-magic-bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=BENCH_HELP[0].upper() + BENCH_HELP[1:] + ". Paths are relative to the current folder.",
    )
    add_bench_arguments(parser)
    return parser


def bench_protocol(args: argparse.Namespace) -> Protocol:
    """The protocol the parsed arguments ask for."""
    return get_protocol(args.profile or ("quick" if args.quick else "full"), task=args.task)


def cmd_qa_bench(args: argparse.Namespace) -> None:
    from s3_magic import TqdmReporter
    from s3_magic_bench.protocol import parse_seeds
    from s3_magic_bench.qa import QA_ARMS, QA_PROFILES, qa_markdown, run_qa_benchmark

    protocol = QA_PROFILES[args.profile or ("quick" if args.quick else "full")]
    seeds = parse_seeds(args.seeds, protocol) if args.seeds else None
    arms = [a.strip() for a in args.arms.split(",")] if args.arms else None
    unknown = sorted(set(arms or []) - set(QA_ARMS))
    if unknown:
        raise S3Error(f"unknown QA arm(s) {', '.join(unknown)}; use {', '.join(QA_ARMS)}")
    reporter = TqdmReporter(args.quiet)
    try:
        results, paths = run_qa_benchmark(
            protocol, seeds, arms, out=args.out, runs=args.folder, reporter=reporter, echo=reporter.message
        )
    finally:
        reporter.close()
    print(qa_markdown(results))
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def cmd_bench(args: argparse.Namespace) -> None:
    if args.task == "squad":
        cmd_qa_bench(args)
        return
    from s3_magic import TqdmReporter
    from s3_magic_bench.protocol import parse_arms, parse_seeds
    from s3_magic_bench.report import markdown
    from s3_magic_bench.runner import run_benchmark

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


def run(argv: Sequence[str] | None = None, prog: str = "s3-magic-bench") -> None:
    """Parse ``argv`` and run the benchmark; a user mistake raises :class:`s3_magic.S3Error`."""
    cmd_bench(build_parser(prog).parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """The ``s3-magic-bench`` console script: a user mistake prints one line and exits 2."""
    try:
        run(argv)
    except S3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; finished arms are saved — run the same command again to go on", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
