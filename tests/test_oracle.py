"""The ``oracle`` backend (a simulated ideal generator) on a 60-sentence pool of real SST-2 train rows, with the
real embedded MiniLM; and the prompt meta it reads, which must leave every hash and cache key as it was."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from conftest import needs_data, sst2_task

from s3_magic.engine.context import load_task_data
from s3_magic.errors import BackendError
from s3_magic.example import Example
from s3_magic.llm import GenParams, Prompt, get_backend
from s3_magic.llm import oracle as oracle_module
from s3_magic.llm.cached import cache_key
from s3_magic.llm.fake import FakeBackend
from s3_magic.prompts import Prompts, parse_rationales
from s3_magic.session import Session
from s3_magic.task import load_task

PARAMS = GenParams()
WITTY = "a witty and delightful romantic comedy with a great jazz score"
UNEVEN = "the performances are uneven and the cast cannot get the vampire accent right"


def _pool_rows(per_label: int = 30) -> dict[str, list[str]]:
    """The first ``per_label`` SST-2 train rows of each label with 8-25 words and no quotes or asterisks."""
    out: dict[str, list[str]] = {"positive": [], "negative": []}
    seen = set()
    with open(needs_data() / "sst2" / "train.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text, label = row["text"], row["label"]
            plain = 8 <= len(text.split()) <= 25 and not any(c in text for c in '"*`')
            if plain and text not in seen and len(out[label]) < per_label:
                out[label].append(text)
                seen.add(text)
            if all(len(v) == per_label for v in out.values()):
                return out
    raise AssertionError("SST-2 train has too few rows")


def _write(path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """(path, texts by label) of a 60-row pool; the oracle's embedding cache lives in a temporary folder."""
    folder = tmp_path_factory.mktemp("oracle")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("S3_MAGIC_CACHE", str(folder / "cache"))
        rows = _pool_rows()
        path = _write(folder / "pool.jsonl", [{"text": t, "label": lab} for lab, ts in rows.items() for t in ts])
        yield path, rows
    oracle_module._POOLS.clear()


def ask(step: str, label: str, sample: str = "0", **meta) -> Prompt:
    return Prompt.user(f"ask {step} {label}", sample=sample, meta={"step": step, "label": label, **meta})


def answers(backend, prompts: list[Prompt]) -> list[str]:
    got = dict(backend.generate(prompts, PARAMS))
    return [got[i].text for i in range(len(prompts))]


# --- the prompt meta ---------------------------------------------------------------------------------------------

#: prompt hash and fake-backend cache key of each prompt built in _built_prompts, before the meta field existed
GOLDEN = {
    "sst2": [
        ("b997710fbd271682ca2d1ace8a885cb4", "8b5a6a2b3390993b6c038ac95233a018bc4cfbd526bd9a6a0d80554b55877391"),
        ("e1990606c41bb7d0f53ecd4986b26fcf", "133f2a4c46aaa3da6007fb9b8c26e4a64060b78a85ea741b2c3558263191d991"),
        ("df709324181159633617155092b7ac4b", "136794c1c87d71b71174a91fe643275aa4324c0fab76009fb607bb9b69efd837"),
        ("6469a63777b4eee95a75d21d4dac45e3", "51be16b48131603c055c2dbedcfabf0bad177ba8284d8082657060a75ee0cdb7"),
        ("9f1133a4bab5a5bc46fe8b2f9036a4db", "481f16ee0f0f7478d52d7ef09b8c59e5d4d42617c926fd749a70055a6d04855e"),
        ("6469a63777b4eee95a75d21d4dac45e3", "8efc563dd908234e1e3a7d4768cedd8332738d69227febbaf881419dab712b9c"),
        ("917b17464db7ab1c34eb42fd3a2442fb", "6ae53bc8a2af87a8b6f4699246b68937a098528e4edff4c55d80aeeb033557fe"),
    ],
    "rte": [
        ("cfe2d5c00c02600e4a3178c2edf75dd6", "422ca3b0b02e30ca25ec20c14a111979e1067f631d89204a7a9d5c7f15e22136"),
        ("8e0c8a154ea65f8941d37fc9f2cc4435", "69e4c9cf60a9b92c2a18149afd3e5bfd7d2565fbb92ff81e7704ba80f6246d43"),
        ("6cdb62e31aa478bf65f7b59339df2e61", "5a2535267bf72a99574188945d1c4890efcf9bc168a8a224286e73ea10e6501a"),
        ("36ccf0d25a60d6db07fc047ff1cd6c70", "e0989ff0c448ed64f8440c4db11330c75d002832f298b198d198679c14dc01dd"),
        ("26957198511fcc2539aac051bc7a119e", "4d404c3102762861660302422dd4425ca3c3e334072354d377729fc8b145f96a"),
        ("36ccf0d25a60d6db07fc047ff1cd6c70", "918639c7ffb77199b67c64b962d596e8f5002cacbbdd4a97895cf9c4ab790983"),
        ("5ee78c6a2db0d32cb566133d5cd89d4d", "375e0b32e5e716d71b67264c0223651f3d7ab156e9143ecd6d095658f0df5121"),
    ],
}


