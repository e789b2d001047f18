"""The QA views: the error table (escaped context trimmed around the gold and the predicted span, both marked,
EM/F1 against every human answer, the extrapolated questions reviewable beneath each error), the sample browser
and the round chart of a ``kind: qa`` run."""

from __future__ import annotations

import re

import pytest
from conftest import FAKE
from qa_tools import question_reply, squad_task

from s3_magic import twins
from s3_magic.engine.qa_steps import qa_training_examples
from s3_magic.qa.records import Answer, QAExample
from s3_magic.records import Round
from s3_magic.session import Session
from s3_magic.views.chart import RoundChart
from s3_magic.views.qa import QAErrorTable
from s3_magic.views.samples import SampleBrowser
from s3_magic.views.spans import marked_passage, windows

pytest.importorskip("ipywidgets")

FILLER = "Nothing of note happened in this sentence at all. " * 12
CONTEXT = FILLER + "In 2016 the <b>Denver</b> Broncos & friends won Super Bowl 50 in Santa Clara. " + FILLER


@pytest.fixture
def qa_llm():
    FAKE.reset(question_reply)
    yield FAKE
    FAKE.reset()


@pytest.fixture(autouse=True)
def fresh_state():
    yield
    twins.STATE.session, twins.STATE.folder = None, "s3_runs"


def span(text: str) -> Answer:
    return Answer(text, CONTEXT.index(text))


def one_error(pred: str) -> tuple[dict, dict[str, QAExample]]:
    """An error on a question whose human answers are 'Denver</b> Broncos' and 'Broncos', predicted ``pred``."""
    q = QAExample("Who won Super Bowl 50?", CONTEXT, (span("Denver</b> Broncos"), span("Broncos")), "val:7")
    error = {"uid": q.uid, "text": CONTEXT, "text_b": q.question, "gold": q.answer.text, "pred": pred,
             "confidence": 3.5}  # fmt: skip
    return error, {q.uid: q}


def marks(html: str) -> list[tuple[str, str]]:
    return re.findall(r"<mark class='([^']+)'[^>]*>(.*?)</mark>", html)


def test_a_qa_error_row_marks_both_spans_in_the_escaped_trimmed_context_with_em_and_f1():
    error, questions = one_error("Broncos & friends")
    table = QAErrorTable([error], {}, 0, questions)
    em, f1 = table.scores(error)
    # 'broncos friends' against 'broncos': P 1/2, R 1 -> 2/3; against 'denverb broncos': P 1/2, R 1/2 -> 1/2
    assert em == 0.0 and f1 == pytest.approx(2 / 3), "F1 is the best over every human answer"
    html = table.to_html()
    assert "the &lt;b&gt;<mark class='s3-gold'" in html and "<b>" not in html, "the context is escaped"
    assert "<td style='border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top'>0.67</td>" in html
    found = marks(html)
    assert ("s3-gold", "Denver&lt;/b&gt; ") in found and ("s3-gold s3-pred", "Broncos") in found
    assert ("s3-pred", " &amp; friends") in found, "the prediction's own text, escaped, is marked"
    assert "Nothing of note" in html and len(re.sub("<[^>]+>", "", html)) < len(CONTEXT), "the context is trimmed"
    assert "… " in table.to_text() and "«Denver</b> ⟨Broncos»" not in table.to_text()
    assert "«Denver</b> »«⟨Broncos⟩»⟨ & friends⟩" in table.to_text()
    exact, _ = one_error("the Broncos")
    assert table.scores(exact) == (1.0, 1.0), "articles are normalised away: an exact match"
    table.widget()
    head = table.widget().children[-1].children[0].children[0].value
    assert "EM 0 · F1 0.67" in head and {c for c, _ in marks(head)} == {"s3-gold", "s3-pred", "s3-gold s3-pred"}


def test_the_prediction_is_found_at_its_first_occurrence_and_far_spans_get_their_own_windows():
    context = "Paris is big. " + "Filler words go here. " * 30 + "The capital is Paris."
    gold = [(context.rindex("Paris"), context.rindex("Paris") + 5)]
    shown = windows(context, [*gold, (0, 5)], pad=40)
    assert len(shown) == 2 and shown[0][0] == 0 and shown[1][1] == len(context)
    html = marked_passage(context, gold, (0, 5), pad=40)
    assert marks(html) == [("s3-pred", "Paris"), ("s3-gold", "Paris")] and " … " in html


