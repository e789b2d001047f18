"""Error table: each misclassified validation example (gold, prediction, confidence) and, beneath it, the
examples the LLM extrapolated from it in the next round, with their filter verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3_magic.views.base import CELL, STYLE, Paged, esc, pair_text
from s3_magic.views.review import AcceptFn, EditFn, ReviewPanel


def children_by_error(examples: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Extrapolated example rows grouped by the uid of the error they came from (``origin.from_uid``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in examples:
        uid = (e.get("origin") or {}).get("from_uid")
        if uid is not None:
            out.setdefault(uid, []).append(e)
    return out


class ErrorTable(Paged):
    """Errors of one round with their extrapolations; with callbacks, the extrapolations can be reviewed."""

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
                lines.append(f"    ↳ [{c['verdict']}{'' if c.get('accepted') else ', rejected'}] {pair_text(c)}")
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "".join(f"<th style='{CELL}'>{h}</th>" for h in ("uid", "gold", "prediction", "confidence", "text"))
        rows = []
        for e in self.errors:
            cells = (e["uid"], e["gold"], e["pred"], f"{e['confidence']:.2f}", pair_text(e))
            rows.append("<tr>" + "".join(f"<td style='{CELL}'>{esc(c)}</td>" for c in cells) + "</tr>")
            kids = self.children.get(e["uid"], [])
            if kids:
                items = "".join(
                    f"<li><code>{esc(c['verdict'])}</code>{'' if c.get('accepted') else ' (rejected)'} "
                    f"{esc(pair_text(c))}</li>"
                    for c in kids
                )
                rows.append(f"<tr><td style='{CELL}' colspan='5'><ul style='margin:0'>{items}</ul></td></tr>")
        table = f"<table style='{STYLE}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        return f"<p>{esc(self.summary())}</p>" + (table if self.errors else "")

    def build_widget(self) -> Any:
        import ipywidgets as w

        head, items = w.HTML(), w.VBox()

        def show_page() -> None:
            head.value = f"<b>{esc(self.summary())}</b> — {self.page_label(self.errors)}"
            items.children = [self._error_widget(w, e) for e in self.page_of(self.errors)]

        nav = self.nav(show_page)
        show_page()
        return w.VBox([head, nav, items])

    def _error_widget(self, w: Any, e: dict[str, Any]) -> Any:
        title = w.HTML(
            f"<b>{esc(e['uid'])}</b> gold <b>{esc(e['gold'])}</b> → predicted <b>{esc(e['pred'])}</b> "
            f"({e['confidence']:.2f})<br>{esc(pair_text(e))}"
        )
        kids = self.children.get(e["uid"], [])
        if not kids or self.on_accept is None or self.on_edit is None:
            single = ErrorTable([e], {e["uid"]: kids}, self.round)
            return w.HTML(single.to_html())
        panel = ReviewPanel(kids, self.on_accept, self.on_edit, page_size=len(kids), title="extrapolated")
        box = w.VBox([title, panel.widget()], layout=w.Layout(border="1px solid #ddd", margin="4px 0"))
        self.controls.update({f"{e['uid']}:{k}": v for k, v in panel.controls.items()})
        return box
