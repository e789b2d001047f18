"""Short end-to-end runs with the real embedded LLM (SmolLM2) and the real fine-tuned student (MiniLM)."""

from __future__ import annotations

import pytest
from conftest import needs_data, sst2_task

from s3_magic.session import Session

pytestmark = pytest.mark.slow

REAL = {
    "llm__spec": "local:embedded",
    "llm__max_tokens": 40,
    "sizes__rationales_per_label": 3,
    "sizes__seed_examples": 24,
    "sizes__examples_per_error": 1,
    "sizes__rounds": 1,
    "student__mode": "finetune",
    "student__epochs": 2,
    "student__max_length": 48,
}


def test_sst2_seed_and_one_round_with_real_models(tmp_path):
    s = Session.create(sst2_task(**REAL), folder=tmp_path)
    rows = s.run()
    assert [r.round for r in rows] == [0, 1]
    assert all(0.0 <= r.val_acc <= 1.0 for r in rows)
    assert rows[1].n_train == rows[0].n_train + rows[1].new_accepted

    seeds = s.examples(kind="seed")
    assert seeds and all(e.backend == "local" and e.raw_output and e.prompt_hash for e in seeds)
    accepted = [e for e in seeds if e.accepted]
    assert accepted, "the embedded LLM wrote usable sentences"
    assert all(3 <= len(e.text.split()) <= 60 for e in accepted)
    assert {e.label for e in accepted} == {"negative", "positive"}
    assert any(e.origin["from_uid"] for e in s.examples(kind="extrapolated")) or not s.errors(0)
    usage = s.usage()
    assert usage["calls"] > 0 and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    s.close()

    # the same task again, in the same folder: every LLM answer comes from the cache
    again = Session.create(sst2_task(**REAL), folder=tmp_path)
    again.run()
    assert again.usage()["calls"] == 0
    same = [(e.text, e.label) for e in again.examples(kind="seed")]
    assert same == [(e.text, e.label) for e in seeds]
    again.close()


def test_rte_pair_task_keeps_premises_verbatim_with_real_models(tmp_path):
    data = needs_data()
    task = {
        "name": "rte-real",
        "kind": "pair",
        "labels": {"entailment": {"word": "definitely true"}, "not_entailment": {"word": "false or not stated"}},
        "validation": {"path": str(data / "rte" / "train.jsonl"), "text": "text_a", "text_b": "text_b", "limit": 40},
        "contexts": {"path": str(data / "rte" / "train.jsonl"), "text": "text_a", "text_b": "text_b"},
        "sizes": {"rationales_per_example": 0, "seed_examples": 8, "examples_per_error": 1, "rounds": 1},
        "llm": {"spec": "local:embedded", "max_tokens": 40},
        "student": {"epochs": 1, "max_length": 128},
        "prompts": {"first_name": "Premise", "second_name": "hypothesis"},
    }
    s = Session.create(task, folder=tmp_path)
    rows = s.run()
    assert [r.round for r in rows] == [0, 1]
    contexts = set(s.ctx.data.contexts)
    made = s.examples(kind="seed") + s.examples(kind="extrapolated")
    accepted = [e for e in made if e.accepted]
    assert accepted
    assert all(e.text in contexts and e.text_b for e in accepted), "premises are real and kept verbatim"
    s.close()
