"""Turning planned prompts into stored, filtered synthetic examples — shared by seed synthesis,
error extrapolation and the ZeroGen baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from s3_magic.clean import Deduper, clean_text
from s3_magic.engine.context import RunContext
from s3_magic.llm.base import Prompt

T = TypeVar("T")


@dataclass
class PlannedItem:
    """One example to synthesise. ``gen_key`` is unique in the run, so a resumed run never makes it twice."""

    gen_key: str
    prompt: Prompt
    label: str
    origin: dict[str, Any]
    #: the fixed first text of a pair example (the context), kept verbatim
    context: str | None = None


@dataclass
class SynthesisSummary:
    planned: int = 0
    already_done: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"planned": self.planned, "already_done": self.already_done, "accepted": self.accepted,
                "rejected": dict(self.rejected)}  # fmt: skip


def pair_key(text: str, text_b: str | None) -> str:
    return text if text_b is None else f"{text} || {text_b}"


def build_deduper(ctx: RunContext) -> Deduper:
    """A deduper that knows the real examples (never to be copied) and the run's accepted examples.

    The check texts are used only to keep copies of them out (a copy would flatter the check estimate); the
    test texts are used here only to keep copies of them out of the training data, and not at all
    when ``filters.reject_test_copies`` is off.
    """
    dedup = Deduper(threshold=ctx.task.filters.near_duplicate)
    dedup.add_reference([pair_key(e.text, e.text_b) for e in ctx.data.validation], "validation")
    # a copy of a check example in the training data would flatter the check estimate
    dedup.add_reference([pair_key(e.text, e.text_b) for e in ctx.data.check], "check")
    if ctx.data.test and ctx.task.filters.reject_test_copies:
        dedup.add_reference([pair_key(e.text, e.text_b) for e in ctx.data.test], "test")
    for row in ctx.store.examples(ctx.run_id, accepted=True):
        if row.text is not None:
            dedup.add(pair_key(row.text, row.text_b))
    return dedup


def run_items(
    ctx: RunContext, items: Sequence[PlannedItem], *, round_no: int, kind: str, step: str
) -> SynthesisSummary:
    """Generate, clean, filter and store every item not stored yet; store each as it arrives."""
    summary = SynthesisSummary(planned=len(items))
    done = ctx.store.gen_keys(ctx.run_id)
    todo = [it for it in items if it.gen_key not in done]
    summary.already_done = len(items) - len(todo)
    if not todo:
        return summary
    task = ctx.task
    if ctx.deduper is None:
        ctx.deduper = build_deduper(ctx)
    dedup = ctx.deduper
    label_words = {label.name: label.prompt_word for label in task.labels}
    llm = ctx.llm
    finished = summary.already_done
    ctx.reporter.progress(step, finished, len(items))
    for i, completion in in_order(llm.generate([it.prompt for it in todo], step=f"r{round_no}:{step}")):
        item = todo[i]
        others = [w for name, w in label_words.items() if name != item.label]
        cleaned = clean_text(
            completion.text,
            min_words=task.filters.min_words,
            max_words=task.filters.max_words,
            expected_label_word=label_words[item.label],
            other_label_words=others,
            prompt=item.prompt.messages[-1]["content"],
        )
        reason = cleaned.reason
        text, text_b = (item.context, cleaned.text or None) if task.is_pair else (cleaned.text or None, None)
        if reason is None and task.is_pair and _same(cleaned.text, item.context or ""):
            reason = "copies_context"
        if reason is None:
            reason = dedup.check(pair_key(text or "", text_b))
        if reason is None:
            dedup.add(pair_key(text or "", text_b))
            summary.accepted += 1
        else:
            summary.rejected[reason] += 1
        row = {
            "round": round_no, "kind": kind, "gen_key": item.gen_key,
            "text": text, "text_b": text_b,
            "label": item.label, "origin": item.origin, "backend": llm.backend.provider, "model": llm.backend.model,
            "prompt_hash": item.prompt.hash, "raw_output": completion.text, "verdict": reason or "ok",
            "accepted": int(reason is None),
        }  # fmt: skip
        ctx.store.add_example(ctx.run_id, **row)
        ctx.reporter.example(row)
        finished += 1
        ctx.reporter.progress(step, finished, len(items))
    return summary


def in_order(results: Iterator[tuple[int, T]]) -> Iterator[tuple[int, T]]:
    """Re-order ``(index, value)`` pairs that arrive in any order into index order.

    Filtering decisions (near duplicates) depend on order, so handling results in index order makes a
    run's data the same however the backend schedules its calls, and a resumed run the same as an
    uninterrupted one. Raw outputs are cached the moment they arrive, so buffering loses nothing.
    """
    pending: dict[int, T] = {}
    nxt = 0
    for i, value in results:
        pending[i] = value
        while nxt in pending:
            yield nxt, pending.pop(nxt)
            nxt += 1


def _same(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return " ".join(s.casefold().split()).strip(" .!?")

    return norm(a) == norm(b)
