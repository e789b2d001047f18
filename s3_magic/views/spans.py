"""Answer spans in a context: the context trimmed around them with the gold and the predicted span marked, as
HTML (text escaped) and as plain text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from s3_magic.views.base import esc

Span = tuple[int, int]
GOLD, PRED = "gold", "pred"
#: mark colours: the gold span, the predicted span, and text in both
MARKS = {GOLD: "#c8f2c2", PRED: "#ffd8a8", GOLD + PRED: "#a9dcf5"}
TITLES = {GOLD: "gold answer", PRED: "predicted", GOLD + PRED: "gold and predicted"}
#: characters of context shown on each side of the marked spans
PAD = 120


def find_span(context: str, text: str, start: int | None = None) -> Span | None:
    """``text`` as a span of ``context``: at ``start`` when it is there, else its first occurrence (None: absent)."""
    if not text:
        return None
    if start is not None and context[start : start + len(text)] == text:
        return start, start + len(text)
    found = context.find(text)
    return (found, found + len(text)) if found >= 0 else None


def windows(context: str, spans: Iterable[Span], pad: int = PAD) -> list[Span]:
    """Parts of ``context`` to show: ``pad`` characters around each span, cut at white space, overlaps merged
    (the whole context when it is at most ``3 * pad`` characters, its start when there is no span)."""
    spans = sorted(spans)
    if not spans:
        return [(0, len(context) if len(context) <= 2 * pad else _word_edge(context, 2 * pad, 1))]
    if len(context) <= 3 * pad:
        return [(0, len(context))]
    out: list[Span] = []
    for s, e in spans:
        lo, hi = _word_edge(context, max(0, s - pad), -1), _word_edge(context, min(len(context), e + pad), 1)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _word_edge(text: str, i: int, way: int) -> int:
    """``i`` moved outwards (``way`` -1: left, 1: right) to the nearest white space, at most 20 characters."""
    for step in range(20):
        j = i + way * step
        if j <= 0 or j >= len(text):
            return max(0, min(j, len(text)))
        if text[j].isspace():
            return j + (1 if way < 0 else 0)
    return i


def _pieces(context: str, window: Span, marks: dict[str, list[Span]]) -> list[tuple[str, str]]:
    """``context[window]`` cut where a mark starts or ends: (mark state, text) pieces, equal neighbours joined."""
    lo, hi = window
    cuts = {lo, hi} | {min(max(p, lo), hi) for spans in marks.values() for s, e in spans for p in (s, e)}
    out: list[tuple[str, str]] = []
    for a, b in pairwise(sorted(cuts)):
        state = "".join(name for name in (GOLD, PRED) if any(s <= a and b <= e for s, e in marks.get(name, [])))
        if out and out[-1][0] == state:
            out[-1] = (state, out[-1][1] + context[a:b])
        else:
            out.append((state, context[a:b]))
    return out


def _mark(state: str, text: str) -> str:
    """Escaped ``text``, in a ``<mark>`` with the classes and colour of ``state`` when it is in a span."""
    if not state:
        return esc(text)
    classes = " ".join(f"s3-{name}" for name in (GOLD, PRED) if name in state)
    return f"<mark class='{classes}' style='background:{MARKS[state]}' title='{TITLES[state]}'>{esc(text)}</mark>"


def marked_passage(context: str, gold: Sequence[Span], pred: Span | None, pad: int = PAD) -> str:
    """HTML of ``context`` trimmed around the spans, gold in ``<mark class='s3-gold'>``, the prediction in
    ``<mark class='s3-pred'>`` (both classes where they overlap); all text escaped."""
    marks = {GOLD: list(gold), PRED: [pred] if pred else []}
    parts, shown = [], windows(context, [*gold, *([pred] if pred else [])], pad)
    for window in shown:
        parts.append("".join(_mark(state, text) for state, text in _pieces(context, window, marks)).strip())
    return _ellipses(context, shown, parts)


def marked_text(context: str, gold: Sequence[Span], pred: Span | None, pad: int = PAD) -> str:
    """Plain-text form of :func:`marked_passage`: gold in «…», the prediction in ⟨…⟩."""
    marks = {GOLD: list(gold), PRED: [pred] if pred else []}
    wrap = {"": "{}", GOLD: "«{}»", PRED: "⟨{}⟩", GOLD + PRED: "«⟨{}⟩»"}
    shown = windows(context, [*gold, *([pred] if pred else [])], pad)
    parts = ["".join(wrap[state].format(t) for state, t in _pieces(context, window, marks)) for window in shown]
    return " ".join(_ellipses(context, shown, [p.strip() for p in parts]).split())


def _ellipses(context: str, shown: Sequence[Span], parts: Sequence[str]) -> str:
    """The shown parts joined by "…", with "…" where the context goes on before the first or after the last."""
    lead = "… " if shown and shown[0][0] > 0 else ""
    return lead + " … ".join(parts) + (" …" if shown and shown[-1][1] < len(context) else "")


def legend() -> str:
    gold, pred = MARKS[GOLD], MARKS[PRED]
    return (
        f"<mark class='s3-gold' style='background:{gold}'>gold answer</mark> "
        f"<mark class='s3-pred' style='background:{pred}'>predicted</mark>"
    )


def example_passage(row: Mapping[str, Any], html: bool = True, pad: int = PAD) -> str:
    """A synthetic QA example's context trimmed around its answer, the answer marked as gold."""
    context = row.get("text") or ""
    span = find_span(context, row.get("label") or "", (row.get("origin") or {}).get("answer_start"))
    spans = [span] if span else []
    return marked_passage(context, spans, None, pad) if html else marked_text(context, spans, None, pad)
