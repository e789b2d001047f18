"""The public API beside ``Session``'s steps: every name of ``s3_magic.__all__`` resolves lazily and lightly, and the
Session accessors the benchmark is built on (run ids, folder, status, training examples, extrapolation alone, the
final-model recipes) behave as documented."""

from __future__ import annotations

import pytest
from conftest import fake_calls, sst2_task
from test_light_import import HEAVY, loaded_after

import s3_magic
from s3_magic import ConfigError, Example, S3Error, Session
from s3_magic.errors import StoreError


def test_every_public_name_resolves_without_heavy_imports():
    mods = loaded_after("import s3_magic\nfor name in s3_magic.__all__: getattr(s3_magic, name)")
    assert not [m for m in HEAVY if m in mods]
    assert "s3_magic.engine.context" in mods, "Reporter was imported on first use"
    with pytest.raises(AttributeError, match="no attribute"):
        s3_magic.RunContext  # noqa: B018


def test_run_ids_folder_and_status(tmp_path, fake_llm):
    assert Session.run_ids(tmp_path) == [] and not (tmp_path / "s3.sqlite").exists(), "reading writes nothing"
    with Session.create(sst2_task(), folder=tmp_path, name="b") as s:
        assert s.folder == tmp_path and s.status == "created"
        s.synthesize()
        assert s.status == "paused"
    Session.create(sst2_task(), folder=tmp_path, name="a").close()
    assert Session.run_ids(tmp_path) == ["a", "b"]
    with Session.open("b", folder=tmp_path) as s:
        s.run()
        assert s.status == "finished"


def test_extrapolate_makes_the_next_rounds_data_without_training(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    with pytest.raises(StoreError, match="round 0 is not evaluated"):
        s.extrapolate()
    s.synthesize()
    with pytest.raises(StoreError, match="round 0 is not evaluated"):
        s.extrapolate()
    s.train()
    calls = fake_calls()
    stats = s.extrapolate()
    assert stats.llm_calls == fake_calls() - calls > 0 and stats.new_accepted > 0
    assert s.next_round() == 1, "round 1 has data and waits for training"
    assert [r.status for r in s.rounds()] == ["evaluated", "generated"]
    assert len(s.examples(round_no=1, accepted=True)) == stats.new_accepted
    assert s.extrapolate() == stats and fake_calls() == calls + stats.llm_calls, "made once"
    s.train()
    assert [r.status for r in s.rounds()] == ["evaluated", "evaluated"]
    gold = Session.create(sst2_task(method="gold", gold={"path": sst2_task()["validation"]["path"], "limit": 20}),
                          folder=tmp_path)  # fmt: skip
    with pytest.raises(ConfigError, match="only the s3 method"):
        gold.extrapolate()


def test_training_examples_are_what_each_round_trains_on(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    assert s.training_examples() == [], "nothing evaluated yet"
    s.synthesize()
    s.train()
    s.iterate(1)
    seed = s.training_examples(0)
    assert seed and all(isinstance(e, Example) for e in seed)
    assert {e.text for e in seed} == {r.text for r in s.examples(max_round=0, accepted=True)}
    both = s.training_examples()
    assert both == s.training_examples(1) and len(both) == s.rounds()[1].n_train
    assert {e.text for e in both} > {e.text for e in seed}
    rejected = s.examples(round_no=1, accepted=True)[0]
    s.accept(rejected.id, False)
    s.edit(seed_id := s.examples(round_no=0, accepted=True)[0].id, "an edited and rather long sentence about it")
    now = s.training_examples(1)
    assert len(now) == len(both) - 1 and f"syn:{rejected.id}" not in {e.uid for e in now}
    assert next(e.text for e in now if e.uid == f"syn:{seed_id}") == "an edited and rather long sentence about it"


def test_fit_recipe_trains_one_recipe_without_storing_anything(tmp_path, fake_llm):
    s = Session.create(sst2_task(), folder=tmp_path)
    s.run()
    rows = s.rounds()
    assert {"real", "joint", "weighted", "two_stage", "agree"} == set(Session.RECIPES)
    synthetic, real = s.training_examples(0), s.data.validation[:10]
    assert sum(s.fit_recipe("real", 0, real).prior.values()) == len(real)
    assert sum(s.fit_recipe("joint", 0, real).prior.values()) == len(synthetic) + len(real)
    best, labelled = s.training_examples(s.best_round()), [*s.data.validation, *s.data.check]
    assert sum(s.fit_recipe("joint").prior.values()) == len(best) + len(labelled), "best round; validation + check"
    for recipe in Session.RECIPES:
        assert len(s.fit_recipe(recipe, 0, real).predict(s.data.test).labels) == len(s.data.test), recipe
    with pytest.raises(S3Error, match="unknown final recipe"):
        s.fit_recipe("nope")
    assert s.rounds() == rows and s.final_result() is None, "nothing was stored"
