"""Extractive question answering (SQuAD form): records, loading and the article split, SQuAD v1.1 scoring.

All of it is plain Python; the QA student (:mod:`s3_magic.student.qa`) is where torch comes in.
"""

from __future__ import annotations

from s3_magic.qa.data import QA_HUB, ArticleSplit, check_articles_disjoint, load_qa, load_qa_hub, split_by_article
from s3_magic.qa.metrics import QAScores, exact_match, normalize_answer, squad_scores, token_f1
from s3_magic.qa.records import Answer, QAExample, QAPrediction, answer_in, check_example, example_problem, span_problem

__all__ = [
    "QA_HUB",
    "Answer",
    "ArticleSplit",
    "QAExample",
    "QAPrediction",
    "QAScores",
    "answer_in",
    "check_articles_disjoint",
    "check_example",
    "exact_match",
    "example_problem",
    "load_qa",
    "load_qa_hub",
    "normalize_answer",
    "span_problem",
    "split_by_article",
    "squad_scores",
    "token_f1",
]
