"""The extractive-QA student: window labels and span search without a tokenizer (fast), and the real
MiniLM span model fitted on SQuAD questions (slow)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from s3_magic.errors import ConfigError, DataError
from s3_magic.qa import Answer, QAExample, QAPrediction, load_qa, squad_scores
from s3_magic.qa.windows import answer_tokens, best_span, trim_around

SQUAD = Path(os.environ.get("S3_MAGIC_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data") / "squad"

CONTEXT = "hello world wide web"
#   chars: hello 0-5, world 6-11, wide 12-16, web 17-20
# window 1: [CLS] q [SEP] hello world wide [SEP]; window 2: [CLS] q [SEP] wide web [SEP]
WINDOW_1 = [None, None, None, (0, 5), (6, 11), (12, 16), None]
WINDOW_2 = [None, None, None, (12, 16), (17, 20), None]


def test_answer_tokens_in_and_out_of_a_window():
    assert answer_tokens(WINDOW_1, 6, 11) == (4, 4)
    assert answer_tokens(WINDOW_1, 0, 11) == (3, 4)
    assert answer_tokens(WINDOW_1, 8, 14) == (4, 5)  # an answer inside tokens takes the tokens that hold it
    assert answer_tokens(WINDOW_2, 6, 11) == (0, 0)  # answer before the window: the CLS label
    assert answer_tokens(WINDOW_1, 12, 20) == (0, 0)  # only partly inside
    assert answer_tokens(WINDOW_2, 12, 20) == (3, 4)
    assert answer_tokens([None, None], 0, 3, cls_index=1) == (1, 1)


def test_best_span_over_windows_maps_offsets_back_to_the_context():
    # the question token (index 1) scores highest but is not context; window 2 holds the best valid span
    w1 = ([0, 9, 0, 1.0, 2.0, 0.5, 0], [0, 9, 0, 0.5, 1.0, 0.2, 0], WINDOW_1)
    w2 = ([0, 9, 0, 2.5, 0.1, 0], [0, 9, 0, 0.0, 2.0, 0], WINDOW_2)
    assert best_span([w1, w2], CONTEXT) == QAPrediction("wide web", 12, 4.5)
    assert best_span([w1], CONTEXT) == QAPrediction("world", 6, 3.0)
    # spans longer than max_answer_length tokens are not considered
    assert best_span([w2], CONTEXT, max_answer_length=1).text in {"wide", "web"}
    assert best_span([w2], CONTEXT, max_answer_length=1).score == pytest.approx(2.5 + 0.0)


def test_best_span_falls_back_to_every_pair_and_handles_no_context():
    # with n_best 1 the top start (web) comes after the top end (hello): no valid pair, so all pairs are tried
    window = ([0, 0, 0, 0.0, 0.0, 0.1, 3.0], [0, 0, 0, 3.0, 0.0, 0.2, 0.0], [None, None, None, (0, 5), (6, 11),
              (12, 16), (17, 20)])  # fmt: skip
    assert best_span([window], CONTEXT, n_best=1) == QAPrediction("hello", 0, 3.0)
    empty = best_span([([1.0, 2.0], [1.0, 2.0], [None, None])], CONTEXT)
    assert empty.text == "" and empty.score == float("-inf")


def test_trim_around_keeps_the_answer_inside_a_window():
    tokens = [(k * 2, k * 2 + 1) for k in range(50)]  # one-character tokens, a space between them
    starts = set()
    for seed in range(20):
        lo, hi = trim_around(tokens, 40, 45, window=10, rng=random.Random(seed))
        assert lo <= 40 and hi >= 45 and (hi - lo + 1) // 2 == 10
        starts.add(lo)
    assert len(starts) > 3  # the answer's place in the window varies
    assert trim_around(tokens, 96, 99, window=10, rng=random.Random(0)) == (80, 99)  # at the very end
    assert trim_around(tokens[:8], 0, 3, window=10, rng=random.Random(0)) is None  # fits already
    assert trim_around(tokens, 0, 40, window=10, rng=random.Random(0)) is None  # the answer alone is longer


def test_options_are_checked():
    from s3_magic.student.qa import QAStudent

    with pytest.raises(ConfigError, match="stride"):
        QAStudent(max_length=96, stride=64)
    with pytest.raises(ConfigError, match="train_window must be between 1 and 189"):
        QAStudent(train_window=500)
    with pytest.raises(ConfigError, match="epochs"):
        QAStudent(epochs=0)
    with pytest.raises(ConfigError, match="call fit"):
        QAStudent().predict([QAExample("q?", CONTEXT, (Answer("web", 17),))])
    with pytest.raises(DataError, match="no training questions"):
        QAStudent().fit([])


def squad() -> list[QAExample]:
    if not (SQUAD / "dev_half.jsonl").is_file():
        pytest.skip("shared SQuAD data not found")
    return load_qa(SQUAD / "dev_half.jsonl")


@pytest.mark.slow
def test_windows_cover_an_answer_near_the_end_of_a_long_context():
    from s3_magic.student.qa import QAStudent

    long = " ".join(e.context for e in squad()[:400:40])  # ten paragraphs, well over one window
    tail = long.rsplit(" ", 6)[1]  # a word six words before the end
    answer = Answer(tail, long.rindex(tail))
    student = QAStudent(max_length=128, stride=32)
    example = QAExample("Which word is near the end?", long, (answer,))
    win = student.windows([example], random.Random(0))
    assert len(win.sample) > 3 and set(win.sample) == {0}
    covered = sorted({off for offs in win.offsets for off in offs if off is not None})
    assert covered[0][0] == 0 and covered[-1][1] == len(long.rstrip())  # every character is in some window
    labelled = [(k, s, e) for k, (s, e) in enumerate(win.labels) if (s, e) != (0, 0)]
    assert labelled and labelled[-1][0] == len(win.sample) - 1  # the last window holds the answer
    for k, s, e in labelled:
        assert long[win.offsets[k][s][0] : win.offsets[k][e][1]] == answer.text
    # consecutive windows overlap by the stride
    first_tokens = [next(off for off in offs if off is not None) for offs in win.offsets]
    last_tokens = [next(off for off in reversed(offs) if off is not None) for offs in win.offsets]
    assert all(first_tokens[k + 1][0] < last_tokens[k][1] for k in range(len(win.sample) - 1))


@pytest.mark.slow
def test_a_few_epochs_fit_sixty_questions_and_predict_spans(tmp_path):
    from s3_magic.student.qa import QAStudent

    examples = squad()
    train = random.Random(0).sample(examples, 60)
    student = QAStudent(epochs=6, lr=2e-4, train_window=96)
    seen = []
    stats = student.fit(train, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert stats["n"] == 60 and stats["windows"] == 60 and stats["examples_per_s"] > 0
    assert seen[-1][0] == seen[-1][1]
    preds = student.predict(train)
    assert len(preds) == 60
    for p, e in zip(preds, train, strict=True):
        assert e.context[p.start : p.end] == p.text and p.text
    fitted = squad_scores(preds, train)
    assert fitted.f1 > 50, fitted  # it has learnt its training questions

    student.save(str(tmp_path / "qa-model"))
    assert (tmp_path / "qa-model" / "config.json").is_file()
    from transformers import AutoModelForQuestionAnswering

    reloaded = AutoModelForQuestionAnswering.from_pretrained(str(tmp_path / "qa-model"))
    assert reloaded.qa_outputs.weight.equal(student._model.qa_outputs.weight)


@pytest.mark.slow
def test_same_seed_same_predictions():
    from s3_magic.student.qa import QAStudent

    examples = squad()
    train, probe = examples[:24], examples[2000:2010]
    first = QAStudent(epochs=1, train_window=64)
    first.fit(train, seed=3)
    again = QAStudent(epochs=1, train_window=64)
    again.fit(train, seed=3)
    assert first.predict(probe) == again.predict(probe)
