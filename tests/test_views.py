"""The widgets driven through their traits, and the plain HTML/text every view falls back to."""

from __future__ import annotations

import re
from html import unescape
from itertools import pairwise

import pytest
from conftest import sst2_task

from s3_magic import twins
from s3_magic.records import Round
from s3_magic.views import base
from s3_magic.views.chart import RoundChart, spread
from s3_magic.views.errors import ErrorTable
from s3_magic.views.progress import ProgressView
from s3_magic.views.rationales import RationaleEditor
from s3_magic.views.review import ROW_CHARS, ReviewPanel
from s3_magic.views.samples import SampleBrowser
from s3_magic.views.table import TableView

pytest.importorskip("ipywidgets")


@pytest.fixture(autouse=True)
def fresh_state():
    yield
    twins.STATE.session, twins.STATE.folder = None, "s3_runs"


def start(tmp_path, **changes):
    """A run with the word-count student able to take every final recipe and to save a model folder."""
    return twins.synthesize(sst2_task(**{"student__mode": "wordcount_final", **changes}), folder=tmp_path)


def evaluated(rows: list[dict]) -> list[Round]:
    """Evaluated rounds with the given stats."""
    return [Round(status="evaluated", **r) for r in rows]


def test_clicking_reject_excludes_examples_from_the_next_training(tmp_path, fake_llm):
    start(tmp_path, **{"sizes__rounds": 0})
    s = twins.current()
    accepted = len(s.examples(accepted=True))
    panel = twins.review(round_no=0, page_size=10).views[0]
    assert isinstance(panel, ReviewPanel)
    panel.widget()
    ids = [r["id"] for r in panel.rows[:5]]
    for i in ids:
        panel.controls[f"reject:{i}"].click()
    stored = {e.id: e.accepted for e in s.examples()}
    assert [stored[i] for i in ids] == [False] * 5, "each click is saved to the run store at once"
    panel.controls[f"accept:{ids[0]}"].click()  # changed my mind about one
    assert f"text:{ids[1]}" not in panel.controls, "an edit box opens only when asked"
    panel.controls[f"edit:{ids[1]}"].click()
    panel.controls[f"text:{ids[1]}"].value = "an edited review that is fine"
    panel.controls[f"save:{ids[1]}"].click()
    edited = next(e for e in s.examples() if e.id == ids[1])
    assert (edited.text, edited.edited) == ("an edited review that is fine", True)
    assert f"{accepted - 4} accepted, 4 rejected" in panel.controls["head"].value
    res = twins.train()
    assert res.rounds["n_train"].tolist() == [accepted - 4]


def test_review_pages(tmp_path, fake_llm):
    start(tmp_path, **{"sizes__rounds": 0})
    panel = twins.review(page_size=15).views[0]
    panel.widget()
    first = {k for k in panel.controls if k.startswith("reject:")}
    panel.controls["next"].click()
    second = {k for k in panel.controls if k.startswith("reject:")} - first
    assert len(first) == 15 and len(second) == 15 and panel.page == 1


def test_sample_browser_filters_and_pages(tmp_path, fake_llm):
    res = start(tmp_path, **{"sizes__rounds": 0})
    browser = res.views[-1]
    assert isinstance(browser, SampleBrowser) and browser.page_size == 10
    browser.widget()
    body = browser.controls["body"]
    assert "page 1 of 4" in body.value
    browser.controls["label"].value = "positive"
    assert "20 of 40" in body.value and ">negative<" not in body.value
    browser.controls["next"].click()
    assert "page 2 of 2" in body.value
    browser.controls["next"].click()
    assert browser.page == 1, "the last page stays the last"
    browser.controls["label"].value = "(all)"
    assert browser.page == 0 and "40 examples" in body.value


