"""The accuracy-per-round chart of a benchmark, drawn with matplotlib's Agg canvas (no display, no global backend
change)."""

from __future__ import annotations

import io
from typing import Any

from s3_magic import ConfigError
from s3_magic_bench.protocol import ROUND_ARMS


def plot_png(results: dict[str, Any]) -> bytes:
    """PNG bytes: test accuracy after each round for the S3 arms (± std over seeds, solid) with their check
    accuracy (dotted, same colour), the other arms' test accuracy as dashed lines."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the benchmark plot needs matplotlib: pip install matplotlib") from None

    arms = results["arms"]
    rounds = [len(arms[a]["per_round"]) for a in ROUND_ARMS if a in arms]
    last = max([n - 1 for n in rounds] + [1])
    fig = Figure(figsize=(9, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles: list[Any] = []  # in drawing order (matplotlib puts error bars after lines)
    for name, entry in arms.items():
        if name in ROUND_ARMS:
            rows = [r for r in entry["per_round"] if r["test_acc_mean"] is not None]
            xs = [r["round"] for r in rows]
            ys = [100 * r["test_acc_mean"] for r in rows]
            errs = [100 * (r["test_acc_std"] or 0.0) for r in rows]
            line = ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=f"{entry['title']}: test")
            handles.append(line)
            checked = [r for r in entry["per_round"] if r.get("check_acc_mean") is not None]
            if checked:
                handles += ax.plot([r["round"] for r in checked], [100 * r["check_acc_mean"] for r in checked],
                                   marker="s", linestyle=":", color=line[0].get_color(),
                                   label=f"{entry['title']}: check")  # fmt: skip
        else:
            acc = entry["summary"]["test_acc_mean"]
            if acc is not None:
                handles += ax.plot([0, last], [100 * acc] * 2, linestyle="--", label=f"{entry['title']}: test")
    ax.set_xlabel("round (0 = seed data)")
    ax.set_ylabel("accuracy, %")
    ax.set_xticks(range(last + 1))
    seeds = len(results.get("seeds") or [])
    title = results["protocol"].get("task_title", "SST-2")
    ax.set_title(f"{title}, profile {results['protocol']['name']}, mean over {seeds} seed(s)")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
