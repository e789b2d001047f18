"""Review: accept, reject or edit synthetic examples; every change goes to the run store at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from s3_magic.views.base import Paged, esc, html_table, text_table
from s3_magic.views.samples import example_columns

AcceptFn = Callable[[int, bool], None]
EditFn = Callable[[int, str, Any], None]


class ReviewPanel(Paged):
    """Example rows with accept/reject/edit controls calling ``on_accept(id, bool)`` / ``on_edit(id, text, text_b)``."""

    css = "review-panel"

    def __init__(
        self,
        rows: Sequence[dict[str, Any]],
        on_accept: AcceptFn,
        on_edit: EditFn,
        page_size: int = 10,
        title: str = "review",
    ) -> None:
        self.rows = list(rows)
        self.on_accept, self.on_edit = on_accept, on_edit
        self.page_size, self.page, self.title = max(1, page_size), 0, title

    def set_accepted(self, row: dict[str, Any], accepted: bool) -> None:
        self.on_accept(row["id"], accepted)
        row["accepted"] = int(accepted)

    def edit(self, row: dict[str, Any], text: str, text_b: str | None = None) -> None:
        self.on_edit(row["id"], text, text_b)
        row["text"], row["edited"] = text, 1
        if text_b is not None:
            row["text_b"] = text_b

    def summary(self) -> str:
        ok = sum(1 for r in self.rows if r.get("accepted"))
        return f"{self.title}: {len(self.rows)} examples, {ok} accepted, {len(self.rows) - ok} rejected"

    def _cols(self) -> list[tuple[str, str]]:
        return [*example_columns(self.rows), ("accepted", "accepted")]

    def to_text(self) -> str:
        return self.summary() + ("\n" + text_table(self.rows, self._cols()) if self.rows else "")

    def to_html(self) -> str:
        hint = "<p><i>open in Jupyter to accept, reject or edit; or call Session.accept(id, False)</i></p>"
        return f"<p>{esc(self.summary())}</p>" + (html_table(self.rows, self._cols()) + hint if self.rows else "")

    # -- widget ----------------------------------------------------------------------------------
    def build_widget(self) -> Any:
        import ipywidgets as w

        head, items = w.HTML(), w.VBox()

        def show_page() -> None:
            head.value = f"<b>{esc(self.summary())}</b> — {self.page_label(self.rows)}"
            items.children = [self._row_widget(w, r, head) for r in self.page_of(self.rows)]

        self.controls["head"] = head
        nav = self.nav(show_page)
        show_page()
        return w.VBox([head, nav, items])

    def _row_widget(self, w: Any, row: dict[str, Any], head: Any) -> Any:
        """One example: its text in an editable box, its label/verdict, and accept/reject/save buttons."""
        text = w.Textarea(value=row.get("text") or "", layout=w.Layout(width="70%"))
        text_b = w.Textarea(value=row.get("text_b") or "", layout=w.Layout(width="70%")) if row.get("text_b") else None
        info = w.HTML()
        accept, reject = w.Button(description="accept"), w.Button(description="reject")
        save = w.Button(description="save edit")

        def refresh() -> None:
            state = "accepted" if row.get("accepted") else "rejected"
            info.value = f"#{row['id']} <b>{esc(row['label'])}</b> · {esc(row.get('verdict'))} · <i>{state}</i>"
            accept.button_style, reject.button_style = ("success", "") if row.get("accepted") else ("", "danger")
            head.value = f"<b>{esc(self.summary())}</b>"

        def decide(value: bool) -> Callable[[Any], None]:
            def go(_: Any) -> None:
                self.set_accepted(row, value)
                refresh()

            return go

        def do_save(_: Any) -> None:
            self.edit(row, text.value, text_b.value if text_b is not None else None)
            refresh()

        accept.on_click(decide(True))
        reject.on_click(decide(False))
        save.on_click(do_save)
        rid = row["id"]
        self.controls.update({f"accept:{rid}": accept, f"reject:{rid}": reject, f"save:{rid}": save})
        self.controls.update({f"text:{rid}": text, **({f"text_b:{rid}": text_b} if text_b is not None else {})})
        refresh()
        boxes = [info, text] + ([text_b] if text_b is not None else [])
        return w.VBox([*boxes, w.HBox([accept, reject, save])])
