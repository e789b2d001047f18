"""Rationale editor: one text box per label (one rationale per line); saving replaces that label's rationales."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s3_magic.views.base import View, esc

SaveFn = Callable[[str, list[str]], None]


class RationaleEditor(View):
    """Rationales by label; ``on_save(label, texts)`` stores an edited list (e.g. ``Session.set_rationales``)."""

    css = "rationale-editor"

    def __init__(self, rationales: dict[str, list[str]], on_save: SaveFn | None = None, note: str = "") -> None:
        self.rationales = {k: list(v) for k, v in rationales.items()}
        self.on_save, self.note = on_save, note

    def save(self, label: str, texts: list[str]) -> None:
        if self.on_save is None:
            raise RuntimeError("this rationale view is read-only")
        kept = [t.strip() for t in texts if t.strip()]
        self.on_save(label, kept)
        self.rationales[label] = kept

    def to_text(self) -> str:
        lines = ["rationales" + (f" ({self.note})" if self.note else "")]
        for label, texts in self.rationales.items():
            lines.append(f"{label}:")
            lines += [f"  - {t}" for t in texts] or ["  (none)"]
        return "\n".join(lines)

    def to_html(self) -> str:
        parts = [f"<p><b>rationales</b>{esc(f' ({self.note})' if self.note else '')}</p>"]
        for label, texts in self.rationales.items():
            items = "".join(f"<li>{esc(t)}</li>" for t in texts) or "<li><i>none</i></li>"
            parts.append(f"<p><b>{esc(label)}</b></p><ul>{items}</ul>")
        return "".join(parts)

    def build_widget(self) -> Any:
        import ipywidgets as w

        if self.on_save is None:
            return w.HTML(self.to_html())
        rows = [w.HTML(f"<b>rationales</b> — one per line; delete a line to drop it. {esc(self.note)}")]
        for label, texts in self.rationales.items():
            box = w.Textarea(value="\n".join(texts), layout=w.Layout(width="90%", height="8em"))
            button, status = w.Button(description=f"save {label}"), w.HTML()

            def save(_: Any, label: str = label, box: Any = box, status: Any = status) -> None:
                self.save(label, box.value.splitlines())
                status.value = f"saved {len(self.rationales[label])} rationales"

            button.on_click(save)
            self.controls.update({f"text:{label}": box, f"save:{label}": button, f"status:{label}": status})
            rows += [w.HTML(f"<b>{esc(label)}</b>"), box, w.HBox([button, status])]
        return w.VBox(rows)
