"""Tuning-data study of the extractive-QA student on the shared SQuAD half: train on questions of the contexts-pool
articles of ``split_by_article(dev_half, 200, 1000, seed=0)``, score on its 200 validation questions (other
articles). The split's test articles are never read. Prints one JSON line per configuration.

    python benchmarks/tune_qa_student.py '[{"epochs": 3}, {"epochs": 3, "train_window": 128}]' --train 400
"""

from __future__ import annotations

import argparse
import json
import random
import time

from s3_magic import data_root, load_qa, make_student, split_by_article, squad_scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", help="JSON list of qa student options (model and the options of student mode qa)")
    ap.add_argument("--train", type=int, default=400, help="training questions sampled from the pool articles")
    ap.add_argument("--seed", type=int, default=0, help="the student's seed")
    args = ap.parse_args()
    split = split_by_article(load_qa(data_root() / "squad" / "dev_half.jsonl"), 200, 1000, seed=0)
    train = random.Random(1).sample(split.pool, args.train)
    val = split.validation
    for cfg in json.loads(args.configs):
        student = make_student([], "qa", **cfg)
        c0 = time.process_time()
        stats = student.fit(train, seed=args.seed)
        c1 = time.process_time()
        t = time.perf_counter()
        preds = student.predict(val)
        wall = time.perf_counter() - t
        c2 = time.process_time()
        scores = squad_scores(preds, val)
        row = {
            "cfg": cfg,
            "f1": round(scores.f1, 2),
            "em": round(scores.exact_match, 2),
            "train_ex_per_s": round(stats["examples_per_s"], 2),
            "train_cpu_s_per_ex": round((c1 - c0) / (len(train) * student.epochs), 3),
            "train_windows": stats["windows"],
            "infer_q_per_s": round(len(val) / wall, 2),
            "infer_cpu_s_per_q": round((c2 - c1) / len(val), 4),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
