"""Generation speed of the local backend, against a naive ``model.generate`` baseline in the same process.

>>> from s3_magic.llm.local_bench import benchmark_generation
>>> benchmark_generation(n_prompts=64, max_tokens=64)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

import torch

from s3_magic.llm.base import GenParams, Prompt
from s3_magic.llm.local import LocalBackend, load_model, torch_threads

_ASPECTS = [
    "plot, acting, soundtrack",
    "the director, pacing",
    "visual effects, dialogue",
    "the ending, humor",
    "cast chemistry, score",
    "cinematography, editing",
    "the villain, suspense",
    "costumes, set design",
]


def bench_prompts(n: int) -> list[Prompt]:
    """Synthetic-data prompts like the S3 generation step's (short instruction, ~60-token answer)."""
    return [
        Prompt.user(
            f"Write a {('positive', 'negative')[i % 2]} movie review sentence about: {_ASPECTS[i % len(_ASPECTS)]}.",
            sample=i,
        )
        for i in range(n)
    ]


def benchmark_generation(
    n_prompts: int = 128,
    batch_size: int | None = None,
    max_tokens: int = 64,
    model: str = "embedded",
    naive_prompts: int = 32,
    naive_batch_size: int = 32,
    naive_threads: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Tokens/s of :class:`LocalBackend` and of naive fp32 ``model.generate`` (batch 32) on the same prompts.

    ``naive_prompts=0`` skips the baseline; it runs with ``naive_threads`` torch threads (default: torch's own
    setting, as a plain script would). Generated tokens count up to and including the stop token.
    """
    if batch_size is not None:
        options["batch_size"] = batch_size
    backend = LocalBackend(model, **options)
    t0 = time.perf_counter()
    backend.loaded  # noqa: B018 - load outside the timed region
    load_s = time.perf_counter() - t0
    params = GenParams(temperature=0.9, top_p=0.95, max_tokens=max_tokens)
    prompts = bench_prompts(n_prompts)
    t0 = time.perf_counter()
    results = dict(backend.generate(prompts, params))
    seconds = time.perf_counter() - t0
    tokens = sum(c.completion_tokens for c in results.values())
    report: dict[str, Any] = {
        "device": backend.device,
        "dtype": str(backend.dtype).removeprefix("torch."),
        "threads": backend.threads or torch.get_num_threads(),
        "batch_size": backend.batch_size,
        "n_prompts": n_prompts,
        "max_tokens": max_tokens,
        "load_s": round(load_s, 2),
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
    }
    if naive_prompts > 0:
        with torch_threads(naive_threads):
            naive = naive_generate_tokens_per_s(backend.path, prompts[:naive_prompts], params, naive_batch_size)
        naive["threads"] = torch.get_num_threads() if naive_threads is None else naive_threads
        report.update({f"naive_{k}": v for k, v in naive.items()})
        report["speedup"] = round(report["tokens_per_s"] / naive["tokens_per_s"], 2)
    return report


def naive_generate_tokens_per_s(path: str, prompts: list[Prompt], params: GenParams, batch_size: int) -> dict:
    """The baseline: fp32 model, ``model.generate`` with sampling, fixed batches, left padding."""
    lm = load_model(path, "cpu", torch.float32)
    tokenizer, stop = lm.tokenizer, set(lm.stop_ids)
    texts = [
        tokenizer.apply_chat_template(list(p.messages), add_generation_prompt=True, tokenize=False) for p in prompts
    ]
    tokens = 0
    t0 = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            padding_side="left",
            add_special_tokens=False,
        )
        with torch.inference_mode():
            out = lm.model.generate(
                **enc,
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                max_new_tokens=params.max_tokens,
                pad_token_id=lm.stop_ids[0],
                eos_token_id=lm.stop_ids,
            )
        for row in out[:, enc["input_ids"].shape[1] :].tolist():
            ends = [i for i, t in enumerate(row) if t in stop]
            tokens += ends[0] + 1 if ends else len(row)
    seconds = time.perf_counter() - t0
    return {
        "batch_size": batch_size,
        "n_prompts": len(prompts),
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
    }