def test_error_table_shows_and_reviews_extrapolations(tmp_path, fake_llm):
    start(tmp_path)
    twins.iterate(rounds=1)
    s = twins.current()
    table = twins.errors(round_no=0).views[0]
    assert isinstance(table, ErrorTable)
    uid = next(u for u in (e["uid"] for e in table.errors) if table.children.get(u))
    kid = table.children[uid][0]
    assert kid["origin"]["from_uid"] == uid
    text, html = table.to_text(), table.to_html()
    assert f"({uid})" in text and "↳ [ok]" in text and "<ul" in html
    table.widget()
    table.controls[f"{uid}:reject:{kid['id']}"].click()
    assert not next(e for e in s.examples() if e.id == kid["id"]).accepted


def walk(widget):
    """A widget and everything inside it."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def review_rows(widget) -> list:
    """The one-line rows of a review: the HBoxes holding an accept button."""
    return [
        x for x in walk(widget)
        if type(x).__name__ == "HBox" and any(getattr(b, "description", "") == "accept" for b in x.children)
    ]  # fmt: skip


def test_the_error_table_reviews_extrapolations_in_compact_rows_without_a_pager_per_error(tmp_path, fake_llm):
    import ipywidgets as w

    start(tmp_path, **{"sizes__examples_per_error": 1})
    twins.iterate(rounds=1)
    s = twins.current()
    table = twins.errors(round_no=0, page_size=100).views[0]
    kids = [c for e in table.errors for c in table.children.get(e["uid"], [])]
    assert kids and all(len(cs) == 1 for cs in table.children.values()), "one extrapolation per error"
    tree = list(walk(table.widget()))
    buttons = [x for x in tree if isinstance(x, w.Button)]
    assert not any("prev" in b.description or "next" in b.description for b in buttons), "no pager, not even one"
    assert len(review_rows(table.widget())) == len(kids), "one row per extrapolated example"
    assert all(b.layout.width == "auto" and b.tooltip for b in buttons), "small buttons that say what they do"
    assert not any(isinstance(x, (w.Textarea, w.Text)) for x in tree), "no edit box until one is asked for"
    assert not any("extrapolated:" in x.value for x in tree if isinstance(x, w.HTML))
    kid, uid = kids[0], kids[0]["origin"]["from_uid"]
    row = table.controls[f"{uid}:row:{kid['id']}"]
    table.controls[f"{uid}:edit:{kid['id']}"].click()
    editor = [x for x in walk(table.widget()) if isinstance(x, w.Textarea)]
    assert [x.value for x in editor] == [kid["text"]] and table.controls[f"{uid}:text:{kid['id']}"] is editor[0]
    editor[0].value = "not saved"
    table.controls[f"{uid}:cancel:{kid['id']}"].click()
    assert not any(isinstance(x, w.Textarea) for x in walk(table.widget())) and row in walk(table.widget())
    assert next(e for e in s.examples() if e.id == kid["id"]).text == kid["text"], "cancel stores nothing"


def test_fifty_examples_review_in_fifty_one_line_rows_on_one_page():
    rows = [{"id": i, "round": 1, "kind": "extrapolated", "label": "positive", "verdict": "ok", "accepted": 1,
             "text": f"example {i} <i>says</i> " + "many words " * 40} for i in range(50)]  # fmt: skip
    calls: list[tuple] = []
    panel = ReviewPanel(rows, lambda i, a: calls.append((i, a)), lambda *a: None, page_size=50)
    box = panel.widget()
    assert len(review_rows(box)) == 50 and "next" not in panel.controls, "all fit on one page: no pager"
    assert len(list(walk(box))) <= 3 + 6 * 50, "a row is a box, a line, three buttons and its text"
    info = panel.controls["row:3"].children[-1]
    assert "example 3 &lt;i&gt;says&lt;/i&gt; many words" in info.value and "title='example 3 &lt;i&gt;" in info.value
    shown = unescape(re.sub("<[^>]+>", "", info.value.split("</code>")[-1])).strip()
    assert len(shown) == ROW_CHARS and shown.endswith("…"), "the row shows a cut text"
    panel.controls["reject:3"].click()
    assert calls == [(3, False)] and panel.controls["reject:3"].button_style == "danger"
    assert "<i>rejected</i>" in info.value and "49 accepted, 1 rejected" in panel.controls["head"].value
    paged = ReviewPanel(rows, lambda *a: None, lambda *a: None, page_size=20)
    assert len(review_rows(paged.widget())) == 20 and "next" in paged.controls, "more rows than a page: a pager"


def test_rationale_editor_replaces_rationales_before_seeding(tmp_path, fake_llm):
    res = twins.synthesize(sst2_task(), folder=tmp_path, rationales_only=True)
    editor = res.views[0]
    assert isinstance(editor, RationaleEditor) and editor.on_save is not None
    editor.widget()
    editor.controls["text:negative"].value = "clumsy editing\n\n  a dull plot  \n"
    editor.controls["save:negative"].click()
    assert twins.current().rationales["negative"] == ["clumsy editing", "a dull plot"]
    assert "saved 2" in editor.controls["status:negative"].value
    twins.synthesize()
    neg = twins.current().examples(kind="seed", label="negative")
    assert all(set(e.origin["rationales"]) <= {"clumsy editing", "a dull plot"} for e in neg)
    assert twins.rationales().views[0].on_save is None, "after seeding the editor is read-only"


def test_round_chart_draws_validation_and_test_accuracy():
    rows = [
        {"round": 0, "val_acc": 0.6, "test_acc": 0.55, "n_train": 40},
        {"round": 1, "val_acc": 0.7, "test_acc": 0.65, "n_train": 100},
    ]
    svg = RoundChart(evaluated(rows)).to_html()
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and "test 65.0%" in svg and "100" in svg
    only_val = RoundChart(evaluated([{k: v for k, v in r.items() if k != "test_acc"} for r in rows])).to_html()
    assert only_val.count("<polyline") == 1 and "validation 70.0%" in only_val
    assert "no evaluated rounds" in RoundChart([Round(0, "generated")]).to_html()


def end_labels(svg: str) -> dict[str, tuple[float, str]]:
    """Each series' end label: its baseline y and colour."""
    found = re.findall(r"<text x='[\d.]+' y='([\d.]+)' fill='(#[0-9a-f]+)'>(validation|check|test) ", svg)
    return {name: (float(y), color) for y, color, name in found}


