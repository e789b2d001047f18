"""Cleaning an LLM's output into one question, and the passage a question-writing prompt shows."""

from __future__ import annotations

import pytest

from s3_magic.qa.prompts import QAPrompts, passage_around
from s3_magic.qa.questions import clean_question
from s3_magic.qa.records import Answer, QAExample

COPY = "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway?"
CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway."
)


@pytest.mark.parametrize(
    ("raw", "question"),
    [
        ("In what country is Normandy located?", "In what country is Normandy located?"),
        ('Question: "In what country is Normandy located?"', "In what country is Normandy located?"),
        (
            "Sure! Here is a question: Who gave their name to Normandy?\nAnswer: the Normans",
            "Who gave their name to Normandy?",
        ),
        (
            "1. **Where did the Norse raiders come from?** They came from the north.",
            "Where did the Norse raiders come from?",
        ),
        ("\n\nQ: When did the Normans name Normandy? (10th century)", "When did the Normans name Normandy?"),
    ],
)
def test_the_first_question_is_kept_without_lead_ins_quotes_or_markdown(raw, question):
    got = clean_question(raw, answer="France", context=CONTEXT)
    assert (got.text, got.reason) == (question, None)


@pytest.mark.parametrize(
    ("raw", "answer", "reason"),
    [
        ("", "France", "empty"),
        ("The Normans lived in France.", "France", "not_a_question"),
        ("Why?", "France", "too_short"),
        ("Which country in Europe, France or Spain, holds Normandy?", "France", "contains_answer"),
        ("What is the 10th and 11th centuries?", "10th and 11th centuries", "contains_answer"),
        (COPY, "Denmark", "contains_answer"),
        (COPY, "Norse", "contains_answer"),
        (COPY, "the 10th", "copies_context"),
    ],
)
def test_what_is_not_a_usable_question_is_rejected_with_its_reason(raw, answer, reason):
    assert clean_question(raw, answer=answer, context=CONTEXT).reason == reason


def test_word_bounds_and_whole_word_answers():
    long = "What " + " ".join(["very"] * 45) + " long question is this?"
    assert clean_question(long, "x", CONTEXT, max_words=40).reason == "too_long"
    # "Norway" inside "Norwayan" is not the answer given away; articles and case do not hide it
    assert clean_question("Who were the Norwayan raiders of old?", "Norway", CONTEXT).reason is None
    assert clean_question("Was THE Normandy region named after them?", "normandy", CONTEXT).reason == "contains_answer"


def test_the_passage_keeps_whole_sentences_around_the_answer():
    sentences = [f"Sentence number {i} says something about the topic at hand." for i in range(20)]
    context = " ".join(sentences)
    start = context.index("number 10")
    answer = Answer("number 10", start)
    passage = passage_around(context, answer, chars=200)
    assert answer.text in passage and passage.startswith("... ") and passage.endswith(" ...")
    assert len(passage) <= 200 + 8 and "Sentence number 10 says" in passage
    inner = passage.removeprefix("... ").removesuffix(" ...")
    assert inner.startswith("Sentence number") and inner.endswith("at hand."), "cut at sentence ends"
    assert passage_around(CONTEXT, Answer("France", CONTEXT.index("France")), chars=1000) == CONTEXT


def test_seed_and_error_prompts_show_the_answer_and_the_real_question_as_the_llms_own():
    prompts = QAPrompts(chars=600)
    answer = Answer("France", CONTEXT.index("France"))
    demo = QAExample(
        "Who were the Normans descended from?", CONTEXT, (Answer("Norse raiders", CONTEXT.index("Norse")),)
    )
    seed = prompts.question(CONTEXT, answer, "seed:0", [demo])
    roles = [m["role"] for m in seed.messages]
    assert roles == ["system", "user", "assistant", "user"] and seed.messages[2]["content"] == demo.question
    assert '"France"' in seed.messages[-1]["content"] and seed.meta["answer_start"] == answer.start
    error = prompts.error(QAExample("Where is Normandy?", CONTEXT, (answer,), "val:1"), "r1:val:1:0")
    assert [m["role"] for m in error.messages] == ["system", "user", "assistant", "user"]
    assert error.messages[2]["content"] == "Where is Normandy?" and '"France"' in error.messages[3]["content"]
    assert prompts.question(CONTEXT, answer, "seed:1", [demo]).messages == seed.messages, "samples share messages"
