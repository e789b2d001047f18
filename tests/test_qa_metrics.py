"""SQuAD v1.1 scoring: the official normalisation, exact match and token F1 (max over answers), corpus means."""

from __future__ import annotations

import pytest

from s3_magic.qa import Answer, QAExample, QAPrediction, exact_match, normalize_answer, squad_scores, token_f1


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The Denver Broncos!", "denver broncos"),
        ("  an   Apple,  a pear  ", "apple pear"),
        ("U.S. rock-and-roll", "us rockandroll"),  # ASCII punctuation is deleted, not turned into spaces
        ("theater anthem Athens", "theater anthem athens"),  # articles only as whole words
        ("24–10", "24–10"),  # the en dash is not in string.punctuation, so it stays
        ("The", ""),
    ],
)
def test_normalisation(text, normal):
    assert normalize_answer(text) == normal


def test_exact_match_ignores_case_articles_and_punctuation():
    assert exact_match("The Denver Broncos", ["Denver Broncos"]) == 1.0
    assert exact_match("DENVER broncos.", ["Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0
    assert exact_match("24–10", ["24-10"]) == 0.0  # as the official script: the hyphen goes, the en dash stays


def test_token_f1_by_hand():
    # prediction "denver" vs "denver broncos": precision 1, recall 1/2 -> 2/3
    assert token_f1("Denver", ["Denver Broncos"]) == pytest.approx(2 / 3)
    # "broncos beat panthers" vs "denver broncos": 1 common token, P 1/3, R 1/2 -> 2*(1/6)/(5/6) = 0.4
    assert token_f1("the Broncos beat the Panthers", ["Denver Broncos"]) == pytest.approx(0.4)
    # repeated tokens count once per match: "x x y" vs "x y": common 2, P 2/3, R 1 -> 0.8
    assert token_f1("x x y", ["x y"]) == pytest.approx(0.8)
    assert token_f1("Carolina Panthers", ["Denver Broncos"]) == 0.0


def test_best_over_the_human_answers():
    golds = ["Levi's Stadium", "Santa Clara, California"]
    # vs the second: P 1, R 2/3 -> 0.8; vs the first: nothing in common
    assert token_f1("Santa Clara", golds) == pytest.approx(0.8)
    assert exact_match("Santa Clara", golds) == 0.0
    assert exact_match("Levis Stadium", golds) == 1.0


def test_empty_prediction_and_empty_normal_forms():
    assert exact_match("", ["Denver Broncos"]) == 0.0
    assert token_f1("", ["Denver Broncos"]) == 0.0
    # both normalise to nothing: v1.1 gives EM 1 but F1 0 (no common token)
    assert exact_match("The", ["a"]) == 1.0
    assert token_f1("The", ["a"]) == 0.0


def test_corpus_means_in_percent():
    def ex(*answers: str) -> QAExample:
        context = " ".join(answers)
        return QAExample("q?", context, tuple(Answer(a, context.index(a)) for a in answers))

    gold = [ex("Denver Broncos"), ex("Denver Broncos"), ex("1990", "in 1990")]
    preds = ["the Denver Broncos", QAPrediction("Denver", 0, 1.0), "1991"]
    scores = squad_scores(preds, gold)
    assert scores.n == 3
    assert scores.exact_match == pytest.approx(100 / 3)
    assert scores.f1 == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    assert squad_scores(["x"], [["x", "y"]]).as_dict() == {"exact_match": 100.0, "f1": 100.0, "n": 1}
    assert squad_scores([], []).n == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 predictions for 1 questions"):
        squad_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one gold answer"):
        token_f1("a", [])
    with pytest.raises(TypeError, match="not one string"):
        exact_match("a", "a")
