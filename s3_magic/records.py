"""The records the run store hands out: a round and its stats (:class:`Round`), a stored synthetic example with its
provenance (:class:`SyntheticExample`), a run in a folder's listing (:class:`RunSummary`), and the statuses runs
and rounds go through. They are frozen; ``to_dict()`` gives the flat dict tables and DataFrames are made from.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

from s3_magic.example import Example

#: what a run is doing: ``interrupted`` also reads for a ``running`` run whose process is gone
RunStatus = Literal["created", "running", "paused", "stopped", "finished", "failed", "interrupted"]
CREATED: RunStatus = "created"
RUNNING: RunStatus = "running"
PAUSED: RunStatus = "paused"
STOPPED: RunStatus = "stopped"  # by a budget
FINISHED: RunStatus = "finished"
FAILED: RunStatus = "failed"
INTERRUPTED: RunStatus = "interrupted"

#: a round's phases, recorded as each completes: its data is made (``generated``), then its student is evaluated
RoundStatus = Literal["generated", "evaluated"]
GENERATED: RoundStatus = "generated"
EVALUATED: RoundStatus = "evaluated"

#: how a synthetic example was made
ExampleKind = Literal["seed", "extrapolated", "zerogen"]


@dataclass(frozen=True)
class Round:
    """One round of a run: its status and the stats its phases recorded (None where a phase has not run).

    Data phase: ``new_accepted``, ``rejected`` (filter reason -> count), ``llm_calls``, ``cache_hits``,
    ``prompt_tokens``, ``completion_tokens``, ``data_seconds`` and the validation judge's ``judge_*``; where real
    calls were made in the process that made the data, ``gen_seconds`` (waiting for them), ``completion_tok_s`` and
    ``prompt_tok_s`` (their tokens per second of that) and, for backends that batch (the local one),
    ``batch_occupancy`` (rows still generating per decode step, as a share of the batch size).
    Evaluation: ``n_train``, ``train_by_label``, ``val_acc`` (optimistic: the loop extrapolates those errors),
    ``check_acc`` / ``n_check`` (held out: what every choice reads), ``test_acc`` (report only), ``n_errors``,
    ``train_seconds``, ``eval_seconds``; a QA round has ``val_em`` / ``val_f1``, ``check_em`` / ``check_f1`` and
    ``test_em`` / ``test_f1`` (means of 0 to 1) instead of the accuracies. ``cost_usd`` is what the round's real
    LLM calls cost, set by ``Session.rounds`` (``priced``; None there means the model has no known price). Stats
    this version has no field for (written by another version) are kept in ``extra``.
    """

    #: the seconds of a round's phases (each phase records its own; a resumed phase adds to nothing twice)
    PHASE_SECONDS: ClassVar[tuple[str, ...]] = ("data_seconds", "train_seconds", "eval_seconds")

    round: int
    status: RoundStatus
    new_accepted: int | None = None
    rejected: Mapping[str, int] = field(default_factory=dict)
    llm_calls: int | None = None
    cache_hits: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    data_seconds: float | None = None
    judge_checked: int | None = None
    judge_rejected: int | None = None
    judge_seconds: float | None = None
    gen_seconds: float | None = None
    completion_tok_s: float | None = None
    prompt_tok_s: float | None = None
    batch_occupancy: float | None = None
    n_train: int | None = None
    train_by_label: Mapping[str, int] = field(default_factory=dict)
    val_acc: float | None = None
    check_acc: float | None = None
    n_check: int | None = None
    test_acc: float | None = None
    #: QA tasks: mean exact match and token F1 (0 to 1, like the accuracies) on validation, check and test questions
    val_em: float | None = None
    val_f1: float | None = None
    check_em: float | None = None
    check_f1: float | None = None
    test_em: float | None = None
    test_f1: float | None = None
    n_errors: int | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    cost_usd: float | None = None
    priced: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stats(cls, round_no: int, status: RoundStatus, stats: Mapping[str, Any]) -> Round:
        """The record of a stored round (``stats`` as the store keeps them, unknown keys going to ``extra``)."""
        known = {f.name for f in fields(cls)} - {"round", "status", "cost_usd", "priced", "extra"}
        values = {k: v for k, v in stats.items() if k in known and v is not None}
        extra = {k: v for k, v in stats.items() if k not in known and k not in ("round", "status")}
        return cls(round=round_no, status=status, **values, extra=extra)

    @property
    def evaluated(self) -> bool:
        return self.status == EVALUATED

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens of the round's real LLM calls."""
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @property
    def seconds(self) -> float:
        """The seconds of the round's phases together (see :attr:`PHASE_SECONDS`)."""
        return sum(float(getattr(self, k) or 0.0) for k in self.PHASE_SECONDS)

    def stats(self) -> dict[str, Any]:
        """The stats as the store keeps them: the round's fields that are set (not None or empty), and ``extra``."""
        skip = {"round", "status", "cost_usd", "priced", "extra"}
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in out.items() if v is not None and v != {}}
        return {**out, **self.extra}

    def with_cost(self, cost_usd: float | None) -> Round:
        """This round priced: ``cost_usd`` (None: the model has no known price)."""
        return replace(self, cost_usd=cost_usd, priced=True)

    def to_dict(self) -> dict[str, Any]:
        """A flat dict: round, status, every stat (None where unset), and ``cost_usd`` when priced."""
        out: dict[str, Any] = {"round": self.round, "status": self.status}
        for f in fields(self):
            if f.name not in ("round", "status", "cost_usd", "priced", "extra"):
                value = getattr(self, f.name)
                out[f.name] = dict(value) if isinstance(value, Mapping) else value
        out.update(self.extra)
        if self.priced:
            out["cost_usd"] = self.cost_usd
        return out