def qa_session(tmp_path, **changes) -> Session:
    """A QA run with round 0 evaluated and round 1's questions extrapolated (not yet trained on)."""
    s = twins.use(Session.create(squad_task(**changes), folder=tmp_path))
    s.synthesize()
    s.train()
    s.extrapolate()
    return s


def test_reviewing_extrapolated_questions_from_the_qa_error_table_changes_the_next_training(qa_llm, tmp_path):
    s = qa_session(tmp_path, sizes__examples_per_error=2)
    res = twins.errors(round_no=0, page_size=100)
    table = res.views[0]
    assert isinstance(table, QAErrorTable) and table.questions == s.ctx.data.qa.by_uid()
    uid = next(u for u in (e["uid"] for e in table.errors) if len(table.children.get(u, [])) == 2)
    first, second = table.children[uid]
    table.widget()
    c = table.controls
    c[f"{uid}:accept:{first['id']}"].click()
    c[f"{uid}:reject:{second['id']}"].click()
    assert f"{uid}:question:{first['id']}" not in c
    c[f"{uid}:edit:{first['id']}"].click()
    c[f"{uid}:question:{first['id']}"].value = "Which reviewer edited this question?"
    c[f"{uid}:save:{first['id']}"].click()
    stored = {e.id: e for e in s.examples()}
    assert (stored[first["id"]].accepted, stored[second["id"]].accepted) == (True, False)
    edited = stored[first["id"]]
    assert (edited.text_b, edited.edited) == ("Which reviewer edited this question?", True)
    assert edited.text == first["text"] and edited.label == first["label"], "context and answer stay"
    assert f"{uid}:question:{first['id']}" in c and "✎" in c[f"{uid}:row:{first['id']}"].children[-1].value
    questions = {q.question for q in qa_training_examples(s.ctx, 1)}
    assert "Which reviewer edited this question?" in questions and second["text_b"] not in questions
    assert s.train().n_train == len(s.examples(max_round=1, accepted=True)) == len(questions)
    chart = twins.errors(round_no=1).views[1]
    assert isinstance(chart, RoundChart) and chart.metric == "F1"
    assert chart.to_html().count("<polyline") == 3 and "F1 per round" in chart.to_html()


def test_the_qa_sample_browser_shows_question_answer_and_marked_context(qa_llm, tmp_path):
    qa_session(tmp_path)
    browser = twins.samples(page_size=50).views[0]
    assert isinstance(browser, SampleBrowser) and browser.qa
    browser.widget()
    assert "label" not in browser.controls and set(browser.controls) >= {"round", "kind", "verdict"}
    body = browser.controls["body"].value
    assert "<th style='border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top'>question</th>" in body
    row = browser.rows[0]
    assert f"<mark class='s3-gold' style='background:#c8f2c2' title='gold answer'>{row['label']}</mark>" in body
    browser.controls["kind"].value = "extrapolated"
    assert all(r["kind"] == "extrapolated" for r in browser.selected) and "seed" not in browser.controls["body"].value
    assert "question" in browser.to_text().splitlines()[1] and "«" in browser.to_text()


def test_the_round_chart_draws_f1_for_qa_rounds():
    rows = [
        Round(0, "evaluated", val_em=0.1, val_f1=0.2, check_em=0.1, check_f1=0.25, test_f1=0.3, n_train=16),
        Round(1, "evaluated", val_em=0.2, val_f1=0.4, check_em=0.2, check_f1=0.5, test_f1=0.35, n_train=30),
    ]
    chart = RoundChart(rows, best=1)
    svg = chart.to_html()
    assert chart.metric == "F1" and svg.count("<polyline") == 3 and "F1 per round" in svg
    assert "check 50.0%" in svg and "test 35.0%" in svg and "best round by check F1" in svg
    assert "accuracy" not in svg
    classification = RoundChart([Round(0, "evaluated", val_acc=0.7, n_train=10)])
    assert classification.metric == "accuracy" and "accuracy per round" in classification.to_html()