def test_round_chart_end_labels_never_overlap():
    rows = [{"round": 0, "val_acc": 0.70, "test_acc": 0.70, "n_train": 40},
            {"round": 1, "val_acc": 0.771, "test_acc": 0.77, "n_train": 90}]  # fmt: skip
    ys = [y for y, _ in end_labels(RoundChart(evaluated(rows)).to_html()).values()]
    assert len(ys) == 2 and abs(ys[0] - ys[1]) >= 12
    assert spread([50.0, 120.0]) == [50.0, 120.0], "labels far apart stay at their points"


def test_round_chart_draws_check_accuracy_as_a_third_series_and_marks_the_best_round():
    rows = [{"round": 0, "val_acc": 0.70, "check_acc": 0.701, "test_acc": 0.699, "n_train": 40},
            {"round": 1, "val_acc": 0.772, "check_acc": 0.77, "test_acc": 0.771, "n_train": 90},
            {"round": 2, "val_acc": 0.815, "check_acc": 0.76, "test_acc": 0.75, "n_train": 130}]  # fmt: skip
    svg = RoundChart(evaluated(rows)).to_html()
    assert svg.count("<polyline") == 3 and "check 76.0%" in svg and "class='best'" not in svg
    labels = end_labels(svg)
    assert set(labels) == {"validation", "check", "test"}
    assert len({color for _, color in labels.values()}) == 3, "each series has its own colour"
    ys = sorted(y for y, _ in labels.values())
    assert all(b - a >= 12 for a, b in pairwise(ys)), "the three end labels never overlap"
    close = [{**r, "val_acc": r["check_acc"], "test_acc": r["check_acc"]} for r in rows]  # all three on one point
    ys = sorted(y for y, _ in end_labels(RoundChart(evaluated(close)).to_html()).values())
    assert len(ys) == 3 and all(b - a >= 12 for a, b in pairwise(ys))
    best = RoundChart(evaluated(rows), best=1).to_html()
    ring = re.search(r"<circle class='best' cx='([\d.]+)' cy='([\d.]+)' r='6' fill='none' stroke='(#[0-9a-f]+)'", best)
    assert ring and ring.group(3) == labels["check"][1] and "best round by check accuracy" in best
    points = re.findall(rf"<circle cx='([\d.]+)' cy='([\d.]+)' r='3' fill='{ring.group(3)}'/>", best)
    assert points[1] == (ring.group(1), ring.group(2)), "the ring sits on round 1's check point"
    plain = [{k: v for k, v in r.items() if k != "check_acc"} for r in rows]
    assert "best round by validation accuracy" in RoundChart(evaluated(plain), best=2).to_html()
    assert "check acc" in RoundChart(evaluated(rows)).to_text()


