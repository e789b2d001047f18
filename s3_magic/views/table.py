"""A plain table view (run lists, run status, export summaries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.views.base import View, esc, html_table, text_table


class TableView(View):
    """Rows under column headers; with no columns, only the title and the note (e.g. what an export wrote)."""

    css = "table"

    def __init__(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str = "", note: str = ""
    ) -> None:
        self.rows, self.columns, self.title, self.note = list(rows), list(columns), title, note

    def to_text(self) -> str:
        parts = [self.title] if self.title else []
        if self.columns:
            parts.append(text_table(self.rows, self.columns) if self.rows else "(none)")
        return "\n".join(parts + ([self.note] if self.note else []))

    def to_html(self) -> str:
        title = f"<p><b>{esc(self.title)}</b></p>" if self.title else ""
        note = f"<p>{esc(self.note)}</p>" if self.note else ""
        if not self.columns:
            return title + note
        return title + (html_table(self.rows, self.columns) if self.rows else "<p>(none)</p>") + note