def _built_prompts(task_name: str) -> list[Prompt]:
    task = load_task(task_name)
    p = Prompts(task)
    a, z = task.labels[0], task.labels[1]
    context = "a premise" if task.is_pair else None
    demo = Example("a real one", a.name, "hyp" if task.is_pair else None, "val:2")
    return [
        p.rationale(a, 12, "rationale:x:0"),
        p.rationale(a, 12, "rationale:x:1", examples=[demo]),
        p.seed(a, ["r one", "r two"], "seed:0", context=context),
        p.seed(z, [], "seed:1", context=context),
        p.seed(z, ["r"], "seed:2", context=context, demonstrations=[demo]),
        p.zerogen(z, "zerogen:3", context=context),
        p.error(a, Example("bad film", a.name, "hyp b" if task.is_pair else None, "val:1"), "r1:val:1:0"),
    ]


@pytest.mark.parametrize("task_name", ["sst2", "rte"])
def test_prompt_meta_leaves_prompt_hashes_and_cache_keys_byte_for_byte_unchanged(task_name):
    fake = FakeBackend("scripted")
    built = _built_prompts(task_name)
    assert [(p.hash, cache_key(fake, PARAMS, p)) for p in built] == GOLDEN[task_name]
    for p in built:
        plain = Prompt(p.messages, p.sample)
        assert p.meta and not plain.meta
        assert p == plain and cache_key(fake, PARAMS, p) == cache_key(fake, PARAMS, plain)
        assert "meta" not in repr(p)


def test_prompt_builders_say_what_was_asked():
    sst2 = Prompts(load_task("sst2"))
    pos = load_task("sst2").label("positive")
    assert sst2.rationale(pos, 5, "r").meta == {"step": "rationale", "label": "positive", "n": 5}
    assert sst2.seed(pos, ["a", "b"], "s").meta == {"step": "seed", "label": "positive", "rationales": ("a", "b")}
    assert sst2.zerogen(pos, "z").meta == {"step": "zerogen", "label": "positive"}
    err = sst2.error(pos, Example("so good", "positive", None, "val:3"), "e")
    assert err.meta == {"step": "error", "label": "positive", "text": "so good"}
    rte_task = load_task("rte")
    rte, ent = Prompts(rte_task), rte_task.labels[0]
    assert rte.seed(ent, [], "s", context="P").meta == {"step": "seed", "label": ent.name, "rationales": (),
                                                        "context": "P"}  # fmt: skip
    assert rte.error(ent, Example("P", ent.name, "H", "val:1"), "e").meta == {
        "step": "error", "label": ent.name, "text": "P", "text_b": "H"
    }  # fmt: skip
    assert Prompt.user("hi").meta == {} and Prompt.user("hi", meta={"k": 1}).meta == {"k": 1}


