"""Fine-tune mode: the whole encoder plus a fresh classification head, trained from the pretrained weights every fit."""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
from transformers.utils import logging as hf_logging

from s3_magic.errors import ConfigError, DataError
from s3_magic.example import Example
from s3_magic.student.base import Predictions, Progress, Student
from s3_magic.student.models import (
    collate,
    length_batches,
    load_pretrained,
    pick_device,
    resolve_student_model,
    run_epochs,
    tokenize,
    use_all_cores,
)

#: model source → (tokenizer, config, pretrained encoder state on CPU, names of the head parameters)
_PRETRAINED: dict[str, tuple[Any, Any, dict[str, torch.Tensor], frozenset[str]]] = {}


def pretrained(source: str) -> tuple[Any, Any, dict[str, torch.Tensor], frozenset[str]]:
    """Load a model folder once per process; later students copy its weights from this CPU cache."""
    if source not in _PRETRAINED:
        tokenizer = load_pretrained(source, AutoTokenizer.from_pretrained)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the "newly initialized head" report is expected here
        try:
            model, info = load_pretrained(
                source, lambda s: AutoModelForSequenceClassification.from_pretrained(s, output_loading_info=True)
            )
        finally:
            hf_logging.set_verbosity(verbosity)
        head = frozenset(info["missing_keys"])
        state = {k: v.detach().clone() for k, v in model.state_dict().items() if k not in head}
        _PRETRAINED[source] = (tokenizer, model.config, state, head)
    return _PRETRAINED[source]


def check_labels(labels: Sequence[str], examples: Sequence[Example]) -> list[int]:
    """Label ids of ``examples``; a one-line error for an empty set or a label outside ``labels``."""
    if not examples:
        raise DataError("no training examples: give the student at least one labelled example")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({e.label for e in examples if e.label not in index})
    if unknown:
        raise DataError(f"training labels {unknown} are not among the task labels {list(labels)}: fix the data or task")
    return [index[e.label] for e in examples]


def bf16_ok(device: str) -> bool:
    """bf16 autocast pays off on GPUs and on CPUs with AMX/AVX512-BF16; elsewhere it is slower than fp32."""
    if device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    amx = getattr(torch._C._cpu, "_is_amx_tile_supported", lambda: False)()
    return bool(amx or getattr(torch._C._cpu, "_is_avx512_bf16_supported", lambda: False)())


