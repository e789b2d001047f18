"""Review: accept, reject or edit synthetic examples; every change goes to the run store at once.

The widget shows one compact row per example (accept / reject / edit buttons, its verdict and text); an edit box
opens beneath a row only when its edit button is clicked. A QA example's question is what is edited (its context
and answer span stay as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from s3_magic.views.base import Paged, View, cut, esc, html_table, is_qa_row, row_text, text_table
from s3_magic.views.samples import example_columns

AcceptFn = Callable[[int, bool], None]
EditFn = Callable[[int, str, Any], None]
#: characters of an example's text shown in its row (the whole text is its tooltip and in the edit box)
ROW_CHARS = 180


def verdict_html(verdict: Any) -> str:
    colour = "#2a7a2a" if verdict == "ok" else "#b03030"
    return f"<code style='color:{colour}'>{esc(verdict)}</code>"


class ReviewPanel(Paged):
    """Example rows with accept/reject/edit controls calling ``on_accept(id, bool)`` / ``on_edit(id, text, text_b)``.

    ``paged=False`` shows every row with no pager and no heading (as beneath an error of :class:`ErrorTable`).
    Widget controls are named ``accept:<id>``, ``reject:<id>``, ``edit:<id>``, ``row:<id>``, and once an edit box
    is open ``text:<id>`` (and ``text_b:<id>``) or, for QA, ``question:<id>``, with ``save:<id>`` and
    ``cancel:<id>``; ``parent`` (a view) gets them too, under ``prefix``.
    """

    css = "review-panel"

    def __init__(
        self,
        rows: Sequence[dict[str, Any]],
        on_accept: AcceptFn,
        on_edit: EditFn,
        page_size: int = 10,
        title: str = "review",
        paged: bool = True,
    ) -> None:
        self.rows = list(rows)
        self.on_accept, self.on_edit = on_accept, on_edit
        self.page_size, self.page, self.title, self.paged = max(1, page_size), 0, title, paged
        self.qa = bool(self.rows) and all(is_qa_row(r) for r in self.rows)
        self.parent: View | None = None
        self.prefix = ""

    def set_accepted(self, row: dict[str, Any], accepted: bool) -> None:
        self.on_accept(row["id"], accepted)
        row["accepted"] = int(accepted)

    def edit(self, row: dict[str, Any], text: str, text_b: str | None = None) -> None:
        self.on_edit(row["id"], text, text_b)
        row["text"], row["edited"] = text, 1
        if text_b is not None:
            row["text_b"] = text_b

    def edit_question(self, row: dict[str, Any], question: str) -> None:
        """Replace a QA example's question (its context and answer stay)."""
        self.edit(row, row.get("text") or "", question)

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

    def row_html(self, row: dict[str, Any]) -> str:
        """An example's one-line description: id, label (not for QA), verdict, state, text cut to ROW_CHARS."""
        full = row_text(row)
        label = "" if self.qa else f"<b>{esc(row.get('label'))}</b> "
        state = "" if row.get("accepted") else " <i>rejected</i>"
        edited = " ✎" if row.get("edited") else ""
        return (
            f"<span title='{esc(full)}'><span style='color:#888'>#{esc(row['id'])}</span> {label}"
            f"{verdict_html(row.get('verdict'))}{state}{edited} {esc(cut(full, ROW_CHARS))}</span>"
        )

    # -- widget ----------------------------------------------------------------------------------
    def register(self, name: str, widget: Any) -> None:
        """Name a control (and give it to the parent view under the prefix)."""
        self.controls[name] = widget
        if self.parent is not None:
            self.parent.controls[self.prefix + name] = widget

    def build_widget(self) -> Any:
        import ipywidgets as w

        head, items = w.HTML(), w.VBox()
        pager = self.paged and len(self.rows) > self.page_size

        def show_head() -> None:
            head.value = f"<b>{esc(self.summary())}</b>" + (f" — {self.page_label(self.rows)}" if pager else "")

        def show_page() -> None:
            show_head()
            rows = self.page_of(self.rows) if pager else self.rows
            items.children = [self._row_widget(w, r, show_head) for r in rows]

        parts = [head] if self.paged else []
        self.controls["head"] = head
        if pager:
            parts.append(self.nav(show_page))
        show_page()
        return w.VBox([*parts, items])

    def _row_widget(self, w: Any, row: dict[str, Any], show_head: Callable[[], None]) -> Any:
        """One example on one line: accept, reject and edit buttons, then its verdict and text."""
        rid, small = row["id"], w.Layout(width="auto")
        accept = w.Button(description="accept", tooltip=f"train on example #{rid}", layout=small)
        reject = w.Button(description="reject", tooltip=f"leave example #{rid} out of training", layout=small)
        edit = w.Button(description="edit", tooltip=f"edit example #{rid}", layout=small)
        info = w.HTML(layout=w.Layout(margin="0 0 0 6px"))
        line = w.HBox([accept, reject, edit, info], layout=w.Layout(align_items="center"))
        box = w.VBox([line])

        def refresh() -> None:
            info.value = self.row_html(row)
            accept.button_style, reject.button_style = ("success", "") if row.get("accepted") else ("", "danger")
            show_head()

        def decide(value: bool) -> Callable[[Any], None]:
            def go(_: Any) -> None:
                self.set_accepted(row, value)
                refresh()

            return go

        def toggle_editor(_: Any) -> None:
            box.children = [line] if len(box.children) > 1 else [line, self._editor(w, row, box, line, refresh)]

        accept.on_click(decide(True))
        reject.on_click(decide(False))
        edit.on_click(toggle_editor)
        for name, widget in (("accept", accept), ("reject", reject), ("edit", edit), ("row", line)):
            self.register(f"{name}:{rid}", widget)
        refresh()
        return box

    def _editor(self, w: Any, row: dict[str, Any], box: Any, line: Any, refresh: Callable[[], None]) -> Any:
        """The edit box of a row: its text(s), or a QA example's question, with save and cancel."""
        rid, small, wide = row["id"], w.Layout(width="auto"), w.Layout(width="95%")
        if self.qa:
            fields = {"question": w.Text(value=row.get("text_b") or "", description="question", layout=wide)}
        else:
            fields = {"text": w.Textarea(value=row.get("text") or "", layout=wide)}
            if row.get("text_b"):
                fields["text_b"] = w.Textarea(value=row["text_b"], layout=wide)
        save = w.Button(description="save", button_style="primary", tooltip=f"store the edit of #{rid}", layout=small)
        cancel = w.Button(description="cancel", tooltip="close without saving", layout=small)

        def close(_: Any = None) -> None:
            box.children = [line]

        def do_save(_: Any) -> None:
            if self.qa:
                self.edit_question(row, fields["question"].value)
            else:
                self.edit(row, fields["text"].value, fields["text_b"].value if "text_b" in fields else None)
            close()
            refresh()

        save.on_click(do_save)
        cancel.on_click(close)
        for name, widget in (*fields.items(), ("save", save), ("cancel", cancel)):
            self.register(f"{name}:{rid}", widget)
        return w.VBox([*fields.values(), w.HBox([save, cancel])], layout=w.Layout(margin="0 0 6px 24px"))
