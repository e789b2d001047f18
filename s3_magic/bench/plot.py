"""The accuracy-per-round chart of a benchmark, drawn with matplotlib's Agg canvas (no display, no global backend
change)."""

from __future__ import annotations

import io
from typing import Any

from s3_magic.bench.protocol import ROUND_ARMS
from s3_magic.errors import ConfigError


def plot_png(results: dict[str, Any]) -> bytes:
    """PNG bytes: test accuracy after each round for the S3 arms (± std over seeds), the other arms as lines."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the benchmark plot needs matplotlib: pip install 's3-magic[bench]'") from None

    arms = results["arms"]
    rounds = [len(arms[a]["per_round"]) for a in ROUND_ARMS if a in arms]
    last = max([n - 1 for n in rounds] + [1])
    fig = Figure(figsize=(9, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, entry in arms.items():
        if name in ROUND_ARMS:
            rows = [r for r in entry["per_round"] if r["test_acc_mean"] is not None]
            xs = [r["round"] for r in rows]
            ys = [100 * r["test_acc_mean"] for r in rows]
            errs = [100 * (r["test_acc_std"] or 0.0) for r in rows]
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=entry["title"])
        else:
            acc = entry["summary"]["test_acc_mean"]
            if acc is not None:
                ax.plot([0, last], [100 * acc] * 2, linestyle="--", label=entry["title"])
    ax.set_xlabel("round (0 = seed data)")
    ax.set_ylabel("test accuracy, %")
    ax.set_xticks(range(last + 1))
    seeds = len(results.get("seeds") or [])
    ax.set_title(f"SST-2, profile {results['protocol']['name']}, mean over {seeds} seed(s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
