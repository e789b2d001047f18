"""A Reporter that shows the engine's progress while it runs: an ipywidgets progress bar with the newest
samples beneath it inside a kernel, plain text lines elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s3_magic.engine.context import Reporter
from s3_magic.views.base import esc, pair_text, widgets_enabled


class ProgressView(Reporter):
    """Progress bar + live sample list (``live``), or one text line per finished step (printed by ``out``)."""

    def __init__(self, live: bool | None = None, max_samples: int = 6, out: Callable[[str], None] = print) -> None:
        self.live = widgets_enabled() if live is None else live
        self.max_samples, self.out = max_samples, out
        self.samples: list[dict[str, Any]] = []
        self.messages: list[str] = []
        self.steps: dict[str, tuple[int, int]] = {}
        self.controls: dict[str, Any] = {}

    def _ensure_widgets(self) -> dict[str, Any]:
        if not self.controls:
            import ipywidgets as w
            from IPython.display import display

            self.controls = {
                "bar": w.IntProgress(value=0, min=0, max=1, description="starting"),
                "label": w.Label(),
                "status": w.HTML(),
                "samples": w.HTML(),
            }
            c = self.controls
            box = w.VBox([w.HBox([c["bar"], c["label"]]), c["status"], c["samples"]])
            box.add_class("s3-progress")
            display(box)
        return self.controls

    def progress(self, step: str, done: int, total: int) -> None:
        before = self.steps.get(step, (0, 0))
        self.steps[step] = (done, total)
        if self.live:
            c = self._ensure_widgets()
            c["bar"].description, c["bar"].max, c["bar"].value = step[:20], max(total, 1), done
            c["label"].value = f"{done}/{total}"
        elif done >= total and before[0] < total:
            self.out(f"{step}: {done}/{total}")

    def example(self, row: dict[str, Any]) -> None:
        self.samples.append(row)
        shown = [r for r in self.samples if r.get("accepted")][-self.max_samples :]
        if self.live:
            items = "".join(f"<li><b>{esc(r['label'])}</b> {esc(pair_text(r))}</li>" for r in shown)
            n_ok = sum(1 for r in self.samples if r.get("accepted"))
            self._ensure_widgets()["samples"].value = f"<p>{n_ok} accepted so far; newest:</p><ul>{items}</ul>"
        elif row.get("accepted") and sum(1 for r in self.samples if r.get("accepted")) <= self.max_samples:
            self.out(f"  + [{row['label']}] {pair_text(row)}")

    def message(self, text: str) -> None:
        self.messages.append(text)
        if self.live:
            self._ensure_widgets()["status"].value = esc(text)
        else:
            self.out(text)
