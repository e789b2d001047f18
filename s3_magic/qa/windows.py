"""Token windows over a context, without a tokenizer: where an answer's tokens are, the best span of a model's
start/end scores over all windows of a question, and trimming a training context to a window around its answer.

A window's ``offsets`` has one entry per token: the token's ``(start, end)`` characters in the context, or None
for tokens that are not context (special tokens, the question).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence

from s3_magic.qa.records import QAPrediction

Offsets = Sequence[tuple[int, int] | None]


def answer_tokens(offsets: Offsets, start: int, end: int, cls_index: int = 0) -> tuple[int, int]:
    """The first and last token of the answer ``context[start:end]`` in this window, or ``(cls_index,
    cls_index)`` when the window does not hold the whole answer (the standard label for such windows)."""
    context = [k for k, off in enumerate(offsets) if off is not None]
    if not context:
        return cls_index, cls_index
    first, last = context[0], context[-1]
    if offsets[first][0] > start or offsets[last][1] < end:  # type: ignore[index]
        return cls_index, cls_index
    s = first
    while s <= last and (offsets[s] is None or offsets[s][1] <= start):  # type: ignore[index]
        s += 1
    e = last
    while e >= s and (offsets[e] is None or offsets[e][0] >= end):  # type: ignore[index]
        e -= 1
    if e < s:  # the answer lies between tokens (white space only)
        return cls_index, cls_index
    return s, e


def best_span(
    windows: Sequence[tuple[Sequence[float], Sequence[float], Offsets]],
    context: str,
    max_answer_length: int = 30,
    n_best: int = 20,
) -> QAPrediction:
    """The highest-scoring span (start score + end score) over all ``(start_scores, end_scores, offsets)``
    windows of one question: both ends on context tokens, end not before start, at most ``max_answer_length``
    tokens. The ``n_best`` highest start and end scores of each window are paired (the standard search); if
    none of those pairs is a valid span, every pair is tried. The text is cut from ``context`` by the offsets."""
    best = _search(windows, max_answer_length, n_best) or _search(windows, max_answer_length, None)
    if best is None:
        return QAPrediction("", 0, float("-inf"))
    score, lo, hi = best
    return QAPrediction(context[lo:hi], lo, score)


def _search(
    windows: Sequence[tuple[Sequence[float], Sequence[float], Offsets]], max_len: int, n_best: int | None
) -> tuple[float, int, int] | None:
    best: tuple[float, int, int] | None = None
    for starts, ends, offsets in windows:
        s_idx = _top(starts, offsets, n_best)
        e_idx = _top(ends, offsets, n_best)
        for s in s_idx:
            for e in e_idx:
                if e < s or e - s + 1 > max_len:
                    continue
                score = float(starts[s]) + float(ends[e])
                if best is None or score > best[0]:
                    best = (score, offsets[s][0], offsets[e][1])  # type: ignore[index]
    return best


def _top(scores: Sequence[float], offsets: Offsets, n: int | None) -> list[int]:
    """Indices of the ``n`` highest scores on context tokens (all context tokens when ``n`` is None)."""
    candidates = [k for k in range(len(scores)) if offsets[k] is not None]
    if n is None or n >= len(candidates):
        return candidates
    return heapq.nlargest(n, candidates, key=lambda k: scores[k])


def trim_around(
    token_offsets: Sequence[tuple[int, int]], start: int, end: int, window: int, rng: random.Random
) -> tuple[int, int] | None:
    """The characters ``(lo, hi)`` of ``window`` consecutive context tokens (``token_offsets``: the context's
    tokens alone) that hold the answer ``[start, end)``, the answer's place in them drawn from ``rng``; None when
    the context already fits in ``window`` tokens or the answer alone is longer."""
    n = len(token_offsets)
    if n <= window:
        return None
    first = next((k for k, (_, e) in enumerate(token_offsets) if e > start), n - 1)
    last = max((k for k, (s, _) in enumerate(token_offsets) if s < end), default=first)
    if last - first + 1 > window:
        return None
    lo = rng.randint(max(0, last - window + 1), min(first, n - window))
    return token_offsets[lo][0], token_offsets[lo + window - 1][1]
