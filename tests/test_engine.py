"""The S3 loop, step by step, with the scripted LLM and the word-count student on real SST-2 / RTE data."""

from __future__ import annotations

import itertools

import pytest
from conftest import DATA, fake_calls, needs_data, scripted_reply, sst2_task

from s3_magic.errors import S3Error, StoreError
from s3_magic.llm.fake import FakeBackend
from s3_magic.session import Session


def test_full_run_records_rounds_provenance_and_usage(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    rows = s.run()
    assert [r.round for r in rows] == [0, 1, 2]
    assert all(r.status == "evaluated" for r in rows)
    data = s.ctx.data
    assert (len(data.validation), len(data.check), len(data.test)) == (45, 15, 60), "a quarter of the 60 is held out"
    assert all(0.0 <= r.check_acc <= 1.0 and r.n_check == 15 for r in rows)
    # training sets grow by the accepted extrapolations of each round
    for prev, cur in itertools.pairwise(rows):
        assert cur.n_train == prev.n_train + cur.new_accepted
    seeds = s.examples(kind="seed")
    assert len(seeds) == 40
    assert all(len(e.origin["rationales"]) == 2 for e in seeds)
    assert {e.label for e in seeds} == {"negative", "positive"}
    assert sum(e.label == "positive" for e in seeds) == 20  # balanced labels
    extra = s.examples(kind="extrapolated")
    assert extra, "errors of round 0 were extrapolated"
    errors0 = {e["uid"]: e for e in s.errors(0)}
    for e in extra:
        src = errors0[e.origin["from_uid"]] if e.round == 1 else None
        if src is not None:
            assert e.label == src["gold"], "extrapolations keep the gold label of their error"
            assert e.origin["from_text"] == src["text"]
        assert e.backend == "fake" and e.prompt_hash and e.raw_output
    # every real call is in the ledger, once
    usage = s.usage()
    assert usage["calls"] == fake_calls()
    assert sum(r.llm_calls for r in rows) == usage["calls"]
    assert s.store.get_run(s.run_id)["status"] == "finished"
    assert s.store.integrity_check() == []


def test_rerunning_the_same_task_makes_no_llm_calls(tmp_path, fake_llm):
    first = Session.create(sst2_task(), folder=tmp_path)
    first.run()
    calls = fake_calls()
    assert calls > 0
    second = Session.create(sst2_task(), folder=tmp_path)
    rows = second.run()
    assert fake_calls() == calls, "a second run of the same task is served from the cache"
    assert second.usage()["calls"] == 0
    assert sum(r.cache_hits for r in rows) == calls
    a = [(e.gen_key, e.text) for e in first.examples()]
    b = [(e.gen_key, e.text) for e in second.examples()]
    assert a == b, "same seed and cache reproduce the same data"
    assert [r.val_acc for r in first.rounds()] == [r.val_acc for r in second.rounds()]


def test_crash_mid_synthesis_then_resume_loses_and_duplicates_nothing(tmp_path, fake_llm):
    dying = FakeBackend(responder=scripted_reply, fail_after=25)  # dies in the middle of seed synthesis
    s = Session.create(sst2_task(), folder=tmp_path, backend_factory=lambda: dying)
    with pytest.raises(S3Error):
        s.run()
    assert s.store.get_run(s.run_id)["status"] == "failed"
    kept = {e.gen_key: e.text for e in s.examples()}
    assert 0 < len(kept) < 40
    resumed = Session.open(s.run_id, folder=tmp_path)
    resumed.run()
    after = resumed.examples()
    keys = [e.gen_key for e in after]
    assert len(keys) == len(set(keys))
    assert all({e.gen_key: e.text for e in after}[k] == t for k, t in kept.items())
    assert len([k for k in keys if k.startswith("seed:")]) == 40
    assert resumed.store.get_run(s.run_id)["status"] == "finished"
    # resuming an identical fresh run gives the same data as one that never crashed
    clean = Session.create(sst2_task(), folder=tmp_path / "clean")
    clean.run()
    assert sorted((e.gen_key, e.text) for e in clean.examples()) == sorted((e.gen_key, e.text) for e in after)


def test_steps_one_at_a_time(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    rats = s.generate_rationales()
    assert set(rats) == {"negative", "positive"} and all(len(v) == 6 for v in rats.values())
    s.set_rationales("positive", ["great acting", "a clever plot"])
    s.synthesize()
    pos = s.examples(kind="seed", label="positive")
    assert all(set(e.origin["rationales"]) <= {"great acting", "a clever plot"} for e in pos)
    ev = s.train()
    assert 0.0 <= ev.val_acc <= 1.0 and ev.n_errors == len(s.errors(0))
    with pytest.raises(StoreError):
        s.train()  # nothing new to train on
    rows = s.iterate(1)
    assert [r.round for r in rows] == [0, 1]
    rows = s.iterate(1)
    assert [r.round for r in rows] == [0, 1, 2]


def test_rejected_examples_are_not_trained_on(tmp_path, fake_llm):
    s = Session.create(sst2_task(**{"sizes__rounds": 0}), folder=tmp_path)
    s.synthesize()
    ex = s.examples(accepted=True)
    for e in ex[:10]:
        s.accept(e.id, False)
    stats = s.train()
    assert stats.n_train == len(ex) - 10


def test_filters_reject_bad_outputs_with_reasons(tmp_path, fake_llm):
    bad = ["", "I'm sorry, but I cannot write that.", "bad film", "Sure! Here is a review:"]

    def reply(prompt):
        if "one reason per line" in prompt.messages[-1]["content"]:
            return "\n".join(f"- reason {i}" for i in range(8))
        n = int(prompt.sample.split(":")[1])
        return bad[n] if n < len(bad) else f"the plot {n} was fine and the acting {n} was good enough"

    fake_llm.responder = reply
    s = Session.create(sst2_task(**{"sizes__seed_examples": 10, "sizes__rounds": 0}), folder=tmp_path)
    s.synthesize()
    verdicts = {e.gen_key: e.verdict for e in s.examples()}
    assert verdicts["seed:0"] == "empty"
    assert verdicts["seed:1"] == "refusal"
    assert verdicts["seed:2"] == "too_short"
    assert sum(v == "ok" for v in verdicts.values()) >= 5
    stats = s.rounds()[0]
    assert sum(stats.rejected.values()) == sum(v != "ok" for v in verdicts.values())


def test_examples_that_copy_validation_or_test_are_rejected(tmp_path, fake_llm):
    needs_data()
    s0 = Session.create(sst2_task(), folder=tmp_path)
    val_text = s0.ctx.data.validation[0].text
    test_text = s0.ctx.data.test[0].text

    def reply(prompt):
        if "one reason per line" in prompt.messages[-1]["content"]:
            return "\n".join(f"- reason {i}" for i in range(8))
        return {"seed:0": val_text, "seed:1": test_text}.get(prompt.sample, f"a fine film {prompt.sample} for all")

    fake_llm.responder = reply
    s = Session.create(sst2_task(**{"sizes__rounds": 0}), folder=tmp_path)
    s.synthesize()
    verdicts = {e.gen_key: e.verdict for e in s.examples()}
    assert verdicts["seed:0"] == "copies_validation"
    assert verdicts["seed:1"] == "copies_test"


def test_pair_task_keeps_the_context_verbatim(tmp_path, fake_llm):
    needs_data()
    task = {
        "name": "rte-test",
        "kind": "pair",
        "labels": {"entailment": {"word": "definitely true"}, "not_entailment": {"word": "false"}},
        "validation": {"path": str(DATA / "rte" / "dev.jsonl"), "text": "text_a", "text_b": "text_b"},
        "split": {"validation": 80, "seed": 1},
        "sizes": {"rationales_per_example": 0, "seed_examples": 30, "examples_per_error": 2, "rounds": 1},
        "llm": {"spec": "fake:x"},
        "student": {"mode": "wordcount"},
    }
    s = Session.create(task, folder=tmp_path)
    s.run()
    premises = {e.text for e in s.ctx.data.validation}
    for e in s.examples():
        assert e.text in premises, "the premise is a real one, kept verbatim"
        if e.kind == "extrapolated" and e.accepted:
            assert e.text == e.origin["from_text"]
            assert e.text_b != e.origin["from_text_b"]
    assert not s.store.rationales(s.run_id), "pair tasks skip rationales when k = 0"


def test_early_stop_uses_validation_only(tmp_path, fake_llm):
    s = Session.create(sst2_task(**{"sizes__rounds": 6, "stop__patience": 1, "stop__min_delta": 0.5}), folder=tmp_path)
    rows = s.run()
    assert len(rows) == 2, "no round can gain 50 points, so it stops after one round without gain"
    assert "stopped early" in s.store.get_run(s.run_id)["message"]


def test_zerogen_and_gold_methods(tmp_path, fake_llm):
    z = Session.create(sst2_task(method="zerogen"), folder=tmp_path)
    rows = z.run()
    assert len(rows) == 1 and {e.kind for e in z.examples()} == {"zerogen"}
    assert not z.store.rationales(z.run_id)
    g = Session.create(sst2_task(method="gold"), folder=tmp_path)
    rows = g.run()
    assert rows[0].n_train == 45 and not g.examples(), "gold trains on the validation part, not the check split"
    assert rows[0].check_acc is not None


def test_open_checks_task_and_run(tmp_path, fake_llm):
    s = Session.create(sst2_task(**{"sizes__rounds": 0}), folder=tmp_path)
    with pytest.raises(StoreError, match="belongs to task"):
        Session.open(s.run_id, folder=tmp_path, task=sst2_task(name="other"))
    with pytest.raises(StoreError, match="no run 'nope'"):
        Session.open("nope", folder=tmp_path)
    with pytest.raises(StoreError, match="no run folder"):
        Session.open(folder=tmp_path / "missing")
    assert Session.open(folder=tmp_path).run_id == s.run_id


def test_budget_stops_cleanly_and_resume_with_more_budget_finishes(tmp_path, fake_llm):
    from s3_magic.errors import BudgetExceeded

    s = Session.create(sst2_task(**{"llm__budget_tokens": 300}), folder=tmp_path)
    with pytest.raises(BudgetExceeded):
        s.run()
    run = s.store.get_run(s.run_id)
    assert run["status"] == "stopped" and "budget" in run["message"]
    n = len(s.examples())
    resumed = Session.open(s.run_id, folder=tmp_path, overrides={"llm.budget_tokens": 10**9})
    resumed.run()
    assert len(resumed.examples()) > n
    assert resumed.store.get_run(s.run_id)["status"] == "finished"


def test_results_are_filtered_in_prompt_order_whatever_order_they_arrive():
    from s3_magic.engine.synthesize import in_order

    arrivals = [(2, "c"), (0, "a"), (3, "d"), (1, "b")]
    assert list(in_order(iter(arrivals))) == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]
