"""Prompt templates: domain-free defaults for every kind of task, and real validation examples as demonstrations
in the seed and rationale steps (provenance, determinism, and no check or test text in any prompt)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import FAKE, fake_calls

from s3_magic.engine.rationales import demonstration_uids
from s3_magic.engine.seed import plan_seed
from s3_magic.errors import ConfigError
from s3_magic.example import Example
from s3_magic.llm.base import Prompt
from s3_magic.prompts import _KNOWN, PAIR, SINGLE, Prompts
from s3_magic.session import Session
from s3_magic.task import TaskSpec

# words of one domain or another that no default template may bring in by itself
DOMAIN_WORDS = ["film", "movie", "review", "opinion", "sentiment", "critic", "news", "article", "premise",
                "hypothesis", "entail", "question", "tweet", "product"]  # fmt: skip
LEFTOVER = re.compile(r"\$\{?(?:" + "|".join(sorted(_KNOWN, key=len, reverse=True)) + r")\b")
TRICKY = "costs {price} and $5 {0} ${x} $label %s"


def task(**fields) -> TaskSpec:
    return TaskSpec.from_dict({"name": "t", "validation": {"path": "unused.jsonl"}, **fields})


TASKS = {
    "sentiment": task(labels=["negative", "positive"], prompts={"text_kind": "sentence"}),
    "topic": task(
        labels={
            "World": "the article is about world politics or events",
            "Sports": "the article is about sport",
            "Business": "the article is about companies or the economy",
            "Sci/Tech": {"description": "the article is about science or technology", "word": "science and tech"},
        },
        prompts={"text_kind": "news article", "length_hint": "Write two sentences."},
    ),
    "entailment": task(
        kind="pair",
        labels={
            "entailment": {"word": "definitely true", "description": "it follows from the premise"},
            "not_entailment": {"word": "false or not stated"},
        },
        validation={"path": "unused.jsonl", "text_b": "b"},
        prompts={"first_name": "Premise"},
    ),
    "question_pair": task(
        kind="pair",
        labels={"duplicate": {"word": "a rewording"}, "different": {"word": "a different question"}},
        validation={"path": "unused.jsonl", "text_b": "b"},
        prompts={"first_name": "question", "second_name": "second question", "text_kind": "question"},
    ),
}


def rendered(spec: TaskSpec, label_name: str, text: str = "Some real text here.") -> dict[str, Prompt]:
    """Every prompt kind for one label, the real example texts being ``text`` (and ``text_b``)."""
    p = Prompts(spec)
    label = spec.label(label_name)
    other = "A second real text." if spec.is_pair else None
    real = [Example(text, label_name, other, "val:1"), Example(text + " Again.", label_name, other, "val:2")]
    context = text if spec.is_pair else None
    out = {
        "rationale": p.rationale(label, 10, "0"),
        "rationale_examples": p.rationale(label, 10, "0", examples=real),
        "seed_rationales": p.seed(label, ["one reason", "another reason"], "0", context=context),
        "seed_plain": p.seed(label, [], "0", context=context),
        "seed_demos": p.seed(label, [], "0", context=context, demonstrations=real),
        "seed_demos_rationales": p.seed(label, ["one reason"], "0", context=context, demonstrations=real),
        "zerogen": p.zerogen(label, "0", context=context),
        "error": p.error(label, real[0], "0"),
    }
    return out


def task_words(spec: TaskSpec, text: str) -> str:
    p = spec.prompts
    parts = [p.text_kind, p.first_name, p.second_name, p.length_hint, text]
    parts += [w for lab in spec.labels for w in (lab.prompt_word, lab.description)]
    return " ".join(parts).lower()


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_every_default_prompt_fits_the_task_and_names_no_other_domain(kind):
    spec = TASKS[kind]
    for label in spec.labels:
        for name, prompt in rendered(spec, label.name).items():
            contents = [m["content"] for m in prompt.messages]
            for content in contents:
                assert not LEFTOVER.search(content), (kind, name, content)
                lowered = content.lower()
                for word in DOMAIN_WORDS:
                    assert word not in lowered or word in task_words(spec, "Some real text here."), (
                        f"{kind} {name}: default prompt says {word!r}: {content!r}"
                    )
            last = contents[-1]
            assert label.prompt_word in last, (kind, name, last)
            if spec.is_pair:
                assert spec.prompts.first_name in last and spec.prompts.second_name in last, (kind, name, last)
            else:
                assert spec.prompts.text_kind in last, (kind, name, last)
            if name.startswith("rationale") and label.description:
                assert label.description in last
            if spec.prompts.length_hint and name not in ("rationale", "rationale_examples", "zerogen"):
                assert spec.prompts.length_hint in last


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_user_text_with_braces_and_dollars_is_kept_verbatim(kind):
    spec = TASKS[kind]
    label = spec.labels[0].name
    prompts = rendered(spec, label, text=TRICKY)
    everything = {name: "\n".join(m["content"] for m in pr.messages) for name, pr in prompts.items()}
    for name in ("rationale_examples", "seed_demos", "seed_demos_rationales", "error"):
        assert TRICKY in everything[name], (kind, name)
    if spec.is_pair:
        assert TRICKY in everything["seed_plain"] and TRICKY in everything["zerogen"]
    demos = [m for m in prompts["seed_demos"].messages if m["role"] == "assistant"]
    assert [m["content"] for m in demos] == (
        ["A second real text."] * 2 if spec.is_pair else [TRICKY, TRICKY + " Again."]
    )


def test_the_defaults_themselves_name_no_domain():
    for templates in (SINGLE, PAIR):
        for name, text in templates.items():
            for word in ("film", "movie", "review", "opinion", "sentiment", "news", "article"):
                assert word not in text.lower(), (name, word)


def test_default_seed_and_zerogen_prompts_are_unchanged():
    """The cache keys of runs made before demonstrations existed still match (the template text is the same)."""
    spec = task(labels=["negative", "positive"], prompts={"text_kind": "movie review", "length_hint": "One sentence."})
    p = Prompts(spec)
    pos = spec.label("positive")
    want = "Write a positive movie review that talks about: a; b. One sentence. Write only the movie review itself."
    assert p.seed(pos, ["a", "b"], "seed:0").hash == Prompt.user(want, "seed:0").hash
    plain = "Write a positive movie review. One sentence. Write only the movie review itself."
    assert p.seed(pos, [], "0").hash == Prompt.user(plain).hash == p.zerogen(pos, "0").hash
    rte = TASKS["entailment"]
    seed = Prompts(rte).seed(rte.label("entailment"), [], "0", context="A cat sleeps.")
    assert seed.messages == (
        {"role": "user", "content": "Premise: A cat sleeps.\nWrite one short hypothesis sentence that is definitely "
         "true given the Premise. Write only the sentence."},
    )  # fmt: skip


def test_seed_demonstrations_are_the_llms_own_earlier_answers():
    spec = TASKS["topic"]
    p = Prompts(spec)
    sports = spec.label("Sports")
    real = [Example(f"Real sports text {i}.", "Sports", uid=f"val:{i}") for i in range(3)]
    msgs = p.seed(sports, [], "0", demonstrations=real).messages
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 3 + ["user"]
    assert [m["content"] for m in msgs[1::2]] == [e.text for e in real]
    assert msgs[0]["content"] == p.seed(sports, [], "0").messages[0]["content"], "the plain request comes first"
    assert msgs[2]["content"].startswith("Write another Sports news article") and msgs[-1] == msgs[2]
    with_reasons = p.seed(sports, ["a cup final"], "0", demonstrations=real).messages
    assert with_reasons[:-1] == msgs[:-1]
    assert with_reasons[-1]["content"] == p.seed(sports, ["a cup final"], "0").messages[0]["content"]
    system = Prompts(spec.updated({"prompts.system": "Be brief."}))
    assert system.seed(sports, [], "0", demonstrations=real).messages[0] == {"role": "system", "content": "Be brief."}


def test_pair_seed_demonstrations_ask_with_their_own_first_text():
    spec = TASKS["entailment"]
    p = Prompts(spec)
    yes = spec.label("entailment")
    real = [Example("A man sleeps.", "entailment", "Someone rests.", "val:4")]
    msgs = p.seed(yes, [], "0", context="Cats purr.", demonstrations=real).messages
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"] == p.seed(yes, [], "0", context="A man sleeps.").messages[0]["content"]
    assert msgs[1]["content"] == "Someone rests."
    assert msgs[2]["content"] == p.seed(yes, [], "0", context="Cats purr.").messages[0]["content"]


def test_new_templates_can_be_overridden_and_are_checked():
    spec = TASKS["sentiment"].updated(
        {"prompts.seed_again": "One more $label $text_kind, please.", "prompts.rationale_examples": "Seen:\n$examples"}
    )
    p = Prompts(spec)
    pos = spec.label("positive")
    real = [Example("good {x} $5", "positive", uid="val:1")]
    assert p.seed(pos, [], "0", demonstrations=real).messages[-1]["content"] == "One more positive sentence, please."
    assert p.rationale(pos, 3, "0", examples=real).messages[0]["content"].startswith("Seen:\n- good {x} $5\n\n")
    for name in ("seed_again", "rationale_examples"):
        with pytest.raises(ConfigError, match=rf"prompts\.{name} uses unknown placeholder"):
            Prompts(TASKS["sentiment"].updated({f"prompts.{name}": "Write $lable."}))


@pytest.mark.parametrize(
    "key, value",
    [("demonstrations", -1), ("demonstrations", 11), ("rationale_demonstrations", -1),
     ("rationale_demonstrations", 11), ("demonstrations", "many")],
)  # fmt: skip
def test_demonstration_settings_are_checked(key, value):
    with pytest.raises(ConfigError, match=rf"sizes\.{key}"):
        TASKS["sentiment"].updated({f"sizes.{key}": value})
    assert TASKS["sentiment"].sizes.demonstrations == 0 and TASKS["sentiment"].sizes.rationale_demonstrations == 0
    assert TASKS["sentiment"].updated({f"sizes.{key}": 10}).sizes.model_dump()[key] == 10


# -- the engine: demonstrations drawn from validation only ----------------------------------------------------

TOPICS = ["World", "Sports", "Business", "Tech"]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def topic_task(tmp_path, **sizes) -> dict:
    """A 4-label task on made-up data: 16 labelled examples per label (a quarter become the check split) and
    a separate test file; every text says which split it is in."""
    val = [{"text": f"VALTEXT {t} number {i} with some words", "label": t} for i in range(16) for t in TOPICS]
    test = [{"text": f"TESTTEXT {t} number {i} with some words", "label": t} for i in range(6) for t in TOPICS]
    return {
        "name": "topics",
        "labels": {t: f"the article is about {t.lower()}" for t in TOPICS},
        "validation": {"path": write_jsonl(tmp_path / "val.jsonl", val)},
        "test": {"path": write_jsonl(tmp_path / "test.jsonl", test)},
        "sizes": {"rationales_per_label": 6, "rationales_per_example": 2, "seed_examples": 24,
                  "examples_per_error": 1, "rounds": 1, **sizes},
        "llm": {"spec": "fake:scripted"},
        "student": {"mode": "wordcount"},
        "prompts": {"text_kind": "news article"},
    }  # fmt: skip


def sent_prompts() -> list[Prompt]:
    """The prompts the ``fake`` backends answered since the ``fake_llm`` fixture started."""
    return [p for b in FAKE.instances for p in b.history]


def test_seed_prompts_show_real_validation_examples_and_record_them(tmp_path, fake_llm):
    s = Session.create(topic_task(tmp_path, demonstrations=2), folder=tmp_path / "runs")
    s.synthesize()
    val = {e.uid: e for e in s.ctx.data.validation}
    seeds = s.examples(kind="seed")
    assert len(seeds) == 24
    prompts = {p.sample: p for p in sent_prompts()}
    for row in seeds:
        uids = row.origin["demonstrations"]
        assert len(uids) == 2 and len(set(uids)) == 2
        assert all(val[u].label == row.label for u in uids), "demonstrations have the example's label"
        msgs = prompts[row.gen_key].messages
        assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
        assert [m["content"] for m in msgs[1::2]] == [val[u].text for u in uids]
        assert msgs[-1]["content"].startswith(f"Write a {row.label} news article that talks about: ")
        assert row.origin["rationales"], "rationales are still used"
        assert row.origin["rationale_demonstrations"] == [], "the rationale prompts showed no examples"
    shown = {u for row in seeds for u in row.origin["demonstrations"]}
    assert len(shown) > 10, "each prompt draws its own demonstrations"


def test_demonstrations_are_reproducible_and_leave_the_other_seed_choices_alone(tmp_path, fake_llm):
    def planned(folder, **changes):
        spec = topic_task(tmp_path, **changes.pop("sizes", {}))
        spec.update(changes)
        s = Session.create(spec, folder=tmp_path / folder)
        s.generate_rationales()
        return plan_seed(s.ctx, s.prompts)

    a, b = planned("a", sizes={"demonstrations": 3}), planned("b", sizes={"demonstrations": 3})
    assert [it.prompt for it in a] == [it.prompt for it in b] and [it.origin for it in a] == [it.origin for it in b]
    off = planned("c")
    assert [(it.label, it.origin["rationales"]) for it in off] == [(it.label, it.origin["rationales"]) for it in a]
    assert all(len(it.prompt.messages) == 1 and it.origin["demonstrations"] == [] for it in off)
    other_seed = planned("d", sizes={"demonstrations": 3}, seed=1)
    assert [it.origin["demonstrations"] for it in other_seed] != [it.origin["demonstrations"] for it in a]


def test_demonstrations_without_rationales_end_with_the_again_request(tmp_path, fake_llm):
    s = Session.create(topic_task(tmp_path, demonstrations=1, rationales_per_example=0), folder=tmp_path)
    s.synthesize()
    assert all(not p.messages[-1]["content"].startswith("List") for p in sent_prompts()), "no rationale step"
    for p in sent_prompts():
        assert [m["role"] for m in p.messages] == ["user", "assistant", "user"]
        assert p.messages[-1]["content"].startswith("Write another ")


def test_rationale_prompts_show_real_examples_and_the_seeds_record_them(tmp_path, fake_llm):
    s = Session.create(topic_task(tmp_path, rationale_demonstrations=3), folder=tmp_path)
    s.synthesize()
    val = {e.uid: e for e in s.ctx.data.validation}
    asks = [p for p in sent_prompts() if p.sample.startswith("rationale:")]
    assert {p.sample.split(":")[1] for p in asks} == set(TOPICS)
    for p in asks:
        label = p.sample.split(":")[1]
        content = p.messages[-1]["content"]
        assert content.startswith(f"Real examples of a {label} news article:\n- VALTEXT {label} ")
        assert content.count("\n- VALTEXT ") == 3 and "one reason per line" in content
    rows = s.store.rationales(s.run_id)
    assert rows and all(len(demonstration_uids(r["source"])) == 3 for r in rows)
    assert all(val[u].label == r["label"] for r in rows for u in demonstration_uids(r["source"]))
    for row in s.examples(kind="seed"):
        uids = row.origin["rationale_demonstrations"]
        assert uids and all(val[u].label == row.label for u in uids)
    # a rationale edited by the user carries no demonstrations
    s2 = Session.create(topic_task(tmp_path, rationale_demonstrations=3), folder=tmp_path / "edited")
    s2.set_rationales("Sports", ["a cup final", "a transfer"])
    s2.synthesize()
    assert all(r.origin["rationale_demonstrations"] == [] for r in s2.examples(kind="seed", label="Sports"))


def test_rationales_that_copy_a_shown_example_are_dropped(tmp_path, fake_llm):
    def reply(prompt):
        content = prompt.messages[-1]["content"]
        if "one reason per line" in content:
            copied = content.split("\n")[1].removeprefix("- ")
            return f"1. {copied}\n2. a cup final\n3. a transfer deal\n4. record profits\n5. a new phone\n6. an election"
        return "A plain made up example text about things."

    fake_llm.responder = reply
    s = Session.create(topic_task(tmp_path, rationale_demonstrations=1), folder=tmp_path)
    rats = s.generate_rationales()
    assert all(not any("VALTEXT" in r for r in v) for v in rats.values())
    assert rats["Sports"][:2] == ["a cup final", "a transfer deal"]


def test_no_check_or_test_text_reaches_any_prompt(tmp_path, fake_llm):
    s = Session.create(topic_task(tmp_path, demonstrations=3, rationale_demonstrations=3), folder=tmp_path / "runs")
    s.run()
    data = s.ctx.data
    assert data.check and data.test, "the task has a check split and a test set"
    assert fake_calls() > 24
    sent = "\n".join(m["content"] for p in sent_prompts() for m in p.messages)
    assert "VALTEXT" in sent
    assert "TESTTEXT" not in sent
    for e in data.check:
        assert e.text not in sent, f"check example {e.uid} was shown to the LLM"
    shown = {u for row in s.examples(kind="seed") for u in row.origin["demonstrations"]}
    shown |= {u for r in s.store.rationales(s.run_id) for u in demonstration_uids(r["source"])}
    assert shown <= {e.uid for e in data.validation}


def pair_task(tmp_path, **sizes) -> dict:
    val = [{"a": f"VALPREM {i} about a scene", "b": f"VALHYP {i} {lab}", "label": lab}
           for i in range(12) for lab in ("yes", "no")]  # fmt: skip
    test = [{"a": f"TESTPREM {i} about a scene", "b": f"TESTHYP {i}", "label": "yes"} for i in range(6)]
    return {
        "name": "pairs",
        "kind": "pair",
        "labels": {"yes": {"word": "definitely true"}, "no": {"word": "false or not stated"}},
        "validation": {"path": write_jsonl(tmp_path / "pval.jsonl", val), "text": "a", "text_b": "b"},
        "test": {"path": write_jsonl(tmp_path / "ptest.jsonl", test), "text": "a", "text_b": "b"},
        "sizes": {"rationales_per_example": 0, "seed_examples": 16, "examples_per_error": 1, "rounds": 0, **sizes},
        "llm": {"spec": "fake:scripted"},
        "student": {"mode": "wordcount"},
        "prompts": {"first_name": "Premise"},
    }


def test_pair_seed_demonstrations_are_real_pairs_of_the_label(tmp_path, fake_llm):
    s = Session.create(pair_task(tmp_path, demonstrations=2), folder=tmp_path)
    s.synthesize()
    val = {e.uid: e for e in s.ctx.data.validation}
    prompts = {p.sample: p for p in sent_prompts()}
    seeds = s.examples(kind="seed")
    assert len(seeds) == 16
    for row in seeds:
        uids = row.origin["demonstrations"]
        assert len(uids) == 2 and all(val[u].label == row.label for u in uids)
        msgs = prompts[row.gen_key].messages
        assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
        for (ask, answer), uid in zip(zip(msgs[0:4:2], msgs[1:4:2], strict=True), uids, strict=True):
            assert ask["content"].startswith(f"Premise: {val[uid].text}\n") and answer["content"] == val[uid].text_b
        assert msgs[-1]["content"].startswith(f"Premise: {row.text}\n"), "the last request holds the context"
        assert row.text not in {val[u].text for u in uids}, "no demonstration shares the context's premise"
    sent = "\n".join(m["content"] for p in sent_prompts() for m in p.messages)
    assert "TESTPREM" not in sent and "TESTHYP" not in sent
    assert all(e.text not in sent and e.text_b not in sent for e in s.ctx.data.check)


def test_a_label_with_fewer_examples_shows_all_it_has(tmp_path, fake_llm):
    s = Session.create(pair_task(tmp_path, demonstrations=10), folder=tmp_path)
    val = s.ctx.data.validation
    for item in plan_seed(s.ctx, s.prompts):
        have = [e.uid for e in val if e.label == item.label and e.text != item.context]
        assert len(have) < 10 and sorted(item.origin["demonstrations"]) == sorted(have)
    assert fake_calls() == 0, "planning makes no LLM call"


def test_listed_examples_keep_one_line_each():
    spec = TASKS["sentiment"]
    real = [Example("first line\nsecond  line", "positive", uid="val:1")]
    content = Prompts(spec).rationale(spec.label("positive"), 3, "0", examples=real).messages[0]["content"]
    assert "\n- first line second line\n" in content
