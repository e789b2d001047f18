"""``s3-magic``: the headless adapter. User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from s3_magic.engine.context import Reporter
from s3_magic.errors import ConfigError, S3Error, StoreError

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
FINAL_HELP = (
    "Train the model a user keeps: the student trained on the synthetic data of the round with the best check "
    "accuracy plus the real labelled examples, with the recipe chosen on the check split (real examples held out "
    "of the loop; a later recipe of final.recipes replaces an earlier one only when clearly better). It is saved "
    "as a Hugging Face model folder with a model card, loadable with AutoModelForSequenceClassification."
    "from_pretrained. Test accuracy is only reported. A question-answering task (kind: qa) reads check F1 "
    "instead, and its model loads with AutoModelForQuestionAnswering."
)


class TqdmReporter(Reporter):
    """One progress bar per step on stderr.

    A bar starts at the step's first report: what was done before it (e.g. a first batch) is not timed, so its rate
    counts only the work seen happening; a step reported once shows no rate rather than an invented one.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Any = None
        self._step = ""

    def progress(self, step: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if step != self._step or self._bar is None or done < self._bar.n:
            self._open(step, done, total)
            return
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def _open(self, step: str, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        self.close()
        self._step = step
        unit = "batch" if step == "train" else "ex"  # training reports optimiser steps
        self._bar = tqdm(total=total, initial=done, desc=step, unit=unit, leave=False, file=sys.stderr)

    def message(self, text: str) -> None:
        if not self.quiet:
            self.close()
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def quiet_libraries() -> None:
    """Keep the libraries' own progress bars and notices (Hugging Face "Loading weights" bars, transformers
    warnings) out of the run's output; a variable the user set wins."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:  # already imported (the CLI called from Python): its switches, not the env
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from s3_magic.settings import SETTING_KEYS, overrides

    named = {name: getattr(args, name, None) for name in SETTING_KEYS}
    return overrides(named, getattr(args, "set", None) or [])


def _finish(session: Any, started: float, reporter: TqdmReporter) -> None:
    from s3_magic.llm.prices import format_usd
    from s3_magic.summaries import final_summary, rejection_summary, rounds_table

    reporter.close()
    rows = session.rounds()
    usage = session.usage()
    print(f"run {session.run_id} ({session.task.name}) — {session.store.get_run(session.run_id)['status']}")
    print(rounds_table(rows))
    print(rejection_summary(rows))
    print(
        f"LLM: {usage['calls']:,} calls paid by this run, {usage['prompt_tokens']:,} prompt + "
        f"{usage['completion_tokens']:,} completion tokens, {format_usd(session.cost_usd())}; "
        f"wall time {time.time() - started:.1f} s"
    )
    where = f"{session.run_id} --folder {session.store.folder}"
    result = session.final_result()
    if result is not None:
        print(final_summary(result))
    elif session.best_round() >= 0:
        print(f"final model: not trained yet; s3-magic final {where}")
    print(f"export: s3-magic export {where} --out data.jsonl")


def cmd_run(args: argparse.Namespace) -> None:
    from s3_magic.session import Session

    if args.dry_run:
        _dry_run(Session.dry_run(args.task, folder=args.folder, name=args.name, overrides=_overrides(args)))
        return
    reporter = TqdmReporter(args.quiet)
    started = time.time()
    session = Session.create(
        args.task, folder=args.folder, name=args.name, overrides=_overrides(args), reporter=reporter
    )
    print(f"run {session.run_id} in {session.store.folder}", file=sys.stderr)
    try:
        session.run()
        if not args.no_final:
            reporter.message("training the final model on the best round's data and the real labels")
            session.final()
    finally:
        _finish(session, started, reporter)


def _dry_run(est: dict[str, Any]) -> None:
    print(
        f"dry run of {est['task']}: {est['validation']} validation examples, {est.get('check', 0)} check examples "
        f"(held out), {est['test']} test examples"
    )
    print(f"LLM calls: about {est['seed_calls']:,} for the seed data, at most {est['max_calls']:,} in total "
          f"({est['llm']})")  # fmt: skip
    print(f"tokens: at most {est['max_seed_tokens']:,} for the seed data, {est['max_tokens']:,} in total "
          f"({est['max_completion_tokens']:,} of them completion)")  # fmt: skip
    print(_cost_line(est))
    if est["budget_tokens"] is not None or est.get("budget_usd") is not None:
        from s3_magic.llm.prices import format_usd

        fits = "covers everything" if est["fits_all"] else "covers the seed data" if est["fits_seed"] else ""
        fits = fits or "may stop before the seed data is made"
        tokens, usd = est["budget_tokens"], est.get("budget_usd")
        given = [(f"{tokens:,} tokens", "--budget")] if tokens is not None else []
        given += [(format_usd(usd), "--budget-usd")] if usd is not None else []
        print(f"budget: {' and '.join(b for b, _ in given)} — {fits}; a stopped run resumes with a higher "
              f"{' / '.join(f for _, f in given)}")  # fmt: skip
    print("nothing was written; run it without --dry-run to start")


def _cost_line(est: dict[str, Any]) -> str:
    """The dry run's dollars: at most, for the seed data and in total, at the LLM's price (and where it is from)."""
    from s3_magic.llm.prices import format_usd

    price = est.get("price")
    if price is None:
        return f"cost: – ({est['llm']} has no listed price; set llm.options.price: {{input: .., output: ..}} USD/Mtok)"
    if price.free:
        return f"cost: $0 ({price.source})"
    return (
        f"cost: at most {format_usd(est['max_seed_cost_usd'])} for the seed data, {format_usd(est['max_cost_usd'])} "
        f"in total at {price.describe()} ({price.source})"
    )


def cmd_resume(args: argparse.Namespace) -> None:
    from s3_magic.session import Session

    reporter = TqdmReporter(args.quiet)
    started = time.time()
    session = Session.open(args.run, folder=args.folder, overrides=_overrides(args), reporter=reporter)
    print(f"resuming run {session.run_id}", file=sys.stderr)
    try:
        session.run()
    finally:
        _finish(session, started, reporter)


def cmd_show(args: argparse.Namespace) -> None:
    from s3_magic.session import Session

    session = Session.open(args.run, folder=args.folder)
    _finish(session, time.time(), TqdmReporter(True))


def cmd_final(args: argparse.Namespace) -> None:
    from s3_magic.session import Session
    from s3_magic.summaries import final_summary

    reporter = TqdmReporter(args.quiet)
    session = Session.open(args.run, folder=args.folder, reporter=reporter)
    if session.best_round() < 0:
        raise StoreError(
            f"run {session.run_id!r} has no evaluated round yet; finish it first with s3-magic resume {session.run_id}"
        )
    try:
        result = session.final(args.out)
    finally:
        reporter.close()
    print(f"run {session.run_id} ({session.task.name})")
    print(final_summary(result))


def cmd_runs(args: argparse.Namespace) -> None:
    from s3_magic.store import list_runs
    from s3_magic.summaries import runs_table

    runs = list_runs(args.folder)
    print(runs_table(runs) if runs else f"no runs in {args.folder}")


def cmd_export(args: argparse.Namespace) -> None:
    from s3_magic.session import Session

    session = Session.open(args.run, folder=args.folder)
    out = session.export(args.out, format=args.format, include_rejected=args.include_rejected)
    print(f"wrote {out}")


BENCH_HELP = "run the benchmark (package s3-magic-bench: pip install -e benchmarks); s3-magic bench --help for more"


def cmd_bench(args: argparse.Namespace) -> None:
    """``s3-magic bench ARGS``: ``s3-magic-bench ARGS``, from the separate benchmark package when it is installed."""
    try:
        from s3_magic_bench.cli import run
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "s3_magic_bench":
            raise
        raise ConfigError(
            "the benchmark is a separate package; install it from the s3-magic checkout with pip install -e benchmarks"
        ) from None
    run(args.args, prog="s3-magic bench")


def cmd_prepare(args: argparse.Namespace) -> None:
    from s3_magic.llm.embedded import ensure_embedded_llm, weights_folder
    from s3_magic.llm.local import resolve_device, resolve_dtype

    started = time.time()
    path = ensure_embedded_llm()
    weights_folder(path, str(resolve_dtype(None, resolve_device("auto"))).removeprefix("torch."))  # a bf16 copy
    print(f"embedded LLM ready in {path} ({time.time() - started:.1f} s)")


def cmd_data(args: argparse.Namespace) -> None:
    from s3_magic.hub_data import data_files, ensure_data

    sets = [name.strip() for item in args.sets for name in item.split(",") if name.strip()]
    ensure_data(*data_files(sets))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="s3-magic",
        description="S3: iterative dataset synthesis by extrapolating errors",
        epilog=(
            "Each round reports validation accuracy (optimistic: the loop extrapolates those examples) and check "
            "accuracy (real examples held out of the loop: what every choice reads); a question-answering task "
            "reports exact match and F1 instead. 'run' ends by training the final model; 'final' trains it for an "
            "existing run."
        ),
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__import__('s3_magic').__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def folder(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--folder", default="s3_runs", help="run folder (default: s3_runs)")

    def settings(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--rounds", type=int, help="error-extrapolation rounds")
        sp.add_argument("--budget", type=int, help="token budget for the run's LLM calls")
        sp.add_argument("--budget-usd", type=float, help="money budget (US dollars) for the run's LLM calls")
        sp.add_argument(
            "--set", action="append", metavar="KEY=VALUE", help="change a task setting, e.g. sizes.rounds=3"
        )
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    sp = sub.add_parser(
        "run",
        help="start a run of a task file",
        description="Start a run: seed data, the error-extrapolation rounds, then the final model (see 'final').",
    )
    sp.add_argument("task", help="task YAML file, or the name of a built-in task (e.g. sst2, squad)")
    sp.add_argument("--name", help="run name (default: task-date-time-id)")
    sp.add_argument("--seed-examples", type=int, help="number of seed examples")
    sp.add_argument("--llm", help="LLM as provider:model, e.g. local:embedded, anthropic:claude-haiku-4-5")
    sp.add_argument("--student-mode", choices=["finetune", "fast"], help="fine-tune the student or the fast mode")
    sp.add_argument("--seed", type=int, help="random seed")
    sp.add_argument("--dry-run", action="store_true", help="check the task and estimate LLM calls; write nothing")
    sp.add_argument("--no-final", action="store_true", help="stop after the rounds, without training the final model")
    folder(sp)
    settings(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("resume", help="resume an interrupted or stopped run")
    sp.add_argument("run", nargs="?", help="run id (default: the newest)")
    folder(sp)
    settings(sp)
    sp.set_defaults(func=cmd_resume)

    sp = sub.add_parser("runs", help="list runs")
    folder(sp)
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("final", help="train the model to keep on a run's best round and the real labels",
                        description=FINAL_HELP)  # fmt: skip
    sp.add_argument("run", nargs="?", help="run id (default: the newest)")
    sp.add_argument("--out", help="folder for the model (default: <run folder>/<run id>-final)")
    folder(sp)
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_final)

    sp = sub.add_parser("show", help="print a run's round table (and its final model)")
    sp.add_argument("run", nargs="?", help="run id (default: the newest)")
    folder(sp)
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("export", help="export a run's synthetic data")
    sp.add_argument("run", nargs="?", help="run id (default: the newest)")
    sp.add_argument("--format", choices=["jsonl", "csv", "parquet", "hf"], default="jsonl")
    sp.add_argument("--out", required=True, help="output file (folder for --format hf)")
    sp.add_argument("--include-rejected", action="store_true", help="also export examples the filters rejected")
    folder(sp)
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("prepare", help="convert the embedded LLM once so later starts are fast")
    sp.set_defaults(func=cmd_prepare)

    sp = sub.add_parser(
        "data",
        help="read the built-in tasks' data sets from the Hugging Face Hub once (where there is no local data folder)",
        description=(
            "Where no shared/data folder is found (and S3_MAGIC_DATA is not set), read the data sets of the "
            "built-in tasks from the Hugging Face Hub once, in the local form, into ~/.cache/s3_magic/data "
            "(or $S3_MAGIC_CACHE/data); the built-in tasks then read them from there."
        ),
    )
    sp.add_argument("sets", nargs="*", help="data sets: sst2, rte, imdb, squad (default: all)")
    sp.set_defaults(func=cmd_data)

    # the benchmark parses its own options ("-" is not an option prefix here, so every argument reaches it)
    sp = sub.add_parser("bench", help=BENCH_HELP, add_help=False, prefix_chars="+")
    sp.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_libraries()
    try:
        args.func(args)
    except S3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; everything finished so far is saved — continue with s3-magic resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
