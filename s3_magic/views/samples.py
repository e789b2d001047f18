"""Sample browser: synthetic examples, filtered by round, label, kind and verdict, one page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.views.base import Paged, esc, html_table, text_table

FILTERS = ("round", "label", "kind", "verdict")
ALL = "(all)"


def example_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
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
        return self.summary() + ("\n" + text_table(page, example_columns(page)) if page else "")

    def to_html(self) -> str:
        page = self.current_page()
        return f"<p>{esc(self.summary())}</p>" + (html_table(page, example_columns(page)) if page else "")

    def build_widget(self) -> Any:
        import ipywidgets as w

        body = w.HTML()
        drops = {
            key: w.Dropdown(description=key, options=[ALL, *sorted({str(r.get(key)) for r in self.rows})])
            for key in FILTERS
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
