"""The extra arm ``s3_plus_gold``: the S3 arm's final training data plus the 200 validation examples.

A user who ran S3 has those 200 labelled examples anyway, so the model they would ship is trained on both. The
arm is one more training of the same student recipe on the S3 run's accepted examples of its last round and the
validation examples, then one prediction of the test split for the report. It chooses nothing: no epoch, no
checkpoint, no data is picked by any accuracy. Its validation accuracy is not reported (it trained on them).
The result is saved as ``result.json`` in the arm's folder and read back on the next run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from s3_magic.bench.arms import arm_folder
from s3_magic.bench.protocol import Protocol
from s3_magic.bench.report import write_atomic
from s3_magic.engine.context import Reporter
from s3_magic.errors import ConfigError

RESULT_FILE = "result.json"


def run_s3_plus_gold(
    protocol: Protocol, seed: int, runs: str | Path, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Train once on the S3 arm's final data + the validation examples; return the arm's result."""
    from s3_magic.engine.training import make_student, training_examples
    from s3_magic.session import Session

    folder = arm_folder(runs, protocol, "s3_plus_gold", seed)
    saved = folder / RESULT_FILE
    if saved.exists():
        return json.loads(saved.read_text(encoding="utf-8"))
    s3_folder = arm_folder(runs, protocol, "s3", seed)
    with Session.open("s3", folder=s3_folder, reporter=reporter) as s3:
        rows = [r for r in s3.rounds() if r["status"] == "evaluated"]
        if not rows or s3.next_round() is not None:
            raise ConfigError(f"the S3 run in {str(s3_folder)!r} has not finished; run the s3 arm first")
        ctx = s3.ctx
        last = rows[-1]["round"]
        synthetic = training_examples(ctx, last)
        train = synthetic + list(ctx.data.validation)
        started = time.time()
        student = make_student(ctx)
        student.fit(train, seed=ctx.task.seed)
        test = ctx.data.test
        test_acc = student.predict(test).accuracy([e.label for e in test]) if test else None
        seconds = round(time.time() - started, 2)
        result: dict[str, Any] = {
            "arm": "s3_plus_gold",
            "seed": seed,
            "run_id": s3.run_id,
            "folder": str(folder),
            "status": "finished",
            "n_train": len(train),
            "n_synthetic": len(synthetic),
            "val_acc": None,
            "test_acc": test_acc,
            "n_validation": len(ctx.data.validation),
            "n_test": len(test),
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "llm_calls": 0,
            "cache_hits": 0,
            "seconds": seconds,
            "train_copies_of_test": None,
            "rounds": [],
        }
    write_atomic(saved, json.dumps(result, indent=1))
    return result
