"""Tuning-data study of the final model's recipes: run S3 on a task, then train every recipe on the synthetic data
of the best round (by check accuracy) and of the last round, each with all the real labels, and score them on the
task's test split — which must be tuning data (e.g. SST-2 *train* sentences), never a benchmark's test split.

    python benchmarks/tune_final.py sst2 --set validation.path=/tmp/tune/val.jsonl --set test.path=... --folder F
"""

from __future__ import annotations

import argparse
import json
import time

from s3_magic import Session, parse_sets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--folder", default="tune_runs")
    ap.add_argument("--name", default="tune")
    ap.add_argument("--recipes", default=",".join(Session.RECIPES))
    args = ap.parse_args()
    if args.name in Session.run_ids(args.folder):
        s = Session.open(args.name, folder=args.folder)
    else:
        s = Session.create(args.task, folder=args.folder, name=args.name, overrides=parse_sets(args.set))
    s.run()
    data = s.data
    real = [*data.validation, *data.check]
    out = {"rounds": [r.to_dict() for r in s.rounds()], "best_round": s.best_round(), "recipes": []}
    last = max(r.round for r in s.rounds())
    for which, r in (("best", s.best_round()), ("last", last)):
        for recipe in args.recipes.split(","):
            t = time.time()
            student = s.fit_recipe(recipe, r, real)
            acc = student.predict(data.test).accuracy([e.label for e in data.test])
            row = {"round": which, "r": r, "recipe": recipe, "tune_acc": acc, "seconds": round(time.time() - t, 1)}
            print(json.dumps(row), flush=True)
            out["recipes"].append(row)
        if s.best_round() == last:
            break
    print(json.dumps({k: out[k] for k in ("best_round",)}))
    for row in out["rounds"]:
        print({k: row.get(k) for k in ("round", "n_train", "val_acc", "check_acc", "test_acc")})


if __name__ == "__main__":
    main()
