"""The task spec: validation, one-line errors, round trips, built-in tasks and prompt templates."""

from __future__ import annotations

import pytest

from s3_magic.errors import BackendError, ConfigError
from s3_magic.prompts import Prompts, parse_rationales
from s3_magic.task import TaskSpec, builtin_tasks, load_task

BASE = {"name": "t", "labels": ["neg", "pos"], "validation": {"path": "v.jsonl"}}


def spec(**changes) -> TaskSpec:
    return TaskSpec.from_dict({**BASE, **changes})


def test_defaults_and_label_forms():
    t = spec(labels={"neg": "a bad one", "pos": {"description": "a good one", "word": "positive"}})
    assert t.label_names == ["neg", "pos"]
    assert t.label("pos").prompt_word == "positive" and t.label("neg").prompt_word == "neg"
    assert t.sizes.rounds == 2 and t.llm.spec == "local:embedded" and t.student.mode == "finetune"


def test_round_trip_dict_and_yaml():
    t = spec(kind="single", sizes={"rounds": 4, "seed_examples": 50}, prompts={"text_kind": "tweet"})
    assert TaskSpec.from_dict(t.to_dict()) == t
    assert TaskSpec.from_yaml(t.to_yaml()) == t


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sizes": {"roundz": 2}}, "unknown key 'sizes.roundz'"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"labels": ["only"]}, "labels"),
        ({"labels": ["a", "a"]}, "listed twice: a"),
        ({"sizes": {"seed_examples": 0}}, "sizes.seed_examples"),
        ({"sizes": {"rationales_per_label": 2, "rationales_per_example": 3}}, "cannot exceed"),
        ({"kind": "triple"}, "kind"),
        ({"kind": "pair"}, "validation.text_b"),
        ({"validation": {}}, "exactly one of path"),
        ({"split": {"validation": 10}, "test": {"path": "t.jsonl"}}, "either split"),
        ({"llm": {"options": {"api_key": "x"}}}, "environment variable"),
        ({"filters": {"min_words": 9, "max_words": 3}}, "min_words"),
        ({"rationales": {"maybe": ["x"]}}, "unknown label(s) maybe"),
        ({"student": {"mode": "huge"}}, "student.mode"),
    ],
)
def test_bad_specs_give_one_line_errors(changes, message):
    with pytest.raises(ConfigError) as exc:
        spec(**changes)
    text = str(exc.value)
    assert message in text and "\n" not in text


def test_missing_key_and_unknown_provider():
    with pytest.raises(ConfigError, match="needs 'validation'"):
        TaskSpec.from_dict({"name": "t", "labels": ["a", "b"]})
    with pytest.raises((ConfigError, BackendError), match="unknown LLM provider 'gpt'"):
        spec(llm={"spec": "gpt:4"})


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML at line 3"):
        TaskSpec.from_yaml("name: t\nlabels: [a, b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        TaskSpec.from_yaml("- a\n- b\n")
    with pytest.raises(ConfigError, match="not found"):
        load_task(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_task(str(bad))


def test_builtin_tasks_load():
    assert {"sst2", "imdb", "rte"} <= set(builtin_tasks())
    rte = load_task("rte")
    assert rte.is_pair and rte.validation.text_b == "text_b"
    assert load_task("sst2").split.validation == 200


def test_updated_applies_dotted_changes_and_revalidates():
    t = spec()
    assert t.updated({"sizes.rounds": 5}).sizes.rounds == 5
    with pytest.raises(ConfigError):
        t.updated({"sizes.rounds": -1})


def test_prompts_fill_templates_without_interpreting_user_text():
    t = spec(prompts={"text_kind": "movie review", "length_hint": "One sentence."})
    p = Prompts(t)
    from s3_magic.example import Example

    tricky = Example("costs {price} and $5 {0}", "pos")
    ask, shown, again = p.error(t.label("pos"), tricky, sample="k").messages
    assert (ask["role"], shown["role"], again["role"]) == ("user", "assistant", "user")
    assert shown["content"] == "costs {price} and $5 {0}", "the example is the LLM's own earlier answer, verbatim"
    assert "pos movie review" in ask["content"] and "One sentence." in again["content"]
    assert "another pos movie review" in again["content"]
    one = Prompts(t.updated({"prompts.error": 'Like "$example", write a $label $text_kind.'}))
    msg = one.error(t.label("pos"), tricky, sample="k").messages
    assert len(msg) == 1 and msg[0]["content"] == 'Like "costs {price} and $5 {0}", write a pos movie review.'
    seed = p.seed(t.label("neg"), ["bad acting", "dull plot"], sample="1").messages[-1]["content"]
    assert "bad acting; dull plot" in seed and "neg movie review" in seed


def test_prompt_template_overrides_are_checked():
    t = spec(prompts={"seed": "Write a $label $thing."})
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \$thing"):
        Prompts(t)
    ok = spec(prompts={"zerogen": "Give me one $label $text_kind, costs $$5."})
    assert "costs $5" in Prompts(ok).zerogen(ok.label("pos"), "0").messages[-1]["content"]


def test_parse_rationales():
    text = (
        "Sure! Here are some reasons:\n1. Great acting\n2) **Clever plot**\n- a memorable soundtrack.\n\n"
        "I hope this helps!"
    )
    assert parse_rationales(text) == ["Great acting", "Clever plot", "a memorable soundtrack"]
