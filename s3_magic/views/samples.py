"""Sample browser: synthetic examples, filtered by round, label, kind and verdict, one page at a time (QA
questions by round, kind and verdict, each with its context trimmed around the answer, the answer marked)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.views.base import CELL, STYLE, Paged, esc, html_table, is_qa_row, text_table
from s3_magic.views.spans import example_passage

FILTERS = ("round", "label", "kind", "verdict")
#: a QA example's label is its answer text, nothing to filter by
QA_FILTERS = ("round", "kind", "verdict")
ALL = "(all)"
QA_COLUMNS = [("id", "id"), ("round", "round"), ("kind", "kind"), ("verdict", "verdict"), ("text_b", "question"),
              ("label", "answer")]  # fmt: skip


def example_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """The columns that show example rows (for QA: the question and its answer, the context left out)."""
    if rows and all(is_qa_row(r) for r in rows):
        return list(QA_COLUMNS)
    cols = [("id", "id"), ("round", "round"), ("kind", "kind"), ("label", "label"), ("verdict", "verdict")]
    cols += [("text", "text")]
    if any(r.get("text_b") for r in rows):
        cols.append(("text_b", "text b"))
    return cols


def filter_rows(rows: Sequence[dict[str, Any]], **wanted: Any) -> list[dict[str, Any]]:
    """Rows whose fields equal every non-None value of ``wanted`` (e.g. ``label="positive"``)."""
    want = {k: v for k, v in wanted.items() if v is not None and v != ALL}
    return [r for r in rows if all(str(r.get(k)) == str(v) for k, v in want.items())]


class SampleBrowser(Paged):
    """A paged, filterable list of example rows (``SyntheticExample.to_dict()`` of ``Session.examples``)."""

    css = "sample-browser"

    title = "samples"

    def __init__(self, rows: Sequence[dict[str, Any]], page_size: int = 10, title: str = "samples") -> None:
        self.rows = list(rows)
        self.page_size = max(1, page_size)
        self.title = title
        self.filters: dict[str, Any] = {}
        self.page = 0
        self.qa = bool(self.rows) and all(is_qa_row(r) for r in self.rows)

    # -- state (what the widget drives) -------------------------------------------------------
    @property
    def selected(self) -> list[dict[str, Any]]:
        return filter_rows(self.rows, **self.filters)

    def current_page(self) -> list[dict[str, Any]]:
        return self.page_of(self.selected)

    def summary(self) -> str:
        n, total = len(self.selected), len(self.rows)
        ok = sum(1 for r in self.selected if r.get("accepted"))
        shown = f"{n} of {total}" if n != total else f"{total}"
        return f"{self.title}: {shown} examples ({ok} accepted), {self.page_label(self.selected)}"

    # -- renderings ----------------------------------------------------------------------------
    def to_text(self) -> str:
        page = self.current_page()
        if self.qa:
            page = [{**r, "passage": example_passage(r, html=False)} for r in page]
            return self.summary() + ("\n" + text_table(page, [*QA_COLUMNS, ("passage", "context")]) if page else "")
        return self.summary() + ("\n" + text_table(page, example_columns(page)) if page else "")

    def to_html(self) -> str:
        page = self.current_page()
        table = self._qa_table(page) if self.qa else html_table(page, example_columns(page))
        return f"<p>{esc(self.summary())}</p>" + (table if page else "")

    def _qa_table(self, page: Sequence[dict[str, Any]]) -> str:
        """QA rows with a context column: the context trimmed around the answer, the answer marked."""
        heads = [h for _, h in QA_COLUMNS] + ["context"]
        head = "".join(f"<th style='{CELL}'>{esc(h)}</th>" for h in heads)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='{CELL}'>{esc(r.get(k))}</td>" for k, _ in QA_COLUMNS)
            + f"<td style='{CELL}'>{example_passage(r, pad=80)}</td></tr>"
            for r in page
        )
        return f"<table style='{STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def build_widget(self) -> Any:
        import ipywidgets as w

        body = w.HTML()
        drops = {
            key: w.Dropdown(description=key, options=[ALL, *sorted({str(r.get(key)) for r in self.rows})])
            for key in (QA_FILTERS if self.qa else FILTERS)
        }

        def refresh(*_: Any) -> None:
            body.value = self.to_html()

        def on_filter(_: Any) -> None:
            self.filters = {k: d.value for k, d in drops.items() if d.value != ALL}
            self.page = 0
            refresh()

        for d in drops.values():
            d.observe(on_filter, names="value")
        self.controls.update(drops, body=body)
        nav = self.nav(refresh)
        refresh()
        return w.VBox([w.HBox(list(drops.values())), nav, body])
