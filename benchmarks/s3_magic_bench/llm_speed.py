"""Generation speed of the local backend, against a naive ``model.generate`` baseline in the same process.

>>> from s3_magic_bench.llm_speed import generation_speed
>>> generation_speed(n_prompts=64, max_tokens=64)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

from s3_magic import GenParams, Prompt, get_backend

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


def generation_speed(
    n_prompts: int = 128,
    max_tokens: int = 64,
    spec: str = "local:embedded",
    naive_prompts: int = 32,
    naive_batch_size: int = 32,
) -> dict[str, Any]:
    """Tokens/s of the local backend ``spec`` (its default options) and of naive fp32 ``model.generate`` at batch
    ``naive_batch_size`` on the first ``naive_prompts`` of the same prompts, with torch's thread setting.

    ``naive_prompts=0`` skips the baseline. Generated tokens count up to and including the stop token; ``ratio``
    is the backend's tokens/s over the baseline's.
    """
    import torch

    backend = get_backend(spec)
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
        naive = naive_generate_tokens_per_s(spec, prompts[:naive_prompts], params, naive_batch_size)
        naive["threads"] = torch.get_num_threads()
        report.update({f"naive_{k}": v for k, v in naive.items()})
        report["ratio"] = round(report["tokens_per_s"] / naive["tokens_per_s"], 2)
    return report


def naive_generate_tokens_per_s(spec: str, prompts: list[Prompt], params: GenParams, batch_size: int) -> dict:
    """The baseline: the same model in fp32 on the CPU, ``model.generate`` with sampling, fixed batches, left
    padding."""
    import torch

    lm = get_backend(spec, device="cpu", dtype="float32").loaded
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