# --- answers -----------------------------------------------------------------------------------------------------


def test_error_requests_get_the_nearest_pool_sentence_of_their_label(pool):
    path, rows = pool
    backend = get_backend(f"oracle:{path}")
    assert len(backend.pool.texts) == 60, "every row of the tiny pool passes the oracle's filters"
    got = answers(backend, [ask("error", "positive", text=WITTY), ask("error", "negative", text=UNEVEN)])
    assert got[0] == "it 's a treat -- a delightful , witty , improbable romantic comedy with a zippy jazzy score"
    assert got[1].startswith("are the uneven performances by the cast members")
    # the same choice as a brute-force cosine argmax over the label's sentences
    from s3_magic.student.fast import embed_examples
    from s3_magic.student.models import resolve_student_model

    source = resolve_student_model("embedded")
    texts = rows["positive"]
    vectors = embed_examples([Example(t, "") for t in [WITTY, *texts]], source, "cpu")
    assert texts[int(np.argmax(vectors[1:] @ vectors[0]))] == got[0]


def test_answers_keep_the_label_never_repeat_and_report_no_tokens(pool):
    path, rows = pool
    backend = get_backend(f"oracle:{path}")
    prompts = [ask("error", "positive", f"r1:a:{j}", text=WITTY) for j in range(6)]
    prompts += [ask("zerogen", lab, f"zerogen:{i}") for i, lab in enumerate(["negative", "positive"] * 6)]
    prompts += [ask("seed", "negative", f"seed:{i}", rationales=("dull", "too long")) for i in range(6)]
    prompts += [ask("seed", "positive", f"seed:p{i}", rationales=()) for i in range(3)]
    results = dict(backend.generate(prompts, PARAMS))
    got = [results[i].text for i in range(len(prompts))]
    for prompt, text in zip(prompts, got, strict=True):
        assert text in rows[prompt.meta["label"]], "always a pool sentence of the requested label"
    assert len(set(got)) == len(got), "no pool sentence twice"
    assert all((c.prompt_tokens, c.completion_tokens) == (0, 0) for c in results.values())
    # the six extrapolations of one error walk outward from it: similarity never rises
    sims = [results[i].extra["similarity"] for i in range(6)]
    assert sims == sorted(sims, reverse=True)


def test_same_seed_gives_the_same_answers_and_another_seed_other_random_ones(pool):
    path, _ = pool
    prompts = [ask("error", "negative", f"r1:b:{j}", text=UNEVEN) for j in range(3)]
    prompts += [ask("zerogen", "negative", f"zerogen:{i}") for i in range(8)]
    prompts.append(ask("rationale", "positive", "rationale:positive:0", n=6))
    first = answers(get_backend(f"oracle:{path}"), prompts)
    assert answers(get_backend(f"oracle:{path}"), prompts) == first
    other = answers(get_backend(f"oracle:{path}", seed=1), prompts)
    assert other[:3] == first[:3], "the nearest sentences do not depend on the seed"
    assert other[3:] != first[3:], "the random draws follow it"


def test_rationale_requests_get_short_lines_the_engine_can_parse(pool):
    path, rows = pool
    backend = get_backend(f"oracle:{path}")
    [text] = answers(backend, [ask("rationale", "negative", "rationale:negative:0", n=6)])
    items = parse_rationales(text)
    assert len(items) == 6 and len({i.casefold() for i in items}) == 6
    assert all(1 <= len(i.split()) <= oracle_module.RATIONALE_WORDS for i in items)
    starts = {tuple(w for w in t.split() if any(c.isalnum() for c in w))[:3] for t in rows["negative"]}
    assert all(tuple(i.split()[:3]) in starts for i in items), "the first words of negative pool sentences"
    assert not backend._used, "rationales use up no pool sentence"


