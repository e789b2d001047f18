"""Plain-text and Markdown summaries of a run: the round table, rejections, accuracy phrases, the final model and
the runs of a folder (the CLI prints them; the views and the dataset card use them too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.llm.prices import format_usd
from s3_magic.records import Round, RunSummary

COLUMNS = (
    ("round", "round"), ("n_train", "train"), ("new_accepted", "new"), ("rejected", "rejected"),
    ("val_acc", "val acc"), ("check_acc", "check acc"), ("test_acc", "test acc"),
    ("val_f1", "val F1"), ("check_em", "check EM"), ("check_f1", "check F1"), ("test_em", "test EM"),
    ("test_f1", "test F1"), ("n_errors", "errors"),
    ("llm_calls", "LLM calls"), ("cache_hits", "cached"), ("tokens", "tokens"), ("completion_tok_s", "tok/s"),
    ("cost_usd", "cost"),
    ("seconds", "seconds"),
)  # fmt: skip


#: a QA task's scores, shown instead of the accuracies
QA_SCORES = ("val_f1", "check_em", "check_f1", "test_em", "test_f1")
#: columns shown only when some round has a value (a check split, a test set, a QA score, completion tokens/s)
OPTIONAL = ("check_acc", "test_acc", *QA_SCORES, "completion_tok_s")
#: columns shown only when the rounds are priced (``Session.rounds`` prices them; the store's rounds are not)
PRICED = ("cost_usd",)


def round_cells(row: Round) -> dict[str, str]:
    """One round's stats as display strings."""
    return {
        "round": str(row.round),
        "n_train": _int(row.n_train),
        "new_accepted": _int(row.new_accepted),
        "rejected": _int(sum(row.rejected.values())),
        "val_acc": _pct(row.val_acc),
        "check_acc": _pct(row.check_acc),
        "test_acc": _pct(row.test_acc),
        **{k: _pct(getattr(row, k)) for k in QA_SCORES},
        "n_errors": _int(row.n_errors),
        "llm_calls": _int(row.llm_calls),
        "cache_hits": _int(row.cache_hits),
        "tokens": _int(row.tokens),
        "completion_tok_s": "" if row.completion_tok_s is None else f"{row.completion_tok_s:.0f}",
        "cost_usd": format_usd(row.cost_usd) if row.priced else "",
        "seconds": f"{row.seconds:.1f}",
    }


def rounds_table(rows: Sequence[Round]) -> str:
    """A fixed-width table of the per-round stats (check and test accuracy only where some round has them)."""
    cols = [(k, h) for k, h in COLUMNS if k in shown_columns(rows)]
    cells = [round_cells(r) for r in rows]
    widths = {k: max([len(h)] + [len(c[k]) for c in cells]) for k, h in cols}
    lines = ["  ".join(h.rjust(widths[k]) for k, h in cols)]
    lines.append("  ".join("-" * widths[k] for k, _ in cols))
    lines += ["  ".join(c[k].rjust(widths[k]) for k, _ in cols) for c in cells]
    return "\n".join(lines)


def shown_columns(rows: Sequence[Round]) -> set[str]:
    """The :data:`COLUMNS` a table of ``rows`` shows: the optional ones some round has, the cost where priced,
    and no accuracy column for a QA run."""
    shown = {k for k, _ in COLUMNS if k not in OPTIONAL + PRICED}
    shown |= {k for k in OPTIONAL if any(getattr(r, k) is not None for r in rows)}
    shown |= {k for k in PRICED if any(r.priced for r in rows)}
    if any(r.val_f1 is not None for r in rows):
        shown.discard("val_acc")
    return shown


def rejections(rows: Sequence[Round]) -> dict[str, int]:
    """Examples the filters rejected in ``rows``, by reason, most first."""
    total: dict[str, int] = {}
    for r in rows:
        for reason, n in r.rejected.items():
            total[reason] = total.get(reason, 0) + n
    return dict(sorted(total.items(), key=lambda x: -x[1]))


def rejection_summary(rows: Sequence[Round]) -> str:
    total = rejections(rows)
    if not total:
        return "filters rejected nothing"
    return "rejected by the filters: " + ", ".join(f"{k} {v}" for k, v in total.items())


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _int(x: Any) -> str:
    return "" if x is None or x == "" else f"{int(x):,}"


def accuracy_phrase(row: Round) -> str:
    """A round's accuracy for a heading: check accuracy first (the honest one), validation beside it (a QA
    round's F1)."""
    if row.val_f1 is not None:
        val = _pct(row.val_f1)
        if row.check_f1 is None:
            return f"validation F1 {val}"
        return f"check F1 {_pct(row.check_f1)} (validation {val}, optimistic: the loop extrapolated those)"
    val = _pct(row.val_acc) or "—"
    if row.check_acc is None:
        return f"validation accuracy {val}"
    return f"check accuracy {_pct(row.check_acc)} (validation {val}, optimistic: the loop extrapolated those)"


def final_summary(result: dict[str, Any]) -> str:
    """A few lines on the final model (the dict ``Session.final`` returns and stores)."""
    metric, score = ("f1", "F1") if "check_f1" in result else ("acc", "accuracy")
    if result.get(f"check_{metric}") is None:
        acc = "no check split, so nothing to choose the recipe by"
    else:
        acc = f"check {score} {_pct(result[f'check_{metric}'])}"
    if result.get(f"test_{metric}") is not None:
        acc += f", test {_pct(result[f'test_{metric}'])} (report only)"
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
        lines.append(f"recipes tried, check {score}: " + ", ".join(
            f"{c.get('recipe')} {_pct(c.get(f'check_{metric}')) or '—'}" for c in cands))  # fmt: skip
    if result.get("path"):
        auto = "AutoModelForQuestionAnswering" if metric == "f1" else "AutoModelForSequenceClassification"
        lines.append(f"saved to {result['path']} (load it with {auto}.from_pretrained)")
    else:
        lines.append("not saved: this student cannot be saved as a model folder (student.mode finetune and qa can)")
    return "\n".join(lines)


def rounds_markdown(rows: Sequence[Round]) -> str:
    """The per-round table as Markdown (for dataset cards): data size, accuracies, rejections."""
    cols = [("round", "round"), ("n_train", "train"), ("new_accepted", "new"), ("rejected", "rejected"),
            ("val_acc", "validation acc"), ("check_acc", "check acc"), ("test_acc", "test acc"),
            ("val_f1", "validation F1"), ("check_f1", "check F1"), ("test_f1", "test F1")]  # fmt: skip
    cols = [(k, h) for k, h in cols if k in shown_columns(rows)]
    cells = [round_cells(r) for r in rows]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "| " + " | ".join("---:" for _ in cols) + " |"]
    lines += ["| " + " | ".join(c[k] for k, _ in cols) + " |" for c in cells]
    return "\n".join(lines)


def runs_table(runs: Sequence[RunSummary]) -> str:
    """A fixed-width table of a folder's runs, newest first (the columns of :attr:`RunSummary.COLUMNS`)."""
    cols = RunSummary.COLUMNS
    rows = [{k: "" if v is None else str(v) for k, v in r.to_dict().items()} for r in runs]
    widths = {k: max([len(h)] + [len(r[k]) for r in rows]) for k, h in cols}
    numbers = {"last_round", "accepted"}

    def line(cells: dict[str, str]) -> str:
        return "  ".join(cells[k].rjust(widths[k]) if k in numbers else cells[k].ljust(widths[k]) for k, _ in cols)

    return "\n".join([line(dict(cols)), *(line(r) for r in rows)])
