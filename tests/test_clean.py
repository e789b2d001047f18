"""Cleaning raw LLM outputs and rejecting duplicates."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from conftest import needs_data

from s3_magic.clean import REASONS, Cleaned, Deduper, clean_text, filter_outputs
from s3_magic.dedup import jaccard, normalize
from s3_magic.errors import ConfigError

ACCEPTED = [
    ('Sure! Here is a positive review:\n\n"An absolute delight from start to finish."\n\nI hope this helps!',
     "An absolute delight from start to finish."),
    ("1. The plot was dull.", "The plot was dull."),
    ("1. The plot was dull.\n2. The acting was wooden.\n3. Boring.", "The plot was dull."),
    ("Review: A tender, funny and moving film.", "A tender, funny and moving film."),
    ("**Positive review:** A tender, funny and moving film.", "A tender, funny and moving film."),
    ("Hypothesis: The company has a new CEO.", "The company has a new CEO."),
    ('Hypothesis: "The man is sleeping."', "The man is sleeping."),
    ("Premise: Dana Reeve died of cancer.\nHypothesis: Dana Reeve is dead.", "Dana Reeve is dead."),
    ("“It’s a gorgeous, heartfelt film that earns a tear.”", "It’s a gorgeous, heartfelt film that earns a tear."),
    ("\"The film's \"heart\" is missing, and it shows.\"", "The film's \"heart\" is missing, and it shows."),
    ('"Great" is the word, and "awful" is another one.', '"Great" is the word, and "awful" is another one.'),
    ("'An utterly charming film.'", "An utterly charming film."),
    ("'Tis a fine film, truly one of the year's best.", "'Tis a fine film, truly one of the year's best."),
    ("Certainly! Here's a short movie review with a positive sentiment:\n\n**\"A Triumph of Storytelling\"**\n\n"
     "This film weaves humor and heart into a story that lingers.\n\nLet me know if you would like another one!",
     "This film weaves humor and heart into a story that lingers."),
    ("Sure, the plot is thin, but the acting is superb.", "Sure, the plot is thin, but the acting is superb."),
    ("I'm sorry, but I can't recommend this film to anyone.", "I'm sorry, but I can't recommend this film to anyone."),
    ("I can't help but love every minute of this film.", "I can't help but love every minute of this film."),
    ("- A bold, brilliant piece of cinema.", "A bold, brilliant piece of cinema."),
    ("Okay.\n\nThe cinematography is stunning and the score soars.",
     "The cinematography is stunning and the score soars."),
    ('Here is one:\n"Dull, lifeless and far too long."\nNote: This review expresses a negative sentiment.',
     "Dull, lifeless and far too long."),
    ("Title: Midnight Run\nSentiment: Positive\nReview: A breezy, charming chase comedy with real heart.",
     "A breezy, charming chase comedy with real heart."),
    ('Option 1: "A masterclass in tension."\nOption 2: "A gripping thriller."', "A masterclass in tension."),
    ('"A masterclass in tension."\n\n"A gripping, relentless thriller."', "A masterclass in tension."),
    ("Review 1:\nA joyous ride from start to end.\n\nReview 2:\nLoved every second of it.",
     "A joyous ride from start to end."),
    ("A heartfelt story with a brilliant cast. (Positive)", "A heartfelt story with a brilliant cast."),
    ("A heartfelt story with a brilliant cast. (15 words)", "A heartfelt story with a brilliant cast."),
    ("<|im_start|>assistant\nA heartfelt story with a brilliant cast.<|im_end|>\n<|im_start|>user\nmore",
     "A heartfelt story with a brilliant cast."),
    ('"A quietly devastating drama." - A satisfied viewer', "A quietly devastating drama."),
    ("The plot twists keep you guessing. I hope this helps! Let me know if you need more.",
     "The plot twists keep you guessing."),
    ('"An absolute delight from start to finish', "An absolute delight from start to finish"),
    ("Here's the thing: this movie is simply too long for its own good.",
     "Here's the thing: this movie is simply too long for its own good."),
    ("This is the best movie I have seen this year, no doubt.",
     "This is the best movie I have seen this year, no doubt."),
    ("Sure thing! Here's a hypothesis that is entailed by the premise:\n\nThe company announced layoffs.",
     "The company announced layoffs."),
    ("### Positive Review\n\nA gorgeous, soulful film.", "A gorgeous, soulful film."),
    ("Positive\n\nA gorgeous, soulful film.", "A gorgeous, soulful film."),
    ("A gorgeous, soulful film.\n\nSentiment: Positive", "A gorgeous, soulful film."),
    ("A gorgeous film that *really* delivers on its promise.", "A gorgeous film that really delivers on its promise."),
    ("A gorgeous film.\n\nThis review highlights the visuals and the acting.", "A gorgeous film."),
    ("Absolutely! Here’s a positive review: It’s a warm, witty crowd-pleaser.", "It’s a warm, witty crowd-pleaser."),
    ("**Review:**\n\n*An unforgettable, haunting masterpiece.*", "An unforgettable, haunting masterpiece."),
    ("<think>The user wants a review.</think>\nA haunting masterpiece with a stellar cast.",
     "A haunting masterpiece with a stellar cast."),
    ("```\nA haunting masterpiece with a stellar cast.\n```", "A haunting masterpiece with a stellar cast."),
    ("A haunting masterpiece with a stellar cast.\n\nWrite a negative review of the film.",
     "A haunting masterpiece with a stellar cast."),
    ("Positive sentiment: The film was a warm and charming delight.", "The film was a warm and charming delight."),
    ("Of course! Here are three positive reviews:\n\n1. \"A joyous ride, start to end.\"\n2. \"Loved it.\"",
     "A joyous ride, start to end."),
    ("positive review:   this movie rocks\tand i  loved the music.", "this movie rocks and i loved the music."),
    ("Sure! Here's a movie review:\n\nI went in expecting a thriller and got a slog.\n\n"
     "Even the usually reliable lead seems bored.\n\nI hope this review helps you decide!",
     "I went in expecting a thriller and got a slog. Even the usually reliable lead seems bored."),
]  # fmt: skip

REJECTED = [
    ("", "empty"),
    ("   \n  ", "empty"),
    ("Here is a positive review of the movie.", "empty"),
    ("Sure!", "empty"),
    ("I'm sorry, but I can't write that review.", "refusal"),
    ("As an AI language model, I don't have opinions. But here is a review: great film.", "refusal"),
    ("I apologize, but I cannot fulfill this request.", "refusal"),
    ("Unfortunately, I am unable to provide a review of this film.", "refusal"),
    ("Sure!\nI'm sorry, but I cannot help with that request.", "refusal"),
    ("Write a positive movie review in one sentence.", "prompt_echo"),
    ("Write only the movie review itself.", "prompt_echo"),
    ("You are a helpful assistant that writes movie reviews.", "prompt_echo"),
    ("12345 !!! ??? ### 678", "not_text"),
    ('def review():\n    return "good"', "not_text"),
    ('{"review": "A fine film", "label": 1}', "not_text"),
    ("The movie was great. The movie was great. The movie was great. The movie was great.", "repetitive"),
    ("good good good good good good good good good good", "repetitive"),
    ("Good.", "too_short"),
    ("Review: Loved it!", "too_short"),
    (" ".join(f"word{i}" for i in range(151)), "too_long"),
]

SENTIMENT = {"expected_label_word": "positive", "other_label_words": ["negative"]}


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_outputs_are_cleaned(raw: str, expected: str) -> None:
    assert clean_text(raw, **SENTIMENT) == Cleaned(expected, None)


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_rejected_outputs_get_a_reason(raw: str, reason: str) -> None:
    cleaned = clean_text(raw, **SENTIMENT)
    assert cleaned.reason == reason
    assert not cleaned.accepted
    assert reason in REASONS


def test_rejected_output_keeps_its_cleaned_text() -> None:
    cleaned = clean_text('Negative review: "The film was a total mess."', **SENTIMENT)
    assert cleaned == Cleaned("The film was a total mess.", "wrong_label")


@pytest.mark.parametrize(
    "raw",
    [
        "Negative review: The film was a total mess.",
        'Sure, here\'s a negative review: "The film was a total mess from start to end."',
        "Sentiment: Negative\nThe film was a total mess.",
        "**Negative Review**\n\nThe film was a total mess.",
        "The film was a total mess. (Negative)",
    ],
)
def test_header_naming_another_label_is_wrong_label(raw: str) -> None:
    assert clean_text(raw, **SENTIMENT).reason == "wrong_label"
    assert clean_text(raw, expected_label_word="negative", other_label_words=["positive"]).reason is None
    assert clean_text(raw).reason is None  # no labels given: nothing to compare with


def test_multi_word_labels_match_longest_first() -> None:
    entailed = {"expected_label_word": "entailed", "other_label_words": ["not entailed"]}
    not_entailed = {"expected_label_word": "not_entailment", "other_label_words": ["entailment"]}
    assert clean_text("Not entailed hypothesis: Bacteria is winning.", **entailed).reason == "wrong_label"
    assert clean_text("Entailed hypothesis: Bacteria is winning.", **entailed).reason is None
    assert clean_text("Entailment: Bacteria is winning the war.", **not_entailed).reason == "wrong_label"
    assert clean_text("Not entailment: Bacteria is winning the war.", **not_entailed).reason is None


def test_label_words_inside_the_content_are_not_a_wrong_label() -> None:
    raw = "Review: Critics were negative, but I found it moving and smart."
    assert clean_text(raw, **SENTIMENT) == Cleaned("Critics were negative, but I found it moving and smart.", None)


def test_copying_a_line_or_quote_of_the_prompt_is_prompt_echo() -> None:
    premise = "Dana Reeve died of lung cancer at age 44."
    prompt = f"Premise: {premise}\nWrite one short hypothesis sentence that is entailed given the premise."
    assert clean_text(premise, prompt=prompt).reason == "prompt_echo"
    assert clean_text("Dana Reeve has died.", prompt=prompt).reason is None
    prompt = 'Here is a negative movie review: "A film about nothing at all."\nWrite a new negative movie review.'
    assert clean_text("A film about nothing at all!", prompt=prompt).reason == "prompt_echo"
    assert clean_text("A film about nothing at all!").reason is None


def test_length_limits() -> None:
    text = "one two three four five six"
    assert clean_text(text, min_words=6).reason is None
    assert clean_text(text, min_words=7).reason == "too_short"
    assert clean_text(text, max_words=6).reason is None
    assert clean_text(text, max_words=5).reason == "too_long"
    assert clean_text(text, max_chars=len(text)).reason is None
    assert clean_text(text, max_chars=len(text) - 1).reason == "too_long"


def test_bad_limits_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        clean_text("fine text here", min_words=10, max_words=5)


def test_cleaned_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        clean_text("A fine film indeed.").text = "x"  # type: ignore[misc]


# --- dedup ------------------------------------------------------------------------------------------------


def test_normalize_ignores_case_punctuation_and_spacing() -> None:
    assert normalize("  The FILM’s   great!!  ") == normalize("the films great") == "the films great"


def test_exact_duplicate_after_normalisation() -> None:
    d = Deduper()
    assert d.check("An absolute delight from start to finish.") is None
    d.add("An absolute delight from start to finish.")
    assert d.check("an absolute delight, from start to finish!") == "duplicate"
    assert d.check("A completely different sentence about a dull film.") is None
    assert len(d) == 1


def test_near_duplicate_against_accepted_texts() -> None:
    d = Deduper(threshold=0.9)
    base = "The acting is superb and the story kept me hooked until the very last scene of the film."
    d.add(base)
    near = "The acting is superb and the story kept me hooked until the very last scenes of the film."
    assert jaccard(base, near) >= 0.9
    assert d.check(near) == "near_duplicate"
    far = "The acting is wooden and the story bored me long before the final scene of the movie."
    assert jaccard(base, far) < 0.9
    assert d.check(far) is None


def test_threshold_decides_near_duplicates() -> None:
    a = "A gorgeous, soulful film with a wonderful cast and a moving score."
    b = "A gorgeous, soulful movie with a wonderful cast and a moving score."
    sim = jaccard(a, b)
    assert 0.5 < sim < 0.95
    below, above = Deduper(threshold=sim - 0.01), Deduper(threshold=min(1.0, sim + 0.01))
    below.add(a)
    above.add(a)
    assert below.check(b) == "near_duplicate"
    assert above.check(b) is None
    exact_only = Deduper(threshold=1.0)
    exact_only.add(a)
    assert exact_only.check(b) is None
    assert exact_only.check(a.upper()) == "duplicate"


def test_reference_copies_are_reported_with_their_tag_first() -> None:
    d = Deduper()
    d.add_reference(["The plot is a mess but the lead actress shines in every scene."], "validation")
    d.add_reference(["A dull, lifeless retread of better films from the same decade."], "test")
    d.add("A dull, lifeless retread of better films from the same decade.")  # accepted before: reference wins
    assert d.check("the plot is a mess, but the lead actress shines in every scene") == "copies_validation"
    near = "The plot is a mess but the lead actress shines in all her scenes."
    assert jaccard(near, "The plot is a mess but the lead actress shines in every scene.") < 0.9
    assert d.check(near) is None
    near = "The plot is a mess but the lead actress shines in every scenes."
    assert d.check(near) == "copies_validation"
    assert d.check("A dull, lifeless retread of better films from the same decade!") == "copies_test"
    assert d.check("Something else entirely, with new words and a new idea.") is None


def test_reference_threshold_can_differ() -> None:
    ref = "The plot is a mess but the lead actress shines in every scene."
    near = "The plot is a mess but the lead actor shines in every scene."
    strict = Deduper(threshold=0.9, reference_threshold=min(1.0, jaccard(ref, near) - 0.05))
    strict.add_reference([ref], "validation")
    assert strict.check(near) == "copies_validation"
    loose = Deduper(threshold=0.9, reference_threshold=1.0)
    loose.add_reference([ref], "validation")
    assert loose.check(near) is None


def test_check_does_not_register_but_check_and_add_does() -> None:
    d = Deduper()
    text = "A small, perfect film about friendship and loss."
    assert d.check(text) is None
    assert d.check(text) is None
    assert d.check_and_add(text) is None
    assert d.check_and_add(text) == "duplicate"


@pytest.mark.parametrize(("kwargs", "tag"), [({"threshold": 0.0}, "validation"), ({"threshold": 1.5}, "validation"),
                                             ({}, "Validation set")])  # fmt: skip
def test_bad_settings_raise_config_error(kwargs: dict, tag: str) -> None:
    with pytest.raises(ConfigError):
        Deduper(**kwargs).add_reference(["x y z"], tag)


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [
        "film",
        "movie",
        "plot",
        "actor",
        "scene",
        "story",
        "score",
        "music",
        "script",
        "light",
        "dark",
        "funny",
        "sad",
        "dull",
        "long",
        "cold",
        "warm",
        "bold",
    ]
    texts = []
    for _ in range(n):
        base = " ".join(rng.choice(words) for _ in range(rng.randint(6, 20)))
        texts.append(base)
        if rng.random() < 0.3:  # a near copy: one word dropped or doubled, or a letter changed
            w = base.split()
            i = rng.randrange(len(w))
            edit = rng.choice(["drop", "double", "letter"])
            if edit == "drop":
                del w[i]
            elif edit == "double":
                w.insert(i, w[i])
            else:
                w[i] = w[i][:-1] + "x"
            texts.append(" ".join(w))
    return texts


def _trigrams(text: str) -> frozenset[str]:
    padded = f" {normalize(text)} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@pytest.mark.parametrize("threshold", [0.9, 0.7])
def test_indexed_search_agrees_with_pairwise_comparison(threshold: float) -> None:
    texts = _corpus(400, seed=int(threshold * 10))
    d = Deduper(threshold=threshold)
    accepted: list[frozenset[str]] = []
    seen: set[str] = set()
    reasons = []
    for text in texts:
        grams = _trigrams(text)
        if normalize(text) in seen:
            expected = "duplicate"
        elif any(len(grams & a) / len(grams | a) >= threshold for a in accepted):
            expected = "near_duplicate"
        else:
            expected = None
            accepted.append(grams)
            seen.add(normalize(text))
        got = d.check_and_add(text)
        reasons.append(got)
        assert got == expected, text
    assert "near_duplicate" in reasons and None in reasons


def test_results_are_deterministic() -> None:
    texts = _corpus(200, seed=3)
    assert [Deduper(0.8).check_and_add(t) for t in texts] == [Deduper(0.8).check_and_add(t) for t in texts]
    one, two = Deduper(0.8), Deduper(0.8)
    assert [one.check_and_add(t) for t in texts] == [two.check_and_add(t) for t in texts]


def test_filter_outputs_cleans_and_drops_repeats() -> None:
    d = Deduper()
    d.add_reference(["A chilly, distant film that never finds its heart."], "validation")
    raws = [
        'Sure! Here is one:\n"A warm, funny and generous film."',
        "1. A warm, funny and generous film!",
        "I'm sorry, but I can't help with that.",
        "A chilly, distant film that never finds its heart.",
        "Review: A clever script and a cast that clearly loves it.",
    ]
    assert filter_outputs(raws, d) == [
        ("A warm, funny and generous film.", None),
        (None, "duplicate"),
        (None, "refusal"),
        (None, "copies_validation"),
        ("A clever script and a cast that clearly loves it.", None),
    ]
    assert len(d) == 2
    assert filter_outputs(["Good.", "A fine and lovely film."], min_words=6) == [(None, "too_short")] * 2


@pytest.mark.parametrize(
    "raw",
    [
        "The re-written negative movie review is: it drags on and on.",
        "I'd like to explore a different aspect of the original negative review instead.",
        "The review you provided seems to suggest a softer approach to criticism.",
        "This movie review has a predominantly negative tone and a clear message.",
        "Your review of the film was kind, and the sequel exceeded every expectation.",
    ],
)
def test_talk_about_the_task_is_meta_talk(raw):
    assert clean_text(raw, **SENTIMENT).reason == "meta_talk"


def test_real_sentences_are_not_meta_talk():
    """No SST-2 sentence (dev, and the first 20,000 of train) is rejected as talk about the task."""
    data = needs_data() / "sst2"
    for name in ("dev.jsonl", "train.jsonl"):
        for line in (data / name).read_text().splitlines()[:20000]:
            row = json.loads(line)
            labels = {"expected_label_word": row["label"], "other_label_words": ["positive", "negative"]}
            assert clean_text(row["text"], min_words=1, **labels).reason != "meta_talk", row["text"]
