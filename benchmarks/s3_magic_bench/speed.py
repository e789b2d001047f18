"""The speed section: LLM generation and student fine-tune/inference against naive baselines measured in the same
process, one error-extrapolation round end to end, and start-up times (``%load_ext s3_magic``, embedded LLM).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from s3_magic import Example, S3Error, Session, load_examples
from s3_magic_bench.protocol import Protocol, SpeedSizes, base_task, common_changes, student_spec

#: SST-2 train phrases of sentence length (dev sentences have 19.5 words on average) for the student figures
SENTENCE_WORDS = (10, 40)


def measure_speed(protocol: Protocol, workdir: str | Path, echo: Any = print) -> dict[str, Any]:
    """Every speed figure of the protocol; the round measurement's throw-away run lives under ``workdir``."""
    sizes = protocol.speed
    out: dict[str, Any] = {}
    echo("speed: %load_ext s3_magic")
    out["load_ext"] = load_ext_seconds()
    echo("speed: embedded LLM start-up")
    out["llm_ready"] = llm_ready_seconds(cold=sizes.cold_start)
    echo("speed: LLM generation (default batch vs naive model.generate)")
    out["llm"] = llm_speed(sizes)
    echo("speed: student fine-tune and inference (vs naive loop)")
    out["student"] = student_speed(protocol, sizes)
    echo("speed: one error-extrapolation round end to end")
    out["round"] = round_seconds(protocol, sizes, Path(workdir))
    return out


def llm_speed(sizes: SpeedSizes) -> dict[str, Any]:
    from s3_magic_bench.llm_speed import generation_speed

    return generation_speed(
        n_prompts=sizes.llm_prompts,
        max_tokens=sizes.llm_max_tokens,
        naive_prompts=sizes.naive_prompts,
        naive_batch_size=sizes.naive_batch,
    )


def sentence_examples(n: int, seed: int = 0) -> list[Example]:
    """``n`` labelled SST-2 train phrases of sentence length, shuffled with ``seed``."""
    source = {"path": "${S3_MAGIC_DATA}/sst2/train.jsonl"}
    rows = load_examples(source, labels=["negative", "positive"], pair=False, prefix="train")
    lo, hi = SENTENCE_WORDS
    rows = [e for e in rows if lo <= len(e.text.split()) <= hi]
    random.Random(seed).shuffle(rows)
    if len(rows) < n:
        raise S3Error(f"only {len(rows)} sentence-length SST-2 train phrases; ask for at most that many")
    return rows[:n]


def student_speed(protocol: Protocol, sizes: SpeedSizes) -> dict[str, Any]:
    """Fine-tune and inference examples/s of the benchmark's student recipe and of the naive loop."""
    import torch
    from transformers.utils import logging as hf_logging

    from s3_magic_bench.machine import use_all_cores
    from s3_magic_bench.student_speed import naive_speed, optimised_speed

    use_all_cores()
    student = student_spec(protocol)
    # the fine-tune student's options of the recipe (its defaults when the arms train another mode), one epoch
    params = student.options.model_dump(exclude={"epochs"}) if student.mode == "finetune" else {}
    rows = sentence_examples(sizes.student_train + sizes.student_infer)
    train, infer = rows[: sizes.student_train], rows[sizes.student_train :]
    labels = ["negative", "positive"]
    optimised = optimised_speed(train, labels, infer, model=student.model, **params)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the naive loader's "newly initialised head" report is expected
    try:
        naive = naive_speed(train, labels, infer, optimised["source"])
    finally:
        hf_logging.set_verbosity(verbosity)
    return {
        "threads": torch.get_num_threads(),
        "n_train": len(train),
        "n_infer": len(infer),
        "mean_words": round(sum(len(e.text.split()) for e in rows) / len(rows), 1),
        "recipe": params,
        "finetune_ex_per_s": round(optimised["finetune_ex_per_s"], 1),
        "infer_ex_per_s": round(optimised["infer_ex_per_s"], 1),
        "naive_finetune_ex_per_s": round(naive["finetune_ex_per_s"], 1),
        "naive_infer_ex_per_s": round(naive["infer_ex_per_s"], 1),
        "finetune_ratio": round(optimised["finetune_ex_per_s"] / naive["finetune_ex_per_s"], 2),
        "infer_ratio": round(optimised["infer_ex_per_s"] / naive["infer_ex_per_s"], 2),
    }


