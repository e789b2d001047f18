"""The options each student mode takes (the keys of a task's ``student`` section beside ``model`` and ``mode``).

They live apart from the students, which import torch, so that a task's student options are checked when it is
loaded. Their defaults are the students' own (tests check that the two agree).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from s3_magic.options import Number, Options, Whole

Bf16 = bool | Literal["auto"]


class FineTuneOptions(Options):
    """``mode: finetune``: the whole encoder and a fresh head, trained from the pretrained weights every fit.

    The defaults (lr 1e-4, batch 16) did best on held-out SST-2 train data with 200 training examples.
    """

    epochs: Whole = Field(5, ge=1, le=100, description="passes over the training examples")
    lr: Number = Field(1e-4, gt=0, lt=1, description="peak learning rate (AdamW, linear warmup and decay)")
    batch_size: Whole = Field(16, ge=1, le=4096, description="training examples per step")
    max_length: Whole = Field(128, ge=8, le=4096, description="tokens per example (longer ones are cut)")
    weight_decay: Number = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: Number = Field(0.1, ge=0, lt=1, description="share of the steps spent warming up")
    device: str = Field("auto", min_length=1, description="auto (cuda when available), cpu, cuda, ...")
    bf16: Bf16 = Field("auto", description="bf16 autocast; auto: where the hardware runs it fast")
    infer_batch_size: Whole = Field(128, ge=1, le=4096, description="examples per prediction batch")
    group_by_length: bool = Field(True, description="batch examples of similar length (less padding)")
    freeze_embeddings: bool = Field(True, description="keep the word embeddings fixed")


class FastOptions(Options):
    """``mode: fast``: a frozen encoder's embeddings and a logistic regression on top (seconds per round)."""

    C: Number = Field(1.0, gt=0, description="inverse regularisation strength of the logistic regression")
    max_length: Whole = Field(128, ge=8, le=4096, description="tokens per embedded example (longer ones are cut)")
    batch_size: Whole = Field(128, ge=1, le=4096, description="examples per embedding batch")
    device: str = Field("auto", min_length=1, description="auto (cuda when available), cpu, cuda, ...")
    bf16: Bf16 = Field("auto", description="bf16 autocast; auto: where the hardware runs it fast")
    max_iter: Whole = Field(1000, ge=1, description="iterations of the logistic regression's solver")


class QAOptions(Options):
    """``mode: qa`` (``kind: qa`` tasks): the encoder with a fresh span head, reading contexts through windows."""

    epochs: Whole = Field(3, ge=1, le=100, description="passes over the training questions")
    lr: Number = Field(1e-4, gt=0, lt=1, description="peak learning rate (AdamW, linear warmup and decay)")
    batch_size: Whole = Field(16, ge=1, le=4096, description="training windows per step")
    max_length: Whole = Field(256, ge=32, le=4096, description="tokens per window (question and context)")
    stride: Whole = Field(64, ge=0, le=4096, description="tokens two windows of one context overlap by")
    max_question_length: Whole = Field(64, ge=1, le=1024, description="tokens of a question (longer ones are cut)")
    max_answer_length: Whole = Field(30, ge=1, le=512, description="longest predicted answer, in tokens")
    n_best: Whole = Field(20, ge=1, le=200, description="start and end candidates searched per window")
    train_window: Whole | None = Field(
        None, ge=1, description="trim each training context to this many tokens around its answer; None: whole"
    )
    weight_decay: Number = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: Number = Field(0.1, ge=0, lt=1, description="share of the steps spent warming up")
    device: str = Field("auto", min_length=1, description="auto (cuda when available), cpu, cuda, ...")
    bf16: Bf16 = Field("auto", description="bf16 autocast; auto: where the hardware runs it fast")
    infer_batch_size: Whole = Field(64, ge=1, le=4096, description="windows per prediction batch")
    freeze_embeddings: bool = Field(True, description="keep the word embeddings fixed")
