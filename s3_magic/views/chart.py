"""Round chart: validation, check (and test) accuracy per round as lines (token F1 for a QA run), training-set size
as bars, in inline SVG."""

from __future__ import annotations

from collections.abc import Sequence

from s3_magic.records import Round
from s3_magic.summaries import rounds_table
from s3_magic.views.base import View, esc

W, H, PAD = 420, 220, 36
#: (stats key, end label, colour); check is the held-out split every choice reads, validation the one the loop
#: extrapolates (optimistic), test only reported
SERIES = (("val_acc", "validation", "#1f77b4"), ("check_acc", "check", "#2ca02c"), ("test_acc", "test", "#ff7f0e"))
#: the same for a QA run: mean token F1 per split
F1_SERIES = (("val_f1", "validation", "#1f77b4"), ("check_f1", "check", "#2ca02c"), ("test_f1", "test", "#ff7f0e"))


def metric_of(rows: Sequence[Round]) -> tuple[str, tuple[tuple[str, str, str], ...]]:
    """The metric the rounds report and its series: ``("F1", F1_SERIES)`` when they carry F1 but no accuracy (a
    QA run), else ``("accuracy", SERIES)``."""
    qa = any(r.val_f1 is not None for r in rows) and all(r.val_acc is None for r in rows)
    return ("F1", F1_SERIES) if qa else ("accuracy", SERIES)


def spread(ys: Sequence[float], gap: float = 12.0) -> list[float]:
    """Label baselines as close to ``ys`` as possible but at least ``gap`` apart (so end labels never overlap)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    placed = [float(ys[i]) for i in order]
    for k in range(1, len(placed)):
        placed[k] = max(placed[k], placed[k - 1] + gap)
    shift = (sum(placed) - sum(ys[i] for i in order)) / max(len(placed), 1)  # centre the group on the points
    out = [0.0] * len(ys)
    for k, i in enumerate(order):
        out[i] = placed[k] - shift
    return out


class RoundChart(View):
    """Accuracy (token F1 for a QA run) and data size per evaluated round (as ``Session.rounds`` returns them);
    ``best`` (e.g. ``Session.best_round()``) is ringed on the check line (the validation line without a check
    split)."""

    css = "round-chart"

    def __init__(self, rows: Sequence[Round], best: int | None = None) -> None:
        self.metric, self.series = metric_of(rows)
        val = self.series[0][0]
        self.rows = [r for r in rows if getattr(r, val) is not None]
        self.best = best

    def to_text(self) -> str:
        return rounds_table(self.rows) if self.rows else "no evaluated rounds yet"

    def to_svg(self) -> str:
        rows, series = self.rows, self.series
        n = max(len(rows), 1)
        x = [PAD + (i + 0.5) * (W - 2 * PAD) / n for i in range(n)]
        accs = [a for r in rows for k, _, _ in series if (a := getattr(r, k)) is not None]
        lo, hi = min(accs, default=0.0), max(accs, default=1.0)
        lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
        hi = hi if hi > lo else lo + 0.1

        def y(v: float) -> float:
            return H - PAD - (v - lo) / (hi - lo) * (H - 2 * PAD)

        big = max((r.n_train or 0 for r in rows), default=0) or 1
        bar_w = (W - 2 * PAD) / n * 0.4
        svg = "xmlns='http://www.w3.org/2000/svg' font-size='11' font-family='sans-serif'"
        out = [f"<svg {svg} width='{W}' height='{H}'>"]
        for i, r in enumerate(rows):
            h = (r.n_train or 0) / big * (H - 2 * PAD)
            out.append(
                f"<rect x='{x[i] - bar_w / 2:.1f}' y='{H - PAD - h:.1f}' width='{bar_w:.1f}' "
                f"height='{h:.1f}' fill='#ddd'><title>{r.n_train} training examples</title></rect>"
            )
            out.append(f"<text x='{x[i]:.1f}' y='{H - PAD + 14}' text-anchor='middle'>r{r.round}</text>")
            out.append(
                f"<text x='{x[i]:.1f}' y='{H - PAD - h - 3:.1f}' text-anchor='middle' fill='#888'>"
                f"{r.n_train or 0}</text>"
            )
        ends = []
        for key, name, color in series:
            pts = [(x[i], y(a), a) for i, r in enumerate(rows) if (a := getattr(r, key)) is not None]
            if not pts:
                continue
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts)
            out.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>")
            out += [f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3' fill='{color}'/>" for px, py, _ in pts]
            ends.append((pts[-1], name, color))
        best = next((i for i, r in enumerate(rows) if r.round == self.best), None)
        if best is not None:
            key, by, color = series[1] if getattr(rows[best], series[1][0]) is not None else series[0]
            out.append(
                f"<circle class='best' cx='{x[best]:.1f}' cy='{y(getattr(rows[best], key)):.1f}' r='6' fill='none' "
                f"stroke='{color}' stroke-width='1.5'><title>best round by {by} {self.metric}</title></circle>"
            )
            out.append(f"<text x='{x[best]:.1f}' y='{H - PAD + 26}' text-anchor='middle' fill='{color}'>best</text>")
        for ((px, _, last), name, color), ly in zip(ends, spread([p[1] for p, _, _ in ends]), strict=True):
            out.append(f"<text x='{px + 5:.1f}' y='{ly:.1f}' fill='{color}'>{esc(name)} {100 * last:.1f}%</text>")
        for v in (lo, hi):
            out.append(f"<text x='2' y='{y(v) + 4:.1f}'>{100 * v:.0f}%</text>")
        title = f"{self.metric} per round (bars: training examples)"
        out.append(f"<text x='{W / 2}' y='14' text-anchor='middle'>{title}</text>")
        out.append("</svg>")
        return "".join(out)

    def to_html(self) -> str:
        return self.to_svg() if self.rows else "<p>no evaluated rounds yet</p>"
