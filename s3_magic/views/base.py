"""What every view shares: static text/HTML renderings, a lazily built ipywidget, and the rule that
decides whether a widget is shown (only where a kernel with a widget front end may be listening).

Nothing here imports IPython or ipywidgets at module level.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STYLE = "border-collapse:collapse;font-size:90%;margin:4px 0"
CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"


def widgets_enabled(forced: bool | None = None) -> bool:
    """``forced`` when given (``True``/``False``: widgets on/off); else (automatic) True when ipywidgets is installed
    and we run inside a kernel."""
    if forced is not None:
        return forced
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def pair_text(row: dict[str, Any]) -> str:
    """An example's text, with the second text of a pair after a ║."""
    return (row.get("text") or "") + (f" ║ {row['text_b']}" if row.get("text_b") else "")


def is_qa_row(row: dict[str, Any]) -> bool:
    """Whether a synthetic example row is a QA question (its origin records where its answer starts)."""
    return "answer_start" in (row.get("origin") or {})


def row_text(row: dict[str, Any]) -> str:
    """What a reviewer reads of an example: a QA row's question and answer, else its text (and second text)."""
    if is_qa_row(row):
        return f"{row.get('text_b') or ''} → {row.get('label') or ''}"
    return pair_text(row)


def cut(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    s = " ".join(text.split())
    return s if len(s) <= width else s[: width - 1] + "…"


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """An HTML table of ``rows`` with ``(key, header)`` columns; values are escaped."""
    head = "".join(f"<th style='{CELL}'>{esc(h)}</th>" for _, h in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='{CELL}'>{esc(r.get(k))}</td>" for k, _ in columns) + "</tr>" for r in rows
    )
    return f"<table style='{STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], width: int = 60) -> str:
    """A fixed-width text table; long cells are cut to ``width`` characters."""

    def cut(v: Any) -> str:
        s = " ".join(str("" if v is None else v).split())
        return s if len(s) <= width else s[: width - 1] + "…"

    cells = [[cut(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


class View:
    """A display object: ``to_text``/``to_html`` always work; ``widget()`` needs ipywidgets.

    Its widget and its HTML carry the CSS classes ``s3-view`` and ``s3-<css>`` (e.g. ``s3-error-table``),
    stable names for styling and for finding a view in a rendered page.
    """

    title = ""
    #: the view's CSS class without the ``s3-`` prefix
    css = "view"
    _widget: Any = None
    #: the widget's controls by name (filled by ``build_widget``; tests and users drive them)
    controls: dict[str, Any]

    def to_text(self) -> str:
        raise NotImplementedError

    def to_html(self) -> str:
        raise NotImplementedError

    def build_widget(self) -> Any:
        """The interactive form (default: the static HTML in an ``ipywidgets.HTML``)."""
        import ipywidgets as w

        return w.HTML(self.to_html())

    def widget(self) -> Any:
        if self._widget is None:
            self.controls = {}
            self._widget = self.build_widget()
            for name in self.css_classes():
                self._widget.add_class(name)
        return self._widget

    def css_classes(self) -> list[str]:
        return ["s3-view", f"s3-{self.css}"]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return bundle([self])

    def __repr__(self) -> str:
        return self.to_text()


def bundle(views: Sequence[View], heading: str = "", widgets: bool | None = None) -> dict[str, Any]:
    """text/plain + text/html of ``views`` (and one widget holding them all, where widgets are enabled: ``widgets``
    forces them on or off, ``None`` decides by :func:`widgets_enabled`)."""
    text = "\n\n".join(([heading] if heading else []) + [v.to_text() for v in views])
    parts = [f"<p><b>{esc(heading)}</b></p>"] if heading else []
    parts += [f"<div class='{' '.join(v.css_classes())}'>{v.to_html()}</div>" for v in views]
    data: dict[str, Any] = {"text/plain": text, "text/html": "\n".join(parts)}
    if widgets_enabled(widgets) and views:
        import ipywidgets as w

        head = [w.HTML(f"<b>{esc(heading)}</b>")] if heading else []
        box = w.VBox(head + [v.widget() for v in views])
        box.add_class("s3-result")
        data[WIDGET_MIME] = box._repr_mimebundle_()[WIDGET_MIME]
    return data


class Paged(View):
    """A view that shows ``page_size`` items at a time."""

    page = 0
    page_size = 10

    def page_of(self, items: Sequence[Any]) -> list[Any]:
        """The items on the current page (the page is clamped to the ones that exist)."""
        pages = max(1, -(-len(items) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        return list(items[self.page * self.page_size : (self.page + 1) * self.page_size])

    def page_label(self, items: Sequence[Any]) -> str:
        return f"page {self.page + 1} of {max(1, -(-len(items) // self.page_size))}"

    def nav(self, refresh: Any) -> Any:
        """An HBox with prev/next buttons that turn the page and call ``refresh()``."""
        import ipywidgets as w

        small = w.Layout(width="auto")
        buttons = {
            "prev": w.Button(description="◀ prev", tooltip="previous page", layout=small),
            "next": w.Button(description="next ▶", tooltip="next page", layout=small),
        }
        for name, delta in (("prev", -1), ("next", 1)):

            def turn(_: Any, delta: int = delta) -> None:
                self.page += delta
                refresh()

            buttons[name].on_click(turn)
        self.controls.update(buttons)
        return w.HBox(list(buttons.values()))
