"""The extractive-QA student: the student encoder with a fresh span head, trained from the pretrained weights
every fit, reading long contexts through overlapping token windows.

Preprocessing and postprocessing are the standard Hugging Face ones: each (question, context) pair becomes
``max_length``-token windows that overlap by ``stride`` tokens; a training window that does not hold the whole
answer is labelled at the CLS token; a prediction is the best start/end pair over all windows of a question
(:func:`s3_magic.qa.windows.best_span`), cut from the context by the tokens' character offsets.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoModelForQuestionAnswering, get_linear_schedule_with_warmup

from s3_magic.errors import ConfigError, DataError
from s3_magic.qa.records import QAExample, QAPrediction, example_problem
from s3_magic.qa.windows import Offsets, answer_tokens, best_span, trim_around
from s3_magic.student.base import Progress
from s3_magic.student.finetune import bf16_ok, example_weights, pretrained
from s3_magic.student.models import (
    Encoded,
    collate,
    length_batches,
    pick_device,
    resolve_student_model,
    run_epochs,
    use_all_cores,
)


@dataclass
class Windows:
    """The token windows of a list of questions: ids, which question each is from, context offsets, labels."""

    enc: Encoded
    sample: list[int]
    offsets: list[Offsets]
    #: (start token, end token) per window, only for training
    labels: list[tuple[int, int]] | None = None


class QAStudent:
    """Fine-tunes the student encoder for extractive QA with AdamW + linear warmup on length-grouped batches.

    ``train_window`` (tokens) trims each training context to that many tokens around its answer first, so every
    training question is one window holding its answer (faster on long contexts; prediction always reads the
    whole context). Defaults were picked on SQuAD questions split by article (see the module docs of the report
    in ``benchmarks``); lr 1e-4 / batch 16 with frozen word embeddings as in the classification student.
    """

    can_save = True

    def __init__(
        self,
        model: str = "embedded",
        epochs: int = 3,
        lr: float = 1e-4,
        batch_size: int = 16,
        max_length: int = 256,
        stride: int = 64,
        max_question_length: int = 64,
        max_answer_length: int = 30,
        n_best: int = 20,
        train_window: int | None = None,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        device: str = "auto",
        bf16: bool | str = "auto",
        infer_batch_size: int = 64,
        freeze_embeddings: bool = True,
    ) -> None:
        if epochs < 1 or batch_size < 1 or infer_batch_size < 1 or lr <= 0:
            raise ConfigError("QA student epochs, batch_size and infer_batch_size must be at least 1 and lr positive")
        if max_answer_length < 1 or n_best < 1 or max_question_length < 1 or stride < 0:
            raise ConfigError("QA student max_answer_length, n_best and max_question_length must be at least 1")
        room = max_length - max_question_length - 3  # context tokens per window: [CLS] q [SEP] c [SEP]
        if room <= stride:
            raise ConfigError(
                f"max_length {max_length} leaves {room} context tokens per window after a {max_question_length}-"
                f"token question, not more than the stride {stride}; raise max_length or lower stride"
            )
        if train_window is not None and not 1 <= train_window <= room:
            raise ConfigError(f"train_window must be between 1 and {room} tokens (what one window holds) or None")
        self.source = resolve_student_model(model)
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.max_length, self.stride, self.max_question_length = max_length, stride, max_question_length
        self.max_answer_length, self.n_best, self.train_window = max_answer_length, n_best, train_window
        self.weight_decay, self.warmup_ratio, self.freeze_embeddings = weight_decay, warmup_ratio, freeze_embeddings
        self.infer_batch_size = infer_batch_size
        self.device = pick_device(device)
        self.bf16 = bf16_ok(self.device) if bf16 == "auto" else bool(bf16)
        self.tokenizer: Any = None
        self._model: Any = None
        self._fitted = False

    # -- model -------------------------------------------------------------------------------------------
    def _fresh_model(self, seed: int) -> Any:
        """The pretrained encoder with a span head initialised from ``seed`` alone."""
        _, config, state, _ = pretrained(self.source)
        self._load_tokenizer()
        if self._model is None:
            self._model = AutoModelForQuestionAnswering.from_config(copy.deepcopy(config)).to(self.device)
            prefix = self._model.base_model_prefix + "."
            lost = [n for n, _ in self._model.named_parameters() if n.startswith(prefix) and n not in state]
            if lost:
                raise ConfigError(f"student model {self.source!r}: encoder weights {lost[:3]} do not load for QA")
        model = self._model
        model.load_state_dict(state, strict=False)
        gen = torch.Generator().manual_seed(seed)
        std = getattr(model.config, "initializer_range", 0.02)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name not in state:
                    weight = param.dim() > 1
                    param.copy_(torch.randn(param.shape, generator=gen) * std if weight else torch.zeros(param.shape))
        return model

    def _load_tokenizer(self) -> Any:
        if self.tokenizer is None:
            tokenizer = pretrained(self.source)[0]
            if not getattr(tokenizer, "is_fast", False):
                raise ConfigError(f"student model {self.source!r} has no fast tokenizer, which QA needs for offsets")
            self.tokenizer = tokenizer
        return self.tokenizer

    def _autocast(self) -> Any:
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.bf16)

    def _optimizer(self, model: Any, total_steps: int) -> tuple[Any, Any]:
        model.get_input_embeddings().weight.requires_grad_(not self.freeze_embeddings)
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": self.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=self.lr, fused=True)
        return optimizer, get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * total_steps), total_steps)

    # -- windows -----------------------------------------------------------------------------------------
    def windows(self, examples: Sequence[QAExample], rng: random.Random | None = None) -> Windows:
        """Token windows of ``examples``; with ``rng`` they are training windows (labelled, and trimmed to
        ``train_window`` around the answer when that is set)."""
        self._load_tokenizer()
        questions = self._clipped_questions([ex.question for ex in examples])
        contexts = [ex.context for ex in examples]
        spans = [(ex.answer.start, ex.answer.end) for ex in examples] if rng is not None else []
        shift = [0] * len(examples)
        if rng is not None and self.train_window is not None:
            contexts, shift = self._trimmed(examples, rng)
        enc = self.tokenizer(
            questions,
            contexts,
            truncation="only_second",
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        sample: list[int] = list(enc["overflow_to_sample_mapping"])
        offsets: list[Offsets] = []
        for k, offs in enumerate(enc["offset_mapping"]):
            seq = enc.sequence_ids(k)
            base = shift[sample[k]]
            offsets.append([(a + base, b + base) if seq[t] == 1 else None for t, (a, b) in enumerate(offs)])
        types = enc.get("token_type_ids")
        out = Windows(Encoded(enc["input_ids"], types), sample, offsets)
        if rng is not None:
            cls = self.tokenizer.cls_token_id
            out.labels = [
                answer_tokens(offs, *spans[sample[k]], cls_index=_index(enc["input_ids"][k], cls))
                for k, offs in enumerate(offsets)
            ]
        return out

    def _clipped_questions(self, questions: list[str]) -> list[str]:
        """Questions cut to ``max_question_length`` tokens, so every window has room for context."""
        enc = self.tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        clipped = []
        for q, offs in zip(questions, enc["offset_mapping"], strict=True):
            clipped.append(q[: offs[self.max_question_length - 1][1]] if len(offs) > self.max_question_length else q)
        return clipped

    def _trimmed(self, examples: Sequence[QAExample], rng: random.Random) -> tuple[list[str], list[int]]:
        """Each context cut to ``train_window`` tokens around its answer, and where the cut starts."""
        enc = self.tokenizer([ex.context for ex in examples], add_special_tokens=False, return_offsets_mapping=True)
        contexts, shift = [], []
        for ex, offs in zip(examples, enc["offset_mapping"], strict=True):
            cut = trim_around(offs, ex.answer.start, ex.answer.end, self.train_window or len(offs), rng)
            lo, hi = cut if cut is not None else (0, len(ex.context))
            contexts.append(ex.context[lo:hi])
            shift.append(lo)
        return contexts, shift

    # -- training and prediction -------------------------------------------------------------------------
    def fit(
        self,
        examples: Sequence[QAExample],
        seed: int = 0,
        progress: Progress | None = None,
        weights: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """Train from the pretrained encoder on ``examples`` (first answer of each; each question weighing
        ``weights[i]`` in the loss, default 1); return stats: seconds, examples_per_s, windows, epochs, n."""
        _check_training(examples)
        scale = example_weights(weights, len(examples))
        use_all_cores()
        pretrained(self.source)  # the one-off load is not part of the training time
        self._fitted = False
        start = time.perf_counter()
        model = self._fresh_model(seed)
        random.seed(seed)
        torch.manual_seed(seed)  # after the model is built: building it consumes random numbers the first time
        rng = random.Random(seed)
        win = self.windows(examples, rng)
        assert win.labels is not None
        starts = torch.tensor([s for s, _ in win.labels])
        ends = torch.tensor([e for _, e in win.labels])
        window_scale = scale[torch.tensor(win.sample)]
        total = math.ceil(len(win.sample) / self.batch_size) * self.epochs
        optimizer, schedule = self._optimizer(model, total)
        pad = self.tokenizer.pad_token_id or 0

        def loss_of(idx: list[int]) -> torch.Tensor:
            with self._autocast():
                out = model(**collate(win.enc, idx, pad, self.device))
            loss = F.cross_entropy(out.start_logits.float(), starts[idx].to(self.device), reduction="none")
            loss = loss + F.cross_entropy(out.end_logits.float(), ends[idx].to(self.device), reduction="none")
            return (loss * window_scale[idx].to(self.device)).mean() / 2

        run_epochs(model, win.enc.lengths(), batch_size=self.batch_size, epochs=self.epochs, rng=rng, loss_of=loss_of,
                   optimizer=optimizer, schedule=schedule, progress=progress)  # fmt: skip
        self._fitted = True
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "examples_per_s": len(examples) * self.epochs / seconds,
            "windows": len(win.sample),
            "epochs": self.epochs,
            "n": len(examples),
        }

    def predict(self, examples: Sequence[QAExample], progress: Progress | None = None) -> list[QAPrediction]:
        """The best answer span of each question's context (answers of ``examples`` are not read)."""
        if not self._fitted:
            raise ConfigError("the QA student has not been trained yet: call fit() before predict()")
        if not examples:
            return []
        use_all_cores()
        win = self.windows(examples)
        starts: list[list[float]] = [[] for _ in win.sample]
        ends: list[list[float]] = [[] for _ in win.sample]
        lengths = win.enc.lengths()
        pad = self.tokenizer.pad_token_id or 0
        done = 0
        with torch.inference_mode():
            for idx in length_batches(lengths, self.infer_batch_size):
                with self._autocast():
                    out = self._model(**collate(win.enc, idx, pad, self.device))
                s_logits, e_logits = out.start_logits.float().cpu(), out.end_logits.float().cpu()
                for row, k in enumerate(idx):
                    starts[k] = s_logits[row, : lengths[k]].tolist()
                    ends[k] = e_logits[row, : lengths[k]].tolist()
                done += len(idx)
                if progress:
                    progress(done, len(win.sample))
        by_question: list[list[int]] = [[] for _ in examples]
        for k, i in enumerate(win.sample):
            by_question[i].append(k)
        return [
            best_span(
                [(starts[k], ends[k], win.offsets[k]) for k in by_question[i]],
                ex.context,
                self.max_answer_length,
                self.n_best,
            )
            for i, ex in enumerate(examples)
        ]

    def save(self, path: str) -> None:
        """Write the trained model and its tokenizer as a Hugging Face model folder."""
        if not self._fitted:
            raise ConfigError("the QA student has not been trained yet: call fit() before save()")
        self._model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)


def _check_training(examples: Sequence[QAExample]) -> None:
    if not examples:
        raise DataError("no training questions: give the QA student at least one question with an answer")
    for ex in examples:
        problem = example_problem(ex)
        if problem:
            raise DataError(f"training question {ex.uid or ex.question[:60]!r} {problem}; fix or drop it")


def _index(ids: list[int], token: int | None) -> int:
    return ids.index(token) if token is not None and token in ids else 0


def qa_student(labels: Sequence[str], model: str = "embedded", **options: Any) -> QAStudent:
    """The ``qa`` student mode's factory (a QA task has no labels: ``labels`` is empty and unused)."""
    return QAStudent(model=model, **options)
