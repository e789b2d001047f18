"""The plain-Python twins of the notebook magics, and the state they share (the current Session).

Every magic ``%s3_x`` is a thin adapter over ``x(...)`` here: the keyword arguments are the magic's long
options (``--student-mode`` is ``student_mode=``; ``-r/--round`` is ``round_no=``). Each returns a
:class:`Result` holding pandas DataFrames and the views that display it. Nothing here imports IPython.

>>> from s3_magic import twins                                        # doctest: +SKIP
>>> twins.synthesize("sst2", folder="s3_runs", llm="local:embedded")  # doctest: +SKIP
>>> twins.iterate(rounds=2).rounds                                    # doctest: +SKIP
>>> twins.final().value["check_acc"]                                  # doctest: +SKIP

A ``kind: qa`` run reads the same way with exact match and F1 in place of accuracy (``check_f1``, ``test_f1``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3_magic.engine.context import Reporter
from s3_magic.errors import ConfigError, StoreError
from s3_magic.llm.prices import format_usd
from s3_magic.records import ExampleKind, RunSummary, SyntheticExample, to_dicts
from s3_magic.session import DEFAULT_FOLDER, Session
from s3_magic.store import list_runs
from s3_magic.summaries import accuracy_phrase
from s3_magic.views.base import View, bundle
from s3_magic.views.chart import RoundChart
from s3_magic.views.errors import ErrorTable, children_by_error
from s3_magic.views.rationales import RationaleEditor
from s3_magic.views.review import ReviewPanel
from s3_magic.views.samples import SampleBrowser, filter_rows
from s3_magic.views.table import TableView


@dataclass
class State:
    """What the magics share: the current session and display defaults."""

    session: Session | None = None
    folder: str = DEFAULT_FOLDER
    page_size: int = 10


STATE = State()


class Result:
    """What a twin returns: ``res.<table>`` is a pandas DataFrame (``res.tables`` lists them); it displays
    as its views (widgets in Jupyter, HTML in saved notebooks and nbconvert, text in a terminal). Tables are given
    as records (rounds, examples, ...) or dicts and kept as flat dicts."""

    #: widgets in its display: ``True``/``False`` on/off, ``None`` where a kernel shows them (the magics set it)
    widgets: bool | None = None

    def __init__(
        self, heading: str, views: Sequence[View], tables: dict[str, Iterable[Any]], value: Any = None
    ) -> None:
        self.heading, self.views, self.value = heading, list(views), value
        self._tables = {name: to_dicts(rows) for name, rows in tables.items()}
        self.session = STATE.session

    @property
    def tables(self) -> list[str]:
        return list(self._tables)

    def frame(self, name: str) -> Any:
        import pandas as pd

        return pd.DataFrame(self._tables[name])

    def __getattr__(self, name: str) -> Any:
        if name in self.__dict__.get("_tables", {}):
            return self.frame(name)
        raise AttributeError(f"no table {name!r} in this result; it has {', '.join(self.__dict__.get('_tables', {}))}")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return bundle(self.views, self.heading, self.widgets)

    def __repr__(self) -> str:
        return "\n\n".join([self.heading] + [v.to_text() for v in self.views])


# -- session handling -------------------------------------------------------------------------------
def current() -> Session:
    """The session the magics work on (the newest synthesized or resumed run)."""
    if STATE.session is None:
        raise StoreError("no run yet; start one with %%s3_synthesize or open one with %s3_resume")
    return STATE.session


def use(session: Session) -> Session:
    """Make ``session`` the current one (the previous one's LLM is released; its store stays readable)."""
    old = STATE.session
    if old is not None and old is not session:
        old.ctx.close()
    STATE.session, STATE.folder = session, str(session.store.folder)
    return session


def settings_overrides(**settings: Any) -> dict[str, Any]:
    """Dotted task changes from the twins' settings (``llm``, ``student_mode``, ``budget``, ...)."""
    from s3_magic.settings import overrides

    sets = settings.pop("set", None) or []
    return overrides(settings, [sets] if isinstance(sets, str) else sets)


def _reopen(session: Session, changes: dict[str, Any]) -> Session:
    """The same run with changed settings (e.g. a bigger budget); the current one when nothing changes."""
    if changes:
        session.update(changes)
    return session


@contextmanager
def _reporting(session: Session, reporter: Reporter | None) -> Iterator[Session]:
    old = session.ctx.reporter
    if reporter is not None:
        session.ctx.reporter = reporter
    try:
        yield session
    finally:
        session.ctx.reporter = old


def _page(page_size: int | None) -> int:
    return page_size or STATE.page_size


def _chart(session: Session) -> RoundChart:
    """The round chart with the best round (by check accuracy) marked."""
    return RoundChart(session.rounds(), best=session.best_round())


# -- views of a session -------------------------------------------------------------------------------
def _rationale_editor(session: Session) -> RationaleEditor:
    seeded = any(r.round == 0 for r in session.rounds())
    note = "seed data already made: edits change nothing now" if seeded else "edit before the seed data is made"
    return RationaleEditor(session.rationales, on_save=None if seeded else session.set_rationales, note=note)


def _error_table(session: Session, round_no: int, page_size: int | None) -> ErrorTable:
    kids = children_by_error(to_dicts(session.examples(round_no=round_no + 1, kind="extrapolated")))
    errs = session.errors(round_no)
    if session.data.qa is not None:  # a QA run: questions scored against every human answer, spans marked
        from s3_magic.views.qa import QAErrorTable

        qs = session.data.qa.by_uid()
        return QAErrorTable(errs, kids, round_no, qs, session.accept, session.edit, page_size=_page(page_size))
    return ErrorTable(errs, kids, round_no, on_accept=session.accept, on_edit=session.edit, page_size=_page(page_size))


def _errors_result(session: Session, round_no: int, heading: str, page_size: int | None) -> Result:
    table = _error_table(session, round_no, page_size)
    rows = [{**e, "round": round_no, "n_extrapolated": len(table.children.get(e["uid"], []))} for e in table.errors]
    kids = [c for cs in table.children.values() for c in cs]
    return Result(
        heading,
        [table, _chart(session)],
        {"errors": rows, "extrapolated": kids, "rounds": session.rounds()},
    )


def _run_heading(session: Session, what: str) -> str:
    return f"{what} — run {session.run_id} ({session.task.name})"


# -- the twins ----------------------------------------------------------------------------------------
def synthesize(
    task: Any = None,
    *,
    folder: str | Path | None = None,
    name: str | None = None,
    rationales_only: bool = False,
    reporter: Reporter | None = None,
    page_size: int | None = None,
    **settings: Any,
) -> Result:
    """Start a run of ``task`` (YAML text, dict, file or built-in name), make its rationales and seed data.

    Without ``task``, go on with the current run (e.g. after editing its rationales).
    ``rationales_only`` stops after the rationales so they can be edited first.
    """
    changes = settings_overrides(**settings)
    if task is None or (isinstance(task, str) and not task.strip()):
        session = _reopen(current(), changes)
    else:
        folder = folder or STATE.folder
        session = use(Session.create(task, folder=folder, name=name, overrides=changes, reporter=reporter))
    with _reporting(session, reporter):
        if rationales_only:
            if session.task.is_qa:
                raise ConfigError("a qa task writes its seed questions without rationales; drop --rationales-only")
            if not session.task.sizes.rationales_per_example or session.task.method != "s3":
                raise ConfigError("this task makes its seed data without rationales; drop --rationales-only")
            session.generate_rationales()
        else:
            session.synthesize()
    uses_rationales = session.task.sizes.rationales_per_example and not session.task.is_qa
    views: list[View] = [_rationale_editor(session)] if uses_rationales else []
    rows = to_dicts(session.examples(round_no=0))
    if not rationales_only:
        views.append(SampleBrowser(rows, page_size=_page(page_size), title="seed samples"))
    rats = [{"label": k, "rationale": t} for k, ts in session.rationales.items() for t in ts]
    heading = _run_heading(session, "rationales" if rationales_only else f"{len(rows)} seed samples")
    return Result(heading, views, {"rationales": rats, "samples": rows, "rounds": session.rounds()})


def train(*, reporter: Reporter | None = None, page_size: int | None = None) -> Result:
    """Train and evaluate the student on the newest round whose data is complete."""
    session = current()
    r = session.next_round()
    with _reporting(session, reporter):
        stats = session.train()
    head = _run_heading(session, f"round {r}: {accuracy_phrase(stats)}")
    return _errors_result(session, r if r is not None else session.last_evaluated(), head, page_size)


def iterate(
    rounds: int = 1, *, reporter: Reporter | None = None, page_size: int | None = None, **settings: Any
) -> Result:
    """Run ``rounds`` more S3 rounds: extrapolate the errors, train, evaluate (evaluates round 0 first).

    Shows the errors of the round before the newest one with what the LLM extrapolated from each, and the
    accuracy per round. ``settings`` (e.g. ``budget=``) change the run first.
    """
    session = _reopen(current(), settings_overrides(**settings))
    with _reporting(session, reporter):
        rows = session.iterate(rounds)
    last = rows[-1]
    head = _run_heading(session, f"round {last.round}: {accuracy_phrase(last)}")
    return _errors_result(session, max(last.round - 1, 0), head, page_size)


def errors(round_no: int | None = None, *, page_size: int | None = None) -> Result:
    """The validation errors of round ``round_no`` (default: the newest evaluated) and their extrapolations."""
    session = current()
    r = session.last_evaluated() if round_no is None else round_no
    if r < 0:
        raise StoreError("no round is evaluated yet; train first with %s3_train or %s3_iterate")
    return _errors_result(session, r, _run_heading(session, f"errors of round {r}"), page_size)


def _example_rows(session: Session, round_no: int | None, label: str | None, kind: ExampleKind | None,
                  verdict: str | None, accepted: bool | None) -> list[dict[str, Any]]:  # fmt: skip
    if label is not None and session.task.is_qa:
        raise ConfigError("a qa task has no labels (its answers are spans); filter by round, kind or verdict")
    if label is not None and label not in session.task.label_names:
        raise ConfigError(f"unknown label {label!r}; use one of {', '.join(session.task.label_names)}")
    rows = session.examples(round_no=round_no, label=label, kind=kind, accepted=accepted)
    return filter_rows(to_dicts(rows), verdict=verdict)


def samples(
    round_no: int | None = None,
    *,
    label: str | None = None,
    kind: ExampleKind | None = None,
    verdict: str | None = None,
    accepted: bool | None = None,
    page_size: int | None = None,
) -> Result:
    """Synthetic examples of any round, filtered by label, kind (seed/extrapolated/zerogen), verdict, acceptance."""
    session = current()
    rows = _example_rows(session, round_no, label, kind, verdict, accepted)
    browser = SampleBrowser(rows, page_size=_page(page_size))
    return Result(_run_heading(session, f"{len(rows)} samples"), [browser], {"samples": rows})


def review(
    round_no: int | None = None,
    *,
    label: str | None = None,
    kind: ExampleKind | None = None,
    verdict: str | None = None,
    page_size: int | None = None,
) -> Result:
    """Accept, reject or edit examples (default: the newest round's); changes are stored at once."""
    session = current()
    r = _newest_round(session.examples()) if round_no is None else round_no
    rows = _example_rows(session, r, label, kind, verdict, None)
    panel = ReviewPanel(rows, session.accept, session.edit, page_size=_page(page_size), title=f"round {r}")
    return Result(_run_heading(session, f"review round {r}"), [panel], {"samples": rows})


def _newest_round(examples: Iterable[SyntheticExample]) -> int:
    """The newest round that has examples (0 when there are none)."""
    return max((e.round for e in examples), default=0)


def rationales(label: str | None = None, texts: Sequence[str] | None = None) -> Result:
    """The rationales by label, in an editor; ``label`` + ``texts`` replace that label's rationales."""
    session = current()
    if texts is not None:
        if label is None:
            raise ConfigError("give the label whose rationales the texts replace")
        session.set_rationales(label, list(texts))
    editor = _rationale_editor(session)
    rows = [{"label": k, "rationale": t} for k, ts in editor.rationales.items() for t in ts]
    return Result(_run_heading(session, "rationales"), [editor], {"rationales": rows})


def status() -> Result:
    """The current run: its state, rounds, the best round (by check accuracy), the final model, data and LLM usage."""
    session = current()
    run, usage = session.store.get_run(session.run_id), session.usage()
    rounds, best, done = session.rounds(), session.best_round(), session.final_result()
    info = {
        "run": session.run_id, "task": session.task.name, "status": run["status"], "message": run["message"] or "",
        "folder": str(session.store.folder), "accepted": len(session.examples(accepted=True)),
        "llm": session.task.llm.spec, "llm_calls": usage["calls"],
        "tokens": usage["prompt_tokens"] + usage["completion_tokens"], "cost": format_usd(session.cost_usd()),
        "best_round": "" if best < 0 else best,
        "final_model": (done.get("path") or "trained, not saved (this student cannot be)") if done
        else "not trained yet (%s3_final)",
    }  # fmt: skip
    table = TableView([{"key": k, "value": v} for k, v in info.items()], [("key", "field"), ("value", "value")])
    head = _run_heading(session, "status")
    row = next((r for r in rounds if r.round == best), None)
    if row is not None:
        head += f"; best round {best}: {accuracy_phrase(row)}"
    return Result(head, [table, _chart(session)], {"rounds": rounds, "run": [info]})


def final(out: str | Path | None = None, *, reporter: Reporter | None = None) -> Result:
    """Train the model to keep: the student on the synthetic data of the best round (by check accuracy; a QA run's
    check F1) plus the real labels, with the recipe that scores best on the check split; saved as a Hugging Face
    model folder (``out``, default ``<run folder>/<run id>-final/``). Test scores are only reported."""
    session = current()
    if session.last_evaluated() < 0:
        raise StoreError("no round is evaluated yet; run the rounds first with %s3_iterate (or %s3_train)")
    with _reporting(session, reporter):
        result = session.final(out)
    metric, score = ("f1", "F1") if "check_f1" in result else ("acc", "accuracy")
    short = "F1" if metric == "f1" else "acc"
    cands = [
        {**c, "kept": "yes" if c.get("recipe") == result.get("recipe") else "",
         "check": _pct(c.get(f"check_{metric}")), "test": _pct(c.get(f"test_{metric}"))}
        for c in result.get("candidates") or []
    ]  # fmt: skip
    cols = [("recipe", "recipe"), ("check", f"check {short}"), ("test", f"test {short}"), ("kept", "kept")]
    if not any(c["test"] for c in cands):
        cols.remove(("test", f"test {short}"))
    note = _final_note(result, metric)
    if result.get(f"test_{metric}") is not None:
        note = f"test {score} {_pct(result[f'test_{metric}'])} (report only); " + note
    table = TableView(cands, cols, title="recipes tried (each scored on the check split)", note=note)
    check = _pct(result.get(f"check_{metric}"))
    what = f"final model: recipe {result.get('recipe')} on round {result.get('round')}"
    what += f", check {score} {check}" if check else " (no check split)"
    return Result(
        _run_heading(session, what), [table, _chart(session)],
        {"final": [result], "candidates": result.get("candidates") or [], "rounds": session.rounds()}, value=result,
    )  # fmt: skip


def _final_note(result: dict[str, Any], metric: str) -> str:
    """What the final model was trained on, how long it took, and where it was saved (``metric``: acc or f1)."""
    what = "questions" if metric == "f1" else "examples"
    auto = "AutoModelForQuestionAnswering" if metric == "f1" else "AutoModelForSequenceClassification"
    saved = result.get("path")
    note = f"saved to {saved} (load it with {auto}.from_pretrained)" if saved else (
        "not saved: this student cannot be saved as a model folder (student.mode finetune and qa can)")  # fmt: skip
    refit = ", retrained with the check examples after choosing" if result.get("refit_with_check") else ""
    return (
        f"{result.get('n_train')} training {what} ({result.get('n_synthetic')} synthetic, {result.get('n_real')} "
        f"real{refit}), {float(result.get('seconds') or 0):.1f} s; {note}"
    )


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def export(path: str | Path, *, format: str = "jsonl", include_rejected: bool = False) -> Result:
    """Write the current run's examples (accepted only, unless ``include_rejected``) to ``path``."""
    session = current()
    out = session.export(path, format=format, include_rejected=include_rejected)
    rows = session.examples(accepted=None if include_rejected else True)
    view = TableView([], [], note=f"wrote {len(rows)} examples of run {session.run_id} to {out}")
    return Result("export", [view], {"samples": rows}, value=out)


def runs(*, folder: str | Path | None = None) -> Result:
    """The runs in ``folder`` (default: the current run folder), newest first."""
    folder = Path(folder or STATE.folder)
    rows = to_dicts(list_runs(folder))
    return Result(f"runs in {folder}", [TableView(rows, list(RunSummary.COLUMNS))], {"runs": rows})


def resume(
    run_id: str | None = None,
    *,
    folder: str | Path | None = None,
    run: bool = False,
    reporter: Reporter | None = None,
    **settings: Any,
) -> Result:
    """Open a run (the newest in ``folder`` when ``run_id`` is None) as the current one; ``run`` finishes it."""
    changes = settings_overrides(**settings)
    session = use(Session.open(run_id, folder=folder or STATE.folder, overrides=changes or None, reporter=reporter))
    if run:
        with _reporting(session, reporter):
            session.run()
    return status()
