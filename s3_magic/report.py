"""Plain-text summaries of a run (the CLI prints them; notebooks use them where no widget front end exists)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = (
    ("round", "round"), ("n_train", "train"), ("new_accepted", "new"), ("rejected", "rejected"),
    ("val_acc", "val acc"), ("test_acc", "test acc"), ("n_errors", "errors"), ("llm_calls", "LLM calls"),
    ("cache_hits", "cached"), ("tokens", "tokens"), ("seconds", "seconds"),
)  # fmt: skip


def round_cells(row: dict[str, Any]) -> dict[str, str]:
    """One round's stats as display strings."""
    rejected = row.get("rejected") or {}
    seconds = sum(float(row.get(k) or 0) for k in ("data_seconds", "train_seconds", "eval_seconds"))
    values = {
        "round": str(row["round"]),
        "n_train": _int(row.get("n_train")),
        "new_accepted": _int(row.get("new_accepted")),
        "rejected": _int(sum(rejected.values())) if isinstance(rejected, dict) else "",
        "val_acc": _pct(row.get("val_acc")),
        "test_acc": _pct(row.get("test_acc")),
        "n_errors": _int(row.get("n_errors")),
        "llm_calls": _int(row.get("llm_calls")),
        "cache_hits": _int(row.get("cache_hits")),
        "tokens": _int((row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)),
        "seconds": f"{seconds:.1f}",
    }
    return values


def rounds_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table of the per-round stats (test accuracy only if a test set was given)."""
    has_test = any(r.get("test_acc") is not None for r in rows)
    cols = [(k, h) for k, h in COLUMNS if k != "test_acc" or has_test]
    cells = [round_cells(r) for r in rows]
    widths = {k: max([len(h)] + [len(c[k]) for c in cells]) for k, h in cols}
    lines = ["  ".join(h.rjust(widths[k]) for k, h in cols)]
    lines.append("  ".join("-" * widths[k] for k, _ in cols))
    lines += ["  ".join(c[k].rjust(widths[k]) for k, _ in cols) for c in cells]
    return "\n".join(lines)


def rejection_summary(rows: Sequence[dict[str, Any]]) -> str:
    total: dict[str, int] = {}
    for r in rows:
        for reason, n in (r.get("rejected") or {}).items():
            total[reason] = total.get(reason, 0) + n
    if not total:
        return "filters rejected nothing"
    return "rejected by the filters: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items(), key=lambda x: -x[1]))


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _int(x: Any) -> str:
    return "" if x is None or x == "" else f"{int(x):,}"