def round_seconds(protocol: Protocol, sizes: SpeedSizes, workdir: Path) -> dict[str, Any]:
    """Train + evaluate on seed data, then extrapolate ``round_errors`` errors x ``round_examples_per_error``.

    The seed data is made first and not timed; the run uses the protocol's 200 labelled examples of seed 0 (a
    stratified sample of the task's pool), all of them evaluated (no check split), and no test set, in a fresh
    folder so that no LLM call comes from a cache.
    """
    task = base_task(protocol).updated(
        {
            **common_changes(protocol, 0),
            "method": "s3",
            "sizes.rationales_per_example": 0,
            "split": None,
            "test": None,
            "check": {"fraction": 0.0},
            "validation": {"path": protocol.bench_task.pool, "limit": protocol.validation, "seed": 0},
            "sizes.seed_examples": sizes.round_seed_examples,
            "sizes.rounds": 1,
            "sizes.examples_per_error": sizes.round_examples_per_error,
            "sizes.max_errors_per_round": sizes.round_errors,
        }
    )
    workdir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="speed-round-", dir=workdir) as folder,
        Session.create(task, folder=folder, name="round") as session,
    ):
        session.synthesize()
        start = time.perf_counter()
        stats = session.train()
        trained = time.perf_counter()
        extrapolated = session.extrapolate()
        end = time.perf_counter()
    errors_used = min(stats.n_errors or 0, sizes.round_errors)
    train_s = stats.train_seconds or 0.0
    return {
        "n_train": stats.n_train,
        "n_validation": len(session.data.validation),
        "errors": stats.n_errors,
        "errors_extrapolated": errors_used,
        "examples_per_error": sizes.round_examples_per_error,
        "llm_calls": extrapolated.llm_calls,
        "train_s": train_s,
        "evaluate_s": round(trained - start - train_s, 2),
        "extrapolate_s": round(end - trained, 2),
        "seconds": round(end - start, 2),
    }


def _python_seconds(code: str, env: dict[str, str] | None = None, timeout: float = 600) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, which is returned."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise S3Error(f"a start-up measurement failed ({tail}); run `s3-magic prepare` and try again")
    return json.loads(proc.stdout.strip().splitlines()[-1])


_LOAD_EXT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
start = time.perf_counter()
shell.run_line_magic("load_ext", "s3_magic")
seconds = time.perf_counter() - start
heavy = sorted(m for m in ("torch", "transformers", "ipywidgets", "anthropic", "openai") if m in sys.modules)
print(json.dumps({"seconds": round(seconds, 3), "heavy_modules_imported": heavy}))
"""

_LLM_READY = """
import json, time
start = time.perf_counter()
from s3_magic import get_backend
backend = get_backend("local:embedded")
backend.loaded
print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "path": backend.path}))
"""


def load_ext_seconds() -> dict[str, Any]:
    """``%load_ext s3_magic`` in a fresh IPython shell (the shell's own start-up is not counted)."""
    return _python_seconds(_LOAD_EXT)


def llm_ready_seconds(cold: bool = True) -> dict[str, Any]:
    """Fresh process to embedded LLM loaded: warm (converted model cached) and cold (empty cache folder)."""
    out: dict[str, Any] = {"warm_s": _python_seconds(_LLM_READY)["seconds"]}
    if cold:
        with tempfile.TemporaryDirectory(prefix="s3-cold-cache-") as cache:
            out["cold_s"] = _python_seconds(_LLM_READY, env={"S3_MAGIC_CACHE": cache})["seconds"]
    return out
