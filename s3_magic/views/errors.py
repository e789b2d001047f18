"""Error table: each misclassified validation example (gold, prediction, confidence) and, beneath it, the
examples the LLM extrapolated from it in the next round, with their filter verdicts (one compact, reviewable row
each; the table pages through the errors, never through one error's extrapolations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.views.base import CELL, STYLE, Paged, esc, pair_text, row_text
from s3_magic.views.review import AcceptFn, EditFn, ReviewPanel, verdict_html


def children_by_error(examples: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Extrapolated example rows grouped by the uid of the error they came from (``origin.from_uid``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in examples:
        uid = (e.get("origin") or {}).get("from_uid")
        if uid is not None:
            out.setdefault(uid, []).append(e)
    return out


class ErrorTable(Paged):
    """Errors of one round with their extrapolations; with callbacks, the extrapolations can be reviewed.

    Review controls are named ``<error uid>:<control>`` (see :class:`ReviewPanel`), e.g. ``val:3:reject:17``.
    """

    css = "error-table"

    def __init__(
        self,
        errors: Sequence[dict[str, Any]],
        children: dict[str, list[dict[str, Any]]],
        round_no: int,
        on_accept: AcceptFn | None = None,
        on_edit: EditFn | None = None,
        page_size: int = 10,
    ) -> None:
        self.errors, self.children, self.round = list(errors), children, round_no
        self.on_accept, self.on_edit, self.page_size = on_accept, on_edit, max(1, page_size)

    def summary(self) -> str:
        n_kids = sum(len(self.children.get(e["uid"], [])) for e in self.errors)
        more = f", {n_kids} extrapolated examples from round {self.round + 1}" if n_kids else ""
        return f"round {self.round}: {len(self.errors)} validation errors{more}"

    def to_text(self) -> str:
        lines = [self.summary()]
        for e in self.errors:
            lines.append(f"[{e['confidence']:.2f}] gold {e['gold']} → pred {e['pred']}: {pair_text(e)}  ({e['uid']})")
            for c in self.children.get(e["uid"], []):
                lines.append(f"    ↳ [{c['verdict']}{'' if c.get('accepted') else ', rejected'}] {row_text(c)}")
        return "\n".join(lines)

    def kids_html(self, kids: Sequence[dict[str, Any]]) -> str:
        """The extrapolated examples of one error as a static list."""
        items = "".join(
            f"<li>{verdict_html(c['verdict'])}{'' if c.get('accepted') else ' (rejected)'} {esc(row_text(c))}</li>"
            for c in kids
        )
        return f"<ul style='margin:0'>{items}</ul>"

    #: the columns of the static table
    HEADINGS: tuple[str, ...] = ("uid", "gold", "prediction", "confidence", "text")

    def cells(self, e: dict[str, Any]) -> list[str]:
        """One error's cells in the static table, as HTML."""
        return [esc(c) for c in (e["uid"], e["gold"], e["pred"], f"{e['confidence']:.2f}", pair_text(e))]

    def caption(self) -> str:
        """The line above the static table, as HTML."""
        return esc(self.summary())

    def to_html(self) -> str:
        head = "".join(f"<th style='{CELL}'>{h}</th>" for h in self.HEADINGS)
        rows = []
        for e in self.errors:
            rows.append("<tr>" + "".join(f"<td style='{CELL}'>{c}</td>" for c in self.cells(e)) + "</tr>")
            kids = self.children.get(e["uid"], [])
            if kids:
                span = len(self.HEADINGS)
                rows.append(f"<tr><td style='{CELL}' colspan='{span}'>{self.kids_html(kids)}</td></tr>")
        table = f"<table style='{STYLE}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        return f"<p>{self.caption()}</p>" + (table if self.errors else "")

    def error_html(self, e: dict[str, Any]) -> str:
        """One error's heading in the widget: uid, gold → prediction (confidence) and its text."""
        return (
            f"<b>{esc(e['uid'])}</b> gold <b>{esc(e['gold'])}</b> → predicted <b>{esc(e['pred'])}</b> "
            f"({e['confidence']:.2f})<br>{esc(pair_text(e))}"
        )

    def build_widget(self) -> Any:
        import ipywidgets as w

        head, items = w.HTML(), w.VBox()
        pager = len(self.errors) > self.page_size

        def show_page() -> None:
            head.value = f"<b>{esc(self.summary())}</b>" + (f" — {self.page_label(self.errors)}" if pager else "")
            items.children = [self._error_widget(w, e) for e in self.page_of(self.errors)]

        parts = [head, self.nav(show_page)] if pager else [head]
        show_page()
        return w.VBox([*parts, items])

    def _error_widget(self, w: Any, e: dict[str, Any]) -> Any:
        """An error's heading and its extrapolations: compact review rows, or a static list without callbacks."""
        kids = self.children.get(e["uid"], [])
        parts = [w.HTML(self.error_html(e))]
        if kids and self.on_accept is not None and self.on_edit is not None:
            panel = ReviewPanel(kids, self.on_accept, self.on_edit, title="extrapolated", paged=False)
            panel.parent, panel.prefix = self, f"{e['uid']}:"
            parts.append(panel.widget())
        elif kids:
            parts.append(w.HTML(self.kids_html(kids)))
        return w.VBox(parts, layout=w.Layout(border="1px solid #ddd", margin="2px 0", padding="0 4px"))
