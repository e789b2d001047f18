"""Speed of the fine-tune student: the optimised path against a naive HF-style loop, in one process."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from s3_magic.errors import DataError
from s3_magic.example import Example
from s3_magic.student.finetune import FineTuneStudent, check_labels
from s3_magic.student.models import resolve_student_model, use_all_cores


def read_jsonl(path: str | Path, limit: int | None = None, seed: int = 0) -> list[Example]:
    """Examples from a ``{"text", "label"}`` (or ``text_a``/``text_b``) jsonl file, shuffled with ``seed``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} not found: pass the path of an sst2-style jsonl file")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    random.Random(seed).shuffle(rows)
    rows = rows[:limit] if limit else rows
    return [
        Example(r.get("text", r.get("text_a", "")), str(r["label"]), r.get("text_b"), f"{i}")
        for i, r in enumerate(rows)
    ]


def naive_speed(examples: Sequence[Example], labels: Sequence[str], n_infer: Sequence[Example], model: str) -> dict:
    """Plain recipe: pad to 128, batch 16, fp32, examples in file order, one epoch; inference at batch 16."""
    source = resolve_student_model(model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    net = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(labels))
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-5)
    targets = torch.tensor(check_labels(labels, examples))

    def encode(batch: Sequence[Example]) -> Any:
        return tokenizer(
            [e.text for e in batch], padding="max_length", truncation=True, max_length=128, return_tensors="pt"
        )

    net.train()
    start = time.perf_counter()
    for i in range(0, len(examples), 16):
        loss = F.cross_entropy(net(**encode(examples[i : i + 16])).logits, targets[i : i + 16])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    train_s = time.perf_counter() - start
    net.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(n_infer), 16):
            net(**encode(n_infer[i : i + 16]))
    infer_s = time.perf_counter() - start
    return {"finetune_ex_per_s": len(examples) / train_s, "infer_ex_per_s": len(n_infer) / infer_s}


def optimised_speed(
    examples: Sequence[Example], labels: Sequence[str], infer: Sequence[Example], **params: Any
) -> dict:
    """The FineTuneStudent path (one epoch) on the same examples."""
    student = FineTuneStudent(labels, epochs=1, **params)
    student.fit(examples[:32], seed=0)  # warm-up: loads weights, first-call allocations
    stats = student.fit(examples, seed=0)
    student.predict(infer[:64])
    start = time.perf_counter()
    student.predict(infer)
    return {"finetune_ex_per_s": stats["examples_per_s"], "infer_ex_per_s": len(infer) / (time.perf_counter() - start)}


def benchmark_student(
    data: str | Path,
    n_train: int = 512,
    n_infer: int = 1024,
    model: str = "embedded",
    threads: int | None = None,
    **params: Any,
) -> dict:
    """Fine-tune and inference examples/s of the optimised student and of the naive baseline, same process.

    ``threads`` pins torch's thread count (default: all cores); ``params`` go to ``FineTuneStudent``.
    """
    use_all_cores()
    if threads:
        torch.set_num_threads(threads)
    rows = read_jsonl(data, n_train + n_infer)
    train, infer = rows[:n_train], rows[n_train:]
    labels = sorted({e.label for e in rows})
    result = {
        "threads": torch.get_num_threads(),
        "n_train": len(train),
        "n_infer": len(infer),
        "mean_tokens": sum(len(e.text.split()) for e in rows) / len(rows),
        "optimised": optimised_speed(train, labels, infer, model=model, **params),
        "naive": naive_speed(train, labels, infer, model),
    }
    for key in ("finetune_ex_per_s", "infer_ex_per_s"):
        result[f"speedup_{key.split('_')[0]}"] = result["optimised"][key] / result["naive"][key]
    return result


if __name__ == "__main__":
    import sys

    print(json.dumps(benchmark_student(sys.argv[1], *map(int, sys.argv[2:4]), threads=int(sys.argv[4])), indent=2))
