"""The final arm: the model a user keeps, made by :meth:`Session.final` on the finished S3 arm's run.

``Session.final`` trains the student on the synthetic data of the S3 run's best round (by check accuracy) together
with the real labelled examples, by the recipe chosen on the check split (see ``final.min_gain_se``), then (by
default) once more with the check examples added, so the kept model has learnt from all the real labels. No
choice reads the test split. The arm reports that model's test accuracy and the check accuracy it was chosen by;
it has no validation accuracy (it trained on those examples). The model is saved in the arm's folder
``<runs>/<task>/<profile>/seed<s>/final/model``, the S3 run stores the record (read back on the next benchmark
run instead of training again, unless it was made with other ``final`` settings), and the arm's result is also
written there as ``result.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s3_magic import ConfigError, Reporter, Session, write_atomic
from s3_magic_bench.arms import GENERATION_RATES, arm_folder
from s3_magic_bench.protocol import Protocol

ARM = "final"
RESULT_FILE = "result.json"
MODEL_FOLDER = "model"


def run_final(protocol: Protocol, seed: int, runs: str | Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """The final model of the S3 arm's run for ``seed`` (trained once, then read back); the arm's result."""
    folder = arm_folder(runs, protocol, ARM, seed)
    s3_folder = arm_folder(runs, protocol, "s3", seed)
    if "s3" not in Session.run_ids(s3_folder):
        raise ConfigError(f"no S3 run in {str(s3_folder)!r}; run the s3 arm first")
    with Session.open("s3", folder=s3_folder, reporter=reporter) as s3:
        if s3.last_evaluated() < 0 or s3.next_round() is not None or s3.status != "finished":
            raise ConfigError(f"the S3 run in {str(s3_folder)!r} has not finished; run the s3 arm first")
        record = final_record(s3, folder / MODEL_FOLDER)
        result = final_arm_result(s3, record, seed, folder)
    write_atomic(folder / RESULT_FILE, json.dumps(result, indent=1) + "\n")
    return result


def final_record(s3: Session, out: Path) -> dict[str, Any]:
    """The S3 run's stored final record, or a new one (the model saved in ``out``) when there is none or it was
    made with other ``final`` settings than the run's task has now (or before records named their settings)."""
    record = s3.final_result()
    if record is None or record.get("final_spec") != s3.task.final.model_dump():
        record = s3.final(out=out)
    return record


def final_arm_result(s3: Session, record: dict[str, Any], seed: int, folder: Path) -> dict[str, Any]:
    """The final arm's result in the shape of the other arms' (see :func:`s3_magic_bench.arms.arm_result`)."""
    data = s3.data
    return {
        "arm": ARM,
        "seed": seed,
        "run_id": s3.run_id,
        "folder": str(folder),
        "status": "finished",
        "n_train": record["n_train"],
        "n_synthetic": record.get("n_synthetic"),
        "n_real": record.get("n_real"),
        "round": record.get("round"),
        "recipe": record.get("recipe"),
        "refit_with_check": record.get("refit_with_check"),
        "candidates": record.get("candidates") or [],
        "model_path": record.get("path"),
        "val_acc": None,
        "check_acc": record.get("check_acc"),
        "test_acc": record.get("test_acc"),
        "n_validation": len(data.validation),
        "n_check": len(data.check),
        "n_test": len(data.test),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "llm_calls": 0,
        "cost_usd": None if s3.price is None else 0.0,  # it makes no LLM call
        "cache_hits": 0,
        "seconds": record.get("seconds"),
        "gen_seconds": None,
        **dict.fromkeys(GENERATION_RATES),
        "train_copies_of_test": None,
        "rounds": [],
    }
