"""Plain-text summaries of a run (the CLI prints them; notebooks use them where no widget front end exists)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.llm.prices import format_usd

COLUMNS = (
    ("round", "round"), ("n_train", "train"), ("new_accepted", "new"), ("rejected", "rejected"),
    ("val_acc", "val acc"), ("check_acc", "check acc"), ("test_acc", "test acc"), ("n_errors", "errors"),
    ("llm_calls", "LLM calls"), ("cache_hits", "cached"), ("tokens", "tokens"), ("cost_usd", "cost"),
    ("seconds", "seconds"),
)  # fmt: skip


#: columns shown only when some round has a value (a check split, a test set)
OPTIONAL = ("check_acc", "test_acc")
#: columns shown only when the rows carry the key (``Session.rounds`` adds ``cost_usd``; stored rows lack it)
KEYED = ("cost_usd",)


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
        "check_acc": _pct(row.get("check_acc")),
        "test_acc": _pct(row.get("test_acc")),
        "n_errors": _int(row.get("n_errors")),
        "llm_calls": _int(row.get("llm_calls")),
        "cache_hits": _int(row.get("cache_hits")),
        "tokens": _int((row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)),
        "cost_usd": format_usd(row["cost_usd"]) if "cost_usd" in row else "",
        "seconds": f"{seconds:.1f}",
    }
    return values


def rounds_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table of the per-round stats (check and test accuracy only where some round has them)."""
    shown = {k for k in OPTIONAL if any(r.get(k) is not None for r in rows)}
    shown |= {k for k in KEYED if any(k in r for r in rows)}
    cols = [(k, h) for k, h in COLUMNS if k not in OPTIONAL + KEYED or k in shown]
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


def accuracy_phrase(row: dict[str, Any]) -> str:
    """A round's accuracy for a heading: check accuracy first (the honest one), validation beside it."""
    val = _pct(row.get("val_acc")) or "—"
    if row.get("check_acc") is None:
        return f"validation accuracy {val}"
    return f"check accuracy {_pct(row['check_acc'])} (validation {val}, optimistic: the loop extrapolated those)"


def final_summary(result: dict[str, Any]) -> str:
    """A few lines on the final model (the dict ``Session.final`` returns and stores)."""
    if result.get("check_acc") is None:
        acc = "no check split, so nothing to choose the recipe by"
    else:
        acc = f"check accuracy {_pct(result['check_acc'])}"
    if result.get("test_acc") is not None:
        acc += f", test {_pct(result['test_acc'])} (report only)"
    refit = " (the check examples added after choosing)" if result.get("refit_with_check") else ""
    lines = [
        f"final model: recipe {result.get('recipe')} on round {result.get('round')}'s data + the real labels; {acc}",
        f"trained on {_int(result.get('n_synthetic')) or 0} synthetic + {_int(result.get('n_real')) or 0} real "
        f"examples{refit}, {float(result.get('seconds') or 0):.1f} s",
    ]
    if result.get("left_out"):
        lines.append(
            f"left out {len(result['left_out']):,} synthetic examples that a student trained on the real labels "
            "labels otherwise (their ids are in the stored result)"
        )
    cands = result.get("candidates") or []
    if len(cands) > 1:
        lines.append("recipes tried, check accuracy: " + ", ".join(
            f"{c.get('recipe')} {_pct(c.get('check_acc')) or '—'}" for c in cands))  # fmt: skip
    if result.get("path"):
        lines.append(f"saved to {result['path']} (load it with AutoModelForSequenceClassification.from_pretrained)")
    else:
        lines.append("not saved: this student cannot be saved as a model folder (student.mode: finetune can)")
    return "\n".join(lines)


def rounds_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The per-round table as Markdown (for dataset cards): data size, accuracies, rejections."""
    cols = [("round", "round"), ("n_train", "train"), ("new_accepted", "new"), ("rejected", "rejected"),
            ("val_acc", "validation acc"), ("check_acc", "check acc"), ("test_acc", "test acc")]  # fmt: skip
    cols = [(k, h) for k, h in cols if k not in OPTIONAL or any(r.get(k) is not None for r in rows)]
    cells = [round_cells(r) for r in rows]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "| " + " | ".join("---:" for _ in cols) + " |"]
    lines += ["| " + " | ".join(c[k] for k, _ in cols) + " |" for c in cells]
    return "\n".join(lines)
