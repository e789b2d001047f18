"""Fast mode: a frozen encoder's mean-pooled, L2-normalised embeddings and a logistic regression on top."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from s3_magic.errors import ConfigError
from s3_magic.example import Example
from s3_magic.student.base import Predictions, Progress, Student
from s3_magic.student.finetune import bf16_ok, check_labels, predictions_from
from s3_magic.student.models import (
    collate,
    length_batches,
    load_pretrained,
    pick_device,
    resolve_student_model,
    tokenize,
    use_all_cores,
)

#: model source → (tokenizer, encoder in eval mode)
_ENCODERS: dict[tuple[str, str], tuple[Any, Any]] = {}


def encoder(source: str, device: str) -> tuple[Any, Any]:
    """The frozen encoder for ``source``, loaded once per process and device."""
    if (source, device) not in _ENCODERS:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = load_pretrained(source, AutoTokenizer.from_pretrained)
        model = load_pretrained(source, AutoModel.from_pretrained).to(device).eval()
        _ENCODERS[(source, device)] = (tokenizer, model)
    return _ENCODERS[(source, device)]


def embed_examples(
    examples: Sequence[Example],
    source: str,
    device: str,
    *,
    max_length: int = 128,
    batch_size: int = 128,
    bf16: bool = False,
    progress: Progress | None = None,
) -> np.ndarray:
    """(n, dim) float32 L2-normalised mean-pooled embeddings of ``examples`` (text, or text and text_b) by the
    frozen encoder ``source``, in the order given; batches group texts of similar length."""
    use_all_cores()
    tokenizer, model = encoder(source, device)
    enc = tokenize(tokenizer, examples, max_length)
    pad = tokenizer.pad_token_id or 0
    out: np.ndarray | None = None
    done = 0
    with torch.inference_mode():
        for idx in length_batches(enc.lengths(), batch_size):
            batch = collate(enc, idx, pad, device)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
            pooled = (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1)
            pooled = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
            if out is None:
                out = np.zeros((len(examples), pooled.shape[1]), dtype=pooled.dtype)
            out[idx] = pooled
            done += len(idx)
            if progress:
                progress(done, len(examples))
    return out if out is not None else np.zeros((0, 1), dtype=np.float32)


class FastStudent(Student):
    """Frozen-embedding student: seconds per round, embeddings cached by (text, text_b)."""

    def __init__(
        self,
        labels: Sequence[str],
        model: str = "embedded",
        C: float = 1.0,
        max_length: int = 128,
        batch_size: int = 128,
        device: str = "auto",
        bf16: bool | str = "auto",
        max_iter: int = 1000,
    ) -> None:
        super().__init__(labels)
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"the student needs at least two distinct labels, got {self.labels}")
        if C <= 0 or batch_size < 1 or max_length < 8:
            raise ConfigError("student C and batch_size must be positive and max_length at least 8")
        self.source = resolve_student_model(model)
        self.C, self.max_length, self.batch_size, self.max_iter = C, max_length, batch_size, max_iter
        self.device = pick_device(device)
        self.bf16 = bf16_ok(self.device) if bf16 == "auto" else bool(bf16)
        self._cache: dict[tuple[str, str | None], np.ndarray] = {}
        self._clf: LogisticRegression | None = None
        self._single: int | None = None

    def embed(self, examples: Sequence[Example], progress: Progress | None = None) -> np.ndarray:
        """(n, dim) L2-normalised mean-pooled embeddings; only texts not seen before are encoded."""
        keys = [(e.text, e.text_b) for e in examples]
        new = list({k: None for k in keys if k not in self._cache})
        if new:
            self._encode([Example(text, "", text_b) for text, text_b in new], progress)
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 1), dtype=np.float32)

    def _encode(self, examples: Sequence[Example], progress: Progress | None) -> None:
        vectors = embed_examples(
            examples, self.source, self.device, max_length=self.max_length, batch_size=self.batch_size,
            bf16=self.bf16, progress=progress,
        )  # fmt: skip
        for i, example in enumerate(examples):
            self._cache[(example.text, example.text_b)] = vectors[i]

    def fit(
        self,
        examples: Sequence[Example],
        seed: int = 0,
        progress: Progress | None = None,
        weights: Sequence[float] | None = None,
        warm_start: bool = False,
    ) -> dict[str, Any]:
        if warm_start:
            raise ConfigError("the fast student cannot go on from a previous fit; use student.mode: finetune")
        y = np.array(check_labels(self.labels, examples))
        start = time.perf_counter()
        x = self.embed(examples, progress)
        self._clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed)
        if len(set(y.tolist())) < 2:
            self._single = int(y[0])  # one class seen: logistic regression cannot fit, always predict it
        else:
            self._single = None
            self._clf.fit(x, y, sample_weight=None if weights is None else np.asarray(weights, dtype=np.float64))
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "examples_per_s": len(examples) / max(seconds, 1e-9),
            "epochs": 1,
            "n": len(examples),
        }

    def predict(self, examples: Sequence[Example], progress: Progress | None = None) -> Predictions:
        if self._clf is None:
            raise ConfigError("the student has not been trained yet: call fit() before predict()")
        if not examples:
            return Predictions([], [], [])
        x = self.embed(examples, progress)
        probs = np.zeros((len(examples), len(self.labels)), dtype=np.float64)
        if self._single is not None:
            probs[:, self._single] = 1.0
        else:
            probs[:, self._clf.classes_] = self._clf.predict_proba(x)
        return predictions_from(self.labels, torch.from_numpy(probs))