def test_headings_lead_with_check_accuracy_and_fall_back_to_validation(tmp_path, fake_llm):
    start(tmp_path / "a")
    res = twins.train()
    row = res.rounds.iloc[0]
    assert f"round 0: check accuracy {100 * row.check_acc:.1f}% (validation {100 * row.val_acc:.1f}%, optimistic" \
        in res.heading  # fmt: skip
    res = twins.iterate(rounds=1)
    assert res.heading.startswith("round 1: check accuracy ") and "check_acc" in twins.current().rounds_frame()
    best = twins.current().best_round()
    status = twins.status()
    assert f"best round {best}: check accuracy" in status.heading
    assert "class='best'" in twins.status()._repr_mimebundle_()["text/html"]
    start(tmp_path / "b", **{"check__fraction": 0})
    res = twins.train()
    assert "round 0: validation accuracy " in res.heading and "check" not in res.heading
    assert "check acc" not in repr(res)


def test_progress_view_drives_a_bar_and_a_live_sample_list(tmp_path, fake_llm):
    live = ProgressView(live=True)
    twins.synthesize(sst2_task(**{"sizes__rounds": 0}), folder=tmp_path, reporter=live)
    bar = live.controls["bar"]
    assert bar.value == bar.max == 40 and live.controls["label"].value == "40/40"
    newest = [r for r in live.samples if r["accepted"]][-1]["text"]
    assert "40 accepted so far" in live.controls["samples"].value and newest in live.controls["samples"].value
    lines: list[str] = []
    text = ProgressView(live=False, out=lines.append)
    twins.train(reporter=text)
    assert any("training the student" in line for line in lines)


def test_views_fall_back_to_text_and_html_without_widgets():
    rows = [{"id": 1, "round": 0, "kind": "seed", "label": "positive", "verdict": "ok", "accepted": 1,
             "text": "a <b>bold</b> claim"}]  # fmt: skip
    for view in (SampleBrowser(rows), ReviewPanel(rows, lambda *a: None, lambda *a: None), RoundChart([])):
        assert set(view._repr_mimebundle_()) == {"text/plain", "text/html"}, "no kernel here: no widget"
        assert set(base.bundle([view], widgets=False)) == {"text/plain", "text/html"}
    html = SampleBrowser(rows)._repr_mimebundle_()["text/html"]
    assert "&lt;b&gt;bold" in html, "user text is escaped"
    assert base.WIDGET_MIME in base.bundle([SampleBrowser(rows)], widgets=True)


def test_views_carry_stable_css_classes_in_widgets_and_html():
    rows = [{"id": 1, "round": 0, "kind": "seed", "label": "positive", "verdict": "ok", "accepted": 1, "text": "x"}]
    errors = [{"uid": "val:3", "gold": "positive", "pred": "negative", "confidence": 0.9, "text": "y"}]
    views = {
        "s3-table": TableView(rows, [("id", "id")]),
        "s3-sample-browser": SampleBrowser(rows),
        "s3-review-panel": ReviewPanel(rows, lambda *a: None, lambda *a: None),
        "s3-error-table": ErrorTable(errors, {}, 0),
        "s3-round-chart": RoundChart([]),
        "s3-rationale-editor": RationaleEditor({"positive": ["good acting"]}),
    }
    for css, view in views.items():
        assert view.widget()._dom_classes == ("s3-view", css)
        assert f"<div class='s3-view {css}'>" in base.bundle([view], widgets=False)["text/html"]
