"""Loading SQuAD-form questions into QAExample records, the errors for bad rows, and the article split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pandas as pd
import pytest

from s3_magic.errors import DataError
from s3_magic.qa import (
    Answer,
    QAExample,
    answer_in,
    check_articles_disjoint,
    check_example,
    load_qa,
    load_qa_hub,
    split_by_article,
)

SQUAD = Path(os.environ.get("S3_MAGIC_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data") / "squad"
needs_squad = pytest.mark.skipif(not (SQUAD / "dev_half.jsonl").is_file(), reason="shared SQuAD data not found")

CONTEXT = "Super Bowl 50 was played at Levi's Stadium in Santa Clara, California, on February 7, 2016."


def row(i: int = 0, title: str = "Super_Bowl_50", context: str = CONTEXT, **answers) -> dict:
    ans = answers or {"text": ["Santa Clara", "Santa Clara, California"], "answer_start": [46, 46]}
    return {"id": f"q{i}", "title": title, "context": context, "question": f"Where ({i})?", "answers": ans}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def load_error(tmp_path: Path, rows: list[dict]) -> str:
    with pytest.raises(DataError) as info:
        load_qa(write_jsonl(tmp_path / "qa.jsonl", rows))
    message = str(info.value)
    assert "\n" not in message and "qa.jsonl" in message
    return message


def test_jsonl_rows_become_examples(tmp_path):
    # U+2028 inside a context must not split the line (JSONL splits on \n only); spans after it still match
    context = "First part\u2028second part with the answer here."
    rows = [row(0), row(1, title="Other", context=context, text=["answer"], answer_start=[context.index("answer")])]
    examples = load_qa(write_jsonl(tmp_path / "qa.jsonl", rows))
    assert [e.uid for e in examples] == ["q0", "q1"]
    first = examples[0]
    assert first.answers == (Answer("Santa Clara", 46), Answer("Santa Clara, California", 46))
    assert first.answer_texts == ["Santa Clara", "Santa Clara, California"] and first.title == "Super_Bowl_50"
    assert examples[1].context == context and examples[1].answer.text == "answer"


def test_span_that_does_not_match_names_line_expected_and_found(tmp_path):
    rows = [row(0), row(1, text=["Santa Clara"], answer_start=[40])]
    message = load_error(tmp_path, rows)
    assert "line 2" in message and "'Santa Clara'" in message and "at 40" in message
    assert repr(CONTEXT[40:51]) in message


def test_empty_answers_lists_and_texts(tmp_path):
    assert "line 1 has no answer" in load_error(tmp_path, [row(0, text=[], answer_start=[])])
    assert "empty answer text" in load_error(tmp_path, [row(0, text=[""], answer_start=[0])])


def test_lists_of_different_lengths(tmp_path):
    message = load_error(tmp_path, [row(0), row(1, text=["Santa Clara", "Santa"], answer_start=[46])])
    assert "line 2" in message and "2 answer text(s) but 1 answer_start" in message


def test_missing_columns(tmp_path):
    rows = [{"id": "a", "context": CONTEXT, "question": "q?"}]
    message = load_error(tmp_path, rows)
    assert "no column(s) 'answers'" in message and "found: id, context, question" in message


def test_other_bad_rows(tmp_path):
    assert "outside the context" in load_error(tmp_path, [row(0, text=["2016."], answer_start=[len(CONTEXT)])])
    assert "not a whole number" in load_error(tmp_path, [row(0, text=["Santa"], answer_start=["x"])])
    assert "wrong form (list" in load_error(tmp_path, [{**row(0), "answers": ["Santa Clara"]}])
    assert "empty question" in load_error(tmp_path, [{**row(0), "question": " "}])
    message = load_error(tmp_path, [row(0), row(0)])
    assert "line 2 repeats id 'q0' of line 1" in message
    # every bad row is counted, the first is named
    assert "line 1" in (m := load_error(tmp_path, [row(0, text=[], answer_start=[])] * 3)) and "2 more row(s)" in m


def test_records_rows_and_csv_name_rows(tmp_path):
    with pytest.raises(DataError, match=r"the list of records row 1 \(counting from 0\) has answer"):
        load_qa([row(0), row(1, text=["Santa"], answer_start=[0])])
    frame = pd.DataFrame([{**row(0), "answers": json.dumps(row(0)["answers"])}])
    frame.to_csv(tmp_path / "qa.csv", index=False)
    (csv_example,) = load_qa(tmp_path / "qa.csv")
    assert csv_example.answer == Answer("Santa Clara", 46)
    (no_id,) = load_qa([{k: v for k, v in row(0).items() if k != "id"}], prefix="val")
    assert no_id.uid == "val:0"


def test_parquet_and_in_memory_dataset(tmp_path):
    rows = [row(0), row(1)]
    pd.DataFrame(rows).to_parquet(tmp_path / "qa.parquet")  # nested lists come back as numpy arrays
    assert load_qa(tmp_path / "qa.parquet") == load_qa(rows) == load_qa(datasets.Dataset.from_list(rows))
    with pytest.raises(DataError, match="cannot load questions from int"):
        load_qa(3)


class FakeHub:
    """``datasets.load_dataset`` answering from in-memory tables, recording what was asked."""

    def __init__(self, tables):
        self.tables, self.calls = tables, []

    def __call__(self, name, config=None, split=None, **kwargs):
        self.calls.append((name, config, split))
        if (name, config, split) not in self.tables:
            raise FileNotFoundError(f"Dataset {name!r} doesn't exist on the Hub")
        return datasets.Dataset.from_list(self.tables[name, config, split])


def test_hub_code_path(monkeypatch):
    adversarial = [{**row(0), "metadata": {"split": "validation", "model_in_the_loop": "Combined"}}]
    hidden = [{**row(1), "answers": {"text": [], "answer_start": []}}]
    hub = FakeHub(
        {
            ("UCLNLP/adversarial_qa", "adversarialQA", "validation"): adversarial,
            ("UCLNLP/adversarial_qa", "dbert", "test"): hidden,
            ("rajpurkar/squad", None, "validation"): [row(2)],
        }
    )
    monkeypatch.setattr(datasets, "load_dataset", hub)
    (example,) = load_qa_hub("adversarial_qa")
    assert example == load_qa([row(0)])[0]
    assert [e.uid for e in load_qa_hub("squad")] == ["q2"]
    with pytest.raises(DataError, match=r"has no answer .*hidden test split"):
        load_qa_hub("adversarial_qa", split="test", config="dbert")
    with pytest.raises(DataError, match="cannot load Hub dataset 'no/such'"):
        load_qa_hub("no/such")
    assert hub.calls[0] == ("UCLNLP/adversarial_qa", "adversarialQA", "validation")


def test_record_helpers():
    example = QAExample("q?", CONTEXT, [Answer("Santa Clara", 46)], uid="x")
    assert example.answers == (Answer("Santa Clara", 46),) and example.answer.end == 57
    assert check_example(example) is example
    assert example.article == CONTEXT  # untitled: grouped by its context
    with pytest.raises(DataError, match="question 'x' has answer 'Santa Clara' at 45 but the context there reads"):
        check_example(QAExample("q?", CONTEXT, (Answer("Santa Clara", 45),), uid="x"))
    with pytest.raises(DataError, match="has no answer"):
        check_example(QAExample("q?", CONTEXT, ()))
    assert answer_in(CONTEXT, "Levi's Stadium") == Answer("Levi's Stadium", 28)
    assert answer_in(CONTEXT, "Santa", 46) == Answer("Santa", 46)
    with pytest.raises(DataError, match="does not occur"):
        answer_in(CONTEXT, "Denver")
    with pytest.raises(DataError, match="context there reads"):
        answer_in(CONTEXT, "Santa", 0)


def articles(sizes: list[int]) -> list[QAExample]:
    """Questions from articles a0, a1, ... of the given sizes, two questions per paragraph."""
    out = []
    for a, size in enumerate(sizes):
        for q in range(size):
            context = f"Paragraph {q // 2} of article {a} mentions the answer."
            out.append(QAExample(f"q{q}?", context, (Answer("answer", context.index("answer")),), f"{a}-{q}", f"a{a}"))
    return out


def test_article_split_keeps_every_article_on_one_side():
    examples = articles([30, 12, 25, 8, 40, 16, 20, 9, 33, 14])
    split = split_by_article(examples, n_validation=20, n_test=30, seed=3)
    assert len(split.validation) == 20 and len(split.test) == 30
    parts = ("pool", "validation", "test")
    sides = [split.articles(p) for p in parts]
    assert all(not (a & b) for i, a in enumerate(sides) for b in sides[i + 1 :])
    contexts = [{e.context for e in getattr(split, p)} for p in parts]
    assert all(not (a & b) for i, a in enumerate(contexts) for b in contexts[i + 1 :])
    assert len(sides[1]) >= 4  # the validation questions are spread over at least validation_articles
    pool, validation, test = split  # unpacks as a tuple
    assert pool and all(e in examples for e in pool + validation + test)
    assert [examples.index(e) for e in validation] == sorted(examples.index(e) for e in validation)
    assert split_by_article(examples, 20, 30, seed=3) == split
    assert split_by_article(examples, 20, 30, seed=4) != split
    assert not split_by_article(examples, 20, 0, seed=3).test


def test_article_split_errors():
    with pytest.raises(DataError, match=r"2 article.*at least 3"):
        split_by_article(articles([10, 10]), 5, 5, seed=0)
    with pytest.raises(DataError, match="test articles hold only 20 questions, fewer than the 50"):
        split_by_article(articles([10, 10, 10, 10]), 5, 50, seed=0)
    with pytest.raises(DataError, match="validation articles hold only"):
        split_by_article(articles([10, 10, 10, 10]), 25, 5, seed=0)


def test_sets_from_separate_files_must_not_share_articles():
    first, second = articles([4, 4]), articles([4, 4, 4])
    with pytest.raises(DataError, match="test set shares article 'a0' with the validation set"):
        check_articles_disjoint(first, second)
    untitled = [QAExample(e.question, e.context, e.answers, e.uid) for e in second[-4:]]
    check_articles_disjoint(first, untitled[:0])
    with pytest.raises(DataError, match="shares the context of question"):
        check_articles_disjoint(second, untitled)


@needs_squad
def test_the_shared_squad_half():
    examples = load_qa(SQUAD / "dev_half.jsonl")
    assert len(examples) == 4961 and len({e.title for e in examples}) == 24
    assert examples[0].uid == "56be4db0acb8001400a502ec" and examples[0].answer.text == "Denver Broncos"
    assert all(1 <= len(e.answers) <= 6 for e in examples)
    split = split_by_article(examples, n_validation=200, n_test=1000, seed=0)
    assert (len(split.validation), len(split.test)) == (200, 1000)
    assert not split.articles("test") & (split.articles("validation") | split.articles("pool"))
    assert not split.articles("validation") & split.articles("pool")


def test_the_qa_package_is_light():
    code = "import s3_magic.qa, s3_magic.qa.windows, sys; print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not [m for m in ("torch", "transformers", "datasets", "pandas", "numpy") if f"'{m}'" in loaded]
