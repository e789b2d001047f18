"""Speed of the fine-tune student: the library's student against a naive HF-style loop, in one process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from s3_magic import Example, make_student


def optimised_speed(
    examples: Sequence[Example], labels: Sequence[str], infer: Sequence[Example], model: str = "embedded", **params: Any
) -> dict[str, Any]:
    """The library's fine-tune student (one epoch, ``params`` as in ``student``) on ``examples``, then inference on
    ``infer``. Returns both rates and ``source``, the model folder it loaded (the naive loop loads the same)."""
    student = make_student(labels, "finetune", model=model, **{**params, "epochs": 1})
    student.fit(examples[:32], seed=0)  # warm-up: loads weights, first-call allocations
    stats = student.fit(examples, seed=0)
    student.predict(infer[:64])
    start = time.perf_counter()
    student.predict(infer)
    return {
        "finetune_ex_per_s": stats["examples_per_s"],
        "infer_ex_per_s": len(infer) / (time.perf_counter() - start),
        "source": student.source,
    }


def naive_speed(
    examples: Sequence[Example], labels: Sequence[str], infer: Sequence[Example], source: str
) -> dict[str, float]:
    """Plain recipe on the model folder ``source``: pad to 128, batch 16, fp32, examples in the given order, one
    epoch; inference at batch 16."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    net = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(labels))
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-5)
    targets = torch.tensor([list(labels).index(e.label) for e in examples])

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
        for i in range(0, len(infer), 16):
            net(**encode(infer[i : i + 16]))
    infer_s = time.perf_counter() - start
    return {"finetune_ex_per_s": len(examples) / train_s, "infer_ex_per_s": len(infer) / infer_s}
