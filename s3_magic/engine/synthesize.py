"""Turning planned prompts into stored, filtered synthetic examples — shared by seed synthesis,
error extrapolation and the ZeroGen baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from s3_magic.clean import Deduper, clean_text
from s3_magic.engine.context import RunContext
from s3_magic.llm.base import Prompt
from s3_magic.records import ExampleKind

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


#: ``(item, raw output) -> (text, text_b, reason)``: the example an LLM output makes (``reason`` None) or why
#: it is rejected; the deduper's checks come after it
Cleaner = Callable[[PlannedItem, str], tuple[str | None, str | None, str | None]]


def pair_key(text: str, text_b: str | None) -> str:
    return text if text_b is None else f"{text} || {text_b}"


def dedup_key(ctx: RunContext, text: str | None, text_b: str | None) -> str:
    """What the deduper compares for an example: its text (a pair's two texts together); a QA example's question
    alone (its context is shared by every question on it, so it would make them all near duplicates)."""
    if ctx.task.is_qa:
        return text_b or ""
    return pair_key(text or "", text_b)


def real_keys(ctx: RunContext) -> dict[str, list[str]]:
    """The dedup keys of the real examples, by part (``validation``, ``check``, ``test``; see :func:`dedup_key`)."""
    qa = ctx.data.qa
    if qa is not None:
        parts = {"validation": qa.validation, "check": qa.check, "test": qa.test}
        return {name: [q.question for q in part] for name, part in parts.items()}
    data = ctx.data
    parts_c = {"validation": data.validation, "check": data.check, "test": data.test}
    return {name: [pair_key(e.text, e.text_b) for e in part] for name, part in parts_c.items()}


def build_deduper(ctx: RunContext) -> Deduper:
    """A deduper that knows the real examples (never to be copied) and the run's accepted examples.

    The check texts are used only to keep copies of them out (a copy would flatter the check estimate); the
    test texts are used here only to keep copies of them out of the training data, and not at all
    when ``filters.reject_test_copies`` is off.
    """
    dedup = Deduper(threshold=ctx.task.filters.near_duplicate)
    keys = real_keys(ctx)
    dedup.add_reference(keys["validation"], "validation")
    # a copy of a check example in the training data would flatter the check estimate
    dedup.add_reference(keys["check"], "check")
    if keys["test"] and ctx.task.filters.reject_test_copies:
        dedup.add_reference(keys["test"], "test")
    for row in ctx.store.examples(ctx.run_id, accepted=True):
        if row.text is not None:
            dedup.add(dedup_key(ctx, row.text, row.text_b))
    return dedup


def text_cleaner(ctx: RunContext) -> Cleaner:
    """The cleaner of classification examples: :func:`~s3_magic.clean.clean_text`, and on a pair task the
    item's context as the first text (a second text that copies it is rejected)."""
    task = ctx.task
    label_words = {label.name: label.prompt_word for label in task.labels}

    def clean(item: PlannedItem, raw: str) -> tuple[str | None, str | None, str | None]:
        others = [w for name, w in label_words.items() if name != item.label]
        cleaned = clean_text(
            raw,
            min_words=task.filters.min_words,
            max_words=task.filters.max_words,
            expected_label_word=label_words[item.label],
            other_label_words=others,
            prompt=item.prompt.messages[-1]["content"],
        )
        reason = cleaned.reason
        if not task.is_pair:
            return cleaned.text or None, None, reason
        if reason is None and _same(cleaned.text, item.context or ""):
            reason = "copies_context"
        return item.context, cleaned.text or None, reason

    return clean


def run_items(
    ctx: RunContext,
    items: Sequence[PlannedItem],
    *,
    round_no: int,
    kind: str,
    step: str,
    cleaner: Cleaner | None = None,
) -> SynthesisSummary:
    """Generate, clean (``cleaner``, default :func:`text_cleaner`), filter and store every item not stored yet;
    store each as it arrives."""
    summary = SynthesisSummary(planned=len(items))
    done = ctx.store.gen_keys(ctx.run_id)
    todo = [it for it in items if it.gen_key not in done]
    summary.already_done = len(items) - len(todo)
    if not todo:
        return summary
    if ctx.deduper is None:
        ctx.deduper = build_deduper(ctx)
    dedup = ctx.deduper
    clean = cleaner or text_cleaner(ctx)
    llm = ctx.llm
    finished = summary.already_done
    ctx.reporter.progress(step, finished, len(items))
    for i, completion in in_order(llm.generate([it.prompt for it in todo], step=f"r{round_no}:{step}")):
        item = todo[i]
        text, text_b, reason = clean(item, completion.text)
        key = dedup_key(ctx, text, text_b)
        if reason is None:
            reason = dedup.check(key)
        if reason is None:
            dedup.add(key)
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


#: with a target of accepted examples, ZeroGen gives up after this many prompts per wanted example
ZEROGEN_MAX_PROMPTS_PER_EXAMPLE = 4


def synthesize_until(
    ctx: RunContext,
    plan: Callable[[int], list[PlannedItem]],
    accepted: int,
    kind: ExampleKind,
    cleaner: Cleaner | None = None,
) -> SynthesisSummary:
    """Round 0 prompts from ``plan(size)``, taken in order until ``accepted`` examples pass the filters (at most
    ``ZEROGEN_MAX_PROMPTS_PER_EXAMPLE`` prompts per wanted example).

    Each chunk is as large as the number still missing, so no chunk overshoots the target, and the chunks depend
    only on stored verdicts: a resumed run replays the same chunks.
    """
    pool = plan(accepted * ZEROGEN_MAX_PROMPTS_PER_EXAMPLE)
    total = SynthesisSummary(planned=0)
    used = 0
    while used < len(pool):
        ok = {row.gen_key for row in ctx.store.examples(ctx.run_id, round_no=0, kind=kind, accepted=True)}
        missing = accepted - sum(item.gen_key in ok for item in pool[:used])
        if missing <= 0:
            break
        chunk = pool[used : used + missing]
        part = run_items(ctx, chunk, round_no=0, kind=kind, step=kind, cleaner=cleaner)
        total.planned += part.planned
        total.already_done += part.already_done
        total.accepted += part.accepted
        total.rejected.update(part.rejected)
        used += len(chunk)
    return total


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