@dataclass(frozen=True)
class SyntheticExample:
    """One example the LLM wrote, as stored: what it says, where it came from, and what the filters made of it.

    ``origin`` is its provenance (``method``; seed: ``rationales``, ``demonstrations``; extrapolated: ``from_uid``,
    ``from_text``, ``from_pred``, ``error_round``, ...). ``verdict`` is ``ok`` or why a filter rejected it (a reason
    of :data:`s3_magic.clean.REASONS`); ``accepted`` is whether training uses it (a person may change it).
    """

    id: int
    run_id: str
    round: int
    kind: ExampleKind
    gen_key: str
    text: str | None
    text_b: str | None
    label: str
    origin: Mapping[str, Any]
    backend: str | None
    model: str | None
    prompt_hash: str | None
    raw_output: str | None
    verdict: str
    accepted: bool
    edited: bool = False
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any], origin: Mapping[str, Any]) -> SyntheticExample:
        """The record of a stored row (``origin`` already decoded)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        values.update(origin=origin, accepted=bool(row["accepted"]), edited=bool(row["edited"]))
        return cls(**values)

    @property
    def from_uid(self) -> str | None:
        """The validation example an extrapolated example came from (None for other kinds)."""
        return self.origin.get("from_uid")

    @property
    def is_pair(self) -> bool:
        return self.text_b is not None

    def example(self) -> Example:
        """The labelled example a student trains on (uid ``syn:<id>``)."""
        return Example(self.text or "", self.label, self.text_b, f"syn:{self.id}")

    def to_dict(self) -> dict[str, Any]:
        """A flat dict of every field (``origin`` as a dict), for tables, views and DataFrames."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["origin"] = dict(self.origin)
        return out


@dataclass(frozen=True)
class RunSummary:
    """A run as a folder's listing shows it: the newest evaluated round (None: none yet) and accepted examples."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "run"), ("task_name", "task"), ("status", "status"), ("last_round", "rounds"),
        ("accepted", "accepted"), ("created", "created"),
    )  # fmt: skip

    id: str
    task_name: str
    status: RunStatus
    message: str | None
    created_at: float
    updated_at: float
    accepted: int
    last_round: int | None

    @property
    def created(self) -> str:
        """When the run was created, as local ``YYYY-MM-DD HH:MM``."""
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created_at))

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "created": self.created}


def last_evaluated(rounds: Iterable[Round]) -> int:
    """The highest evaluated round of ``rounds``, or -1."""
    return max((r.round for r in rounds if r.evaluated), default=-1)


def to_dicts(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Records (or dicts, passed through) as flat dicts, e.g. for a pandas DataFrame."""
    return [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in records]