def test_pool_embeddings_are_cached_on_disk_by_content(pool, monkeypatch):
    path, _ = pool
    for old in oracle_module._cache_dir().glob("*.npy"):
        old.unlink()
    oracle_module._POOLS.clear()
    get_backend(f"oracle:{path}").pool  # noqa: B018 - loads (and caches) the pool
    assert len(list(oracle_module._cache_dir().glob("*.npy"))) == 1
    oracle_module._POOLS.clear()  # a new process: only the disk cache is left

    def no_embedding(*args, **kwargs):
        raise AssertionError("the pool was embedded again")

    monkeypatch.setattr("s3_magic.student.fast.embed_examples", no_embedding)
    loaded = get_backend(f"oracle:{path}").pool
    assert loaded.embeddings.shape == (60, 384)
    backend = get_backend(f"oracle:{path}", limit=40)
    assert backend.cache_salt != get_backend(f"oracle:{path}").cache_salt
    with pytest.raises(AssertionError, match="embedded again"):
        backend.pool  # noqa: B018 - another selection of rows is another cache entry


def test_integer_labels_with_labels_or_label_map(pool, tmp_path):
    _, rows = pool
    records = [{"sentence": t, "y": 0} for t in rows["negative"][:4]] + [
        {"sentence": t, "y": 1} for t in rows["positive"][:4]
    ]
    path = _write(tmp_path / "ints.jsonl", records)
    by_position = get_backend(
        f"oracle:{path}", text="sentence", label="y", labels=["negative", "positive"], min_words=0
    )
    by_map = get_backend("oracle:", pool=path, text="sentence", label="y", label_map={0: "negative", 1: "positive"})
    for backend in (by_position, by_map):
        [text] = answers(backend, [ask("zerogen", "positive", "zerogen:0")])
        assert text in rows["positive"][:4]
    with pytest.raises(BackendError, match="integer labels"):
        get_backend(f"oracle:{path}", text="sentence", label="y").pool  # noqa: B018


def _one_line_error(call) -> str:
    with pytest.raises(BackendError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("spec", "options", "words"),
    [
        ("oracle", {}, "needs a pool"),
        ("oracle:/no/such/pool.jsonl", {}, "does not exist"),
        ("oracle:POOL", {"pool": "/other.jsonl"}, "given twice"),
        ("oracle:POOL", {"temperature": 1}, "unknown option"),
        ("oracle:POOL", {"limit": 0}, "limit must be a whole number >= 1 or null, got 0"),
        ("oracle:POOL", {"limit": "many"}, "limit must be a whole number >= 1 or null, got 'many'"),
        ("oracle:POOL", {"min_words": 6, "max_words": 3}, "max_words (3) must be at least min_words (6)"),
        ("oracle:POOL", {"near_duplicate": 2}, "near_duplicate"),
        ("oracle:POOL", {"labels": "negative"}, "labels must be a list"),
        ("oracle:POOL", {"text": ""}, "oracle option text"),
    ],
)
def test_bad_options_give_one_line_errors(pool, spec, options, words):
    path, _ = pool
    message = _one_line_error(lambda: get_backend(spec.replace("POOL", path), **options))
    assert words in message


def test_prompts_it_cannot_answer_give_one_line_errors(pool):
    path, _ = pool
    backend = get_backend(f"oracle:{path}")
    cases = [
        (Prompt.user("Write a positive movie review."), "Prompt.meta"),
        (ask("seed", "positive", rationales=(), context="P"), "single-text tasks only"),
        (ask("error", "neutral", text="meh"), "no rows of label 'neutral'"),
    ]
    for prompt, words in cases:
        assert words in _one_line_error(lambda prompt=prompt: list(backend.generate([prompt], PARAMS)))
    small = get_backend(f"oracle:{path}", limit=4, seed=3)
    assert "no unused" in _one_line_error(
        lambda: list(small.generate([ask("zerogen", "positive", f"z{i}") for i in range(3)], PARAMS))
    )