class FineTuneStudent(Student):
    """Fine-tunes the student encoder with AdamW + linear warmup; dynamic padding, length-grouped batches.

    Defaults (lr 1e-4, batch 16) beat the plain 5e-5/32 recipe on 200-example sets (held-out SST-2 train:
    ~81% vs ~65%); the word embeddings are frozen and bf16 autocast is used where the hardware has it.
    """

    def __init__(
        self,
        labels: Sequence[str],
        model: str = "embedded",
        epochs: int = 5,
        lr: float = 1e-4,
        batch_size: int = 16,
        max_length: int = 128,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        device: str = "auto",
        bf16: bool | str = "auto",
        infer_batch_size: int = 128,
        group_by_length: bool = True,
        freeze_embeddings: bool = True,
    ) -> None:
        super().__init__(labels)
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"the student needs at least two distinct labels, got {self.labels}")
        if epochs < 1 or batch_size < 1 or max_length < 8 or lr <= 0:
            raise ConfigError("student epochs, batch_size and lr must be positive and max_length at least 8")
        self.source = resolve_student_model(model)
        self.epochs, self.lr, self.batch_size, self.max_length = epochs, lr, batch_size, max_length
        self.weight_decay, self.warmup_ratio = weight_decay, warmup_ratio
        self.infer_batch_size, self.group_by_length = infer_batch_size, group_by_length
        self.freeze_embeddings = freeze_embeddings
        self.device = pick_device(device)
        self.bf16 = bf16_ok(self.device) if bf16 == "auto" else bool(bf16)
        self._model: Any = None
        self._fitted = False

    # -- model -------------------------------------------------------------------------------------------
    def _fresh_model(self, seed: int) -> Any:
        """The pretrained encoder with a head initialised from ``seed`` alone."""
        tokenizer, config, state, head = pretrained(self.source)
        self.tokenizer = tokenizer
        if self._model is None:
            config = copy.deepcopy(config)
            config.num_labels = len(self.labels)
            config.id2label = dict(enumerate(self.labels))
            config.label2id = {label: i for i, label in enumerate(self.labels)}
            self._model = AutoModelForSequenceClassification.from_config(config).to(self.device)
        model = self._model
        model.load_state_dict(state, strict=False)
        gen = torch.Generator().manual_seed(seed)
        std = getattr(model.config, "initializer_range", 0.02)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in head:
                    weight = param.dim() > 1
                    param.copy_(torch.randn(param.shape, generator=gen) * std if weight else torch.zeros(param.shape))
        return model

    def _autocast(self) -> Any:
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.bf16)

    def _optimizer(self, model: Any, total_steps: int) -> tuple[Any, Any]:
        embeddings = model.get_input_embeddings().weight
        embeddings.requires_grad_(not self.freeze_embeddings)
        decay: list[torch.Tensor] = []
        no_decay: list[torch.Tensor] = []
        for param in model.parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.dim() < 2 else decay).append(param)
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=self.lr, fused=True)
        warmup = int(self.warmup_ratio * total_steps)
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)

    # -- Student -----------------------------------------------------------------------------------------
    supports_warm_start = True
    can_save = True

    def fit(
        self,
        examples: Sequence[Example],
        seed: int = 0,
        progress: Progress | None = None,
        weights: Sequence[float] | None = None,
        warm_start: bool = False,
    ) -> dict[str, Any]:
        targets = torch.tensor(check_labels(self.labels, examples))
        scale = example_weights(weights, len(examples))
        use_all_cores()
        pretrained(self.source)  # the one-off load is not part of the training time
        if warm_start and not self._fitted:
            raise ConfigError("warm_start needs a trained student: call fit() once without it first")
        self._fitted = False
        start = time.perf_counter()
        model = self._model if warm_start else self._fresh_model(seed)
        random.seed(seed)
        torch.manual_seed(seed)  # after the model is built: building it consumes random numbers the first time
        enc = tokenize(self.tokenizer, examples, self.max_length)
        lengths = enc.lengths() if self.group_by_length else [0] * len(examples)
        rng = random.Random(seed)
        steps_per_epoch = math.ceil(len(examples) / self.batch_size)
        total = steps_per_epoch * self.epochs
        optimizer, schedule = self._optimizer(model, total)
        pad = self.tokenizer.pad_token_id or 0

        def loss_of(idx: list[int]) -> torch.Tensor:
            batch = collate(enc, idx, pad, self.device)
            with self._autocast():
                logits = model(**batch).logits
            loss = F.cross_entropy(logits.float(), targets[idx].to(self.device), reduction="none")
            return (loss * scale[idx].to(self.device)).mean()

        run_epochs(model, lengths, batch_size=self.batch_size, epochs=self.epochs, rng=rng, loss_of=loss_of,
                   optimizer=optimizer, schedule=schedule, progress=progress)  # fmt: skip
        self._fitted = True
        seconds = time.perf_counter() - start
        seen = len(examples) * self.epochs
        return {"seconds": seconds, "examples_per_s": seen / seconds, "epochs": self.epochs, "n": len(examples)}

    def save(self, path: str) -> None:
        if not self._fitted:
            raise ConfigError("the student has not been trained yet: call fit() before save()")
        self._model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)

    def predict(self, examples: Sequence[Example], progress: Progress | None = None) -> Predictions:
        if not self._fitted:
            raise ConfigError("the student has not been trained yet: call fit() before predict()")
        if not examples:
            return Predictions([], [], [])
        use_all_cores()
        enc = tokenize(self.tokenizer, examples, self.max_length)
        probs = torch.empty((len(examples), len(self.labels)))
        pad = self.tokenizer.pad_token_id or 0
        done = 0
        with torch.inference_mode():
            for idx in length_batches(enc.lengths(), self.infer_batch_size):
                with self._autocast():
                    logits = self._model(**collate(enc, idx, pad, self.device)).logits
                probs[idx] = torch.softmax(logits.float(), dim=-1).cpu()
                done += len(idx)
                if progress:
                    progress(done, len(examples))
        return predictions_from(self.labels, probs)


def example_weights(weights: Sequence[float] | None, n: int) -> torch.Tensor:
    """Per-example loss weights scaled to mean 1 (so the learning rate means the same with and without them)."""
    if weights is None:
        return torch.ones(n)
    w = torch.tensor([float(x) for x in weights])
    if len(w) != n or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ConfigError(f"give one non-negative weight per training example ({n}), not all zero")
    return w * (n / w.sum())


def predictions_from(labels: Sequence[str], probs: torch.Tensor) -> Predictions:
    """Predictions from a (n, labels) probability matrix."""
    conf, best = probs.max(dim=-1)
    return Predictions([labels[i] for i in best.tolist()], conf.tolist(), probs.tolist())
