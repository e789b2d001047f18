"""The error table of a ``kind: qa`` run: each question answered wrong with its EM/F1, the context trimmed around
the gold and the predicted span (both marked), and the questions extrapolated from it, reviewable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from s3_magic.qa.metrics import exact_match, token_f1
from s3_magic.qa.records import QAExample
from s3_magic.views.base import esc
from s3_magic.views.errors import ErrorTable
from s3_magic.views.review import AcceptFn, EditFn
from s3_magic.views.spans import Span, find_span, legend, marked_passage, marked_text


class QAErrorTable(ErrorTable):
    """The errors of one round of a QA run: the question, EM/F1 against every human answer, the context trimmed
    around the gold and the predicted span (both marked), and beneath each the questions extrapolated from it
    (reviewable with the callbacks). ``questions`` are the run's questions by uid (``QAData.by_uid()``); an error
    whose uid is not there is scored against its stored gold answer."""

    css = "error-table"

    def __init__(
        self,
        errors: Sequence[dict[str, Any]],
        children: dict[str, list[dict[str, Any]]],
        round_no: int,
        questions: Mapping[str, QAExample] | None = None,
        on_accept: AcceptFn | None = None,
        on_edit: EditFn | None = None,
        page_size: int = 10,
    ) -> None:
        super().__init__(errors, children, round_no, on_accept=on_accept, on_edit=on_edit, page_size=page_size)
        self.questions = dict(questions or {})

    def answers(self, e: Mapping[str, Any]) -> list[str]:
        """The human answers of an error's question."""
        q = self.questions.get(e["uid"])
        return q.answer_texts if q is not None and q.answers else [e["gold"]]

    def scores(self, e: Mapping[str, Any]) -> tuple[float, float]:
        """(exact match, token F1) of the error's prediction (0 to 1)."""
        answers = self.answers(e)
        return exact_match(e["pred"] or "", answers), token_f1(e["pred"] or "", answers)

    def spans(self, e: Mapping[str, Any]) -> tuple[list[Span], Span | None]:
        """The gold spans (every human answer) and the predicted span (its first occurrence) in the context."""
        context = e.get("text") or ""
        q = self.questions.get(e["uid"])
        if q is not None and q.context == context:
            gold = [(a.start, a.end) for a in q.answers]
        else:
            gold = [s for s in [find_span(context, e["gold"] or "")] if s]
        return sorted(set(gold)), find_span(context, e["pred"] or "")

    def passage(self, e: Mapping[str, Any], html: bool = True) -> str:
        gold, pred = self.spans(e)
        context = e.get("text") or ""
        return marked_passage(context, gold, pred) if html else marked_text(context, gold, pred)

    def to_text(self) -> str:
        lines = [self.summary()]
        for e in self.errors:
            em, f1 = self.scores(e)
            lines.append(f"Q: {e['text_b']}  (EM {em:.0f}, F1 {f1:.2f}, {e['uid']})")
            lines.append(f"   gold {e['gold']!r} → pred {e['pred']!r}: {self.passage(e, html=False)}")
            for c in self.children.get(e["uid"], []):
                lines.append(f"    ↳ [{c['verdict']}{'' if c.get('accepted') else ', rejected'}] {c.get('text_b')}")
        return "\n".join(lines)

    HEADINGS = ("uid", "question", "EM", "F1", "context (gold / predicted)")

    def cells(self, e: dict[str, Any]) -> list[str]:
        em, f1 = self.scores(e)
        return [esc(e["uid"]), esc(e["text_b"]), f"{em:.0f}", f"{f1:.2f}", self.passage(e)]

    def caption(self) -> str:
        return f"{esc(self.summary())} — {legend()}"

    def error_html(self, e: dict[str, Any]) -> str:
        em, f1 = self.scores(e)
        return (
            f"<b>{esc(e['text_b'])}</b> <span style='color:#666'>EM {em:.0f} · F1 {f1:.2f} · "
            f"{esc(e['uid'])}</span><br>{self.passage(e)}"
        )