# --- whole runs --------------------------------------------------------------------------------------------------


def _oracle_task(path: str) -> dict:
    """A small S3 task on real SST-2 dev data whose LLM is the oracle (20 seed examples, one round of 10 errors)."""
    return sst2_task(**{
        "llm__spec": f"oracle:{path}", "sizes__seed_examples": 20, "sizes__rationales_per_label": 4,
        "sizes__examples_per_error": 1, "sizes__rounds": 1, "sizes__max_errors_per_round": 10,
    })  # fmt: skip


def test_s3_run_with_the_oracle_trains_on_pool_sentences_of_each_label(pool, tmp_path):
    path, rows = pool
    s = Session.create(_oracle_task(path), folder=tmp_path)
    result = s.run()
    assert [r.round for r in result] == [0, 1] and all(r.status == "evaluated" for r in result)
    examples = s.examples()
    kinds = Counter(e.kind for e in examples)
    assert kinds["seed"] == 20 and kinds["extrapolated"] > 0
    for e in examples:
        assert e.backend == "oracle"
        assert e.raw_output in rows[e.label], "every answer is a pool sentence of the example's label"
        if e.accepted:
            assert e.text == " ".join(e.raw_output.split())
    assert sum(e.accepted for e in examples) == len(examples), "real sentences pass every filter"
    raw = [e.raw_output for e in examples]
    assert len(set(raw)) == len(raw)
    gold = {e["uid"]: e["gold"] for e in s.errors(0)}
    assert all(e.label == gold[e.origin["from_uid"]] for e in examples if e.kind == "extrapolated")
    usage = s.usage()
    assert usage["calls"] > 0 and usage["prompt_tokens"] == usage["completion_tokens"] == 0


def test_a_resumed_oracle_run_goes_on_as_an_uninterrupted_one(pool, tmp_path):
    path, _ = pool
    whole = Session.create(_oracle_task(path), folder=tmp_path / "whole")
    whole.run()
    first = Session.create(_oracle_task(path), folder=tmp_path / "parts")
    first.generate_rationales()
    first.synthesize()
    first.close()  # the next process starts a new oracle, which learns the run's answers from the store
    resumed = Session.open(first.run_id, folder=tmp_path / "parts")
    resumed.run()
    answers_of = lambda s: {e.gen_key: e.raw_output for e in s.examples()}  # noqa: E731
    assert any(k.startswith("r1:") for k in answers_of(whole))
    assert answers_of(resumed) == answers_of(whole)


def test_pool_copies_of_validation_check_or_test_texts_are_rejected(pool, tmp_path):
    """The pool is the caller's responsibility; the synthesis filters catch the copies a leaking pool makes."""
    _, rows = pool
    task = sst2_task(method="zerogen", **{"sizes__seed_examples": 30, "sizes__rounds": 0})
    data = load_task_data(load_task(task))
    leaks = {}
    for part in ("validation", "check", "test"):
        for label in ("negative", "positive"):
            plain = [e.text for e in getattr(data, part) if e.label == label and not any(c in e.text for c in '"*`')]
            leaks[part, label] = plain[:3]
    records = [{"text": t, "label": lab} for (_, lab), texts in leaks.items() for t in texts]
    records += [{"text": t, "label": lab} for lab in ("negative", "positive") for t in rows[lab][:6]]
    leaky = _write(tmp_path / "leaky.jsonl", records)
    s = Session.create({**task, "llm": {"spec": f"oracle:{leaky}", "options": {"min_words": 0}}}, folder=tmp_path)
    s.run()
    verdicts = Counter(e.verdict for e in s.examples())
    assert verdicts == {"ok": 12, "copies_validation": 6, "copies_check": 6, "copies_test": 6}
