"""The SQLite run store: runs, examples with provenance, rounds, errors, cache and integrity."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from s3_magic.errors import StoreError
from s3_magic.records import Round
from s3_magic.store import RunStore


def test_examples_are_unique_per_gen_key_and_keep_provenance(tmp_path):
    st = RunStore(tmp_path)
    run = st.create_run("t", {"spec": {}})
    first = st.add_example(run, round=0, kind="seed", gen_key="seed:0", text="a", label="pos",
                           origin={"rationales": ["x"]}, verdict="ok", accepted=1)  # fmt: skip
    again = st.add_example(run, round=0, kind="seed", gen_key="seed:0", text="b", label="pos",
                           origin={}, verdict="ok", accepted=1)  # fmt: skip
    assert first is not None and again is None
    rows = st.examples(run)
    assert len(rows) == 1 and rows[0].text == "a" and rows[0].origin == {"rationales": ["x"]}
    st.set_accepted(first, False)
    assert st.examples(run, accepted=True) == []
    st.edit_example(first, "edited")
    assert st.examples(run)[0].text == "edited" and st.examples(run)[0].edited
    assert st.integrity_check() == []


def test_runs_listing_status_and_unknown_run(tmp_path):
    st = RunStore(tmp_path)
    a = st.create_run("t", {"spec": {}}, run_id="one")
    with pytest.raises(StoreError, match="already exists"):
        st.create_run("t", {"spec": {}}, run_id="one")
    st.set_run_status(a, "finished")
    assert st.list_runs()[0].status == "finished"
    with pytest.raises(StoreError, match="recent runs: one"):
        st.get_run("two")


def test_evaluation_and_cache_persist_across_connections(tmp_path):
    st = RunStore(tmp_path)
    run = st.create_run("t", {"spec": {}})
    st.save_evaluation(run, [{"uid": "val:1", "text": "x", "gold": "pos", "pred": "neg", "confidence": 0.9}],
                       Round(0, "evaluated", val_acc=0.5))  # fmt: skip
    st.cache_put("k", backend="fake", model="m", params="{}", prompt_hash="h", sample="0", text="out",
                 prompt_tokens=3, completion_tokens=4, run_id=run, step="r0:seed")  # fmt: skip
    st.close()
    st2 = RunStore(tmp_path)
    assert st2.get_round(run, 0) == Round(0, "evaluated", val_acc=0.5) and st2.get_round(run, 1) is None
    assert st2.errors(run, 0)[0]["pred"] == "neg"
    assert st2.cache_get("k")["text"] == "out"
    assert st2.usage(run) == {"calls": 1, "prompt_tokens": 3, "completion_tokens": 4}
    assert st2.usage(run, step_prefix="r1:")["calls"] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder_is_a_one_line_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IREAD | stat.S_IEXEC)
    with pytest.raises(StoreError, match="choose a writable folder"):
        RunStore(ro / "runs")


def test_folder_that_is_a_file_is_a_one_line_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="choose a writable folder"):
        RunStore(f)


def test_a_folder_from_schema_version_1_gains_the_run_owner(tmp_path):
    with sqlite3.connect(tmp_path / "s3.sqlite") as c:  # the runs table as version 1 made it, with a running run
        c.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, task_name TEXT NOT NULL, task_json TEXT NOT NULL, status"
                  " TEXT NOT NULL, message TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL)")  # fmt: skip
        c.execute("INSERT INTO runs VALUES ('old', 't', '{}', 'running', NULL, 0, 0)")
    st = RunStore(tmp_path)
    assert st.get_run("old")["status"] == "running", "no owner recorded: nothing to tell, so nothing changes"
    st.claim_run("old")
    run = st.get_run("old")
    assert (run["status"], run["owner_pid"]) == ("running", os.getpid())
    assert [r.id for r in st.list_runs()] == ["old"]
    assert st._q("SELECT value FROM meta WHERE key = 'schema_version'")[0][0] == "2"


def test_call_chunks_start_small_and_double_so_first_results_come_early(tmp_path):
    from s3_magic.llm.base import Backend, Completion, GenParams, Prompt
    from s3_magic.llm.cached import CachedLLM

    class Recording(Backend):
        provider, default_chunk, first_chunk = "recording", 8, 2

        def __init__(self) -> None:
            super().__init__("m")
            self.calls: list[int] = []

        def generate(self, prompts, params):
            self.calls.append(len(prompts))
            for i, p in enumerate(prompts):
                yield i, Completion(p.messages[-1]["content"].upper(), 1, 1)

    backend = Recording()
    llm = CachedLLM(backend, RunStore(tmp_path), GenParams())
    prompts = [Prompt([{"role": "user", "content": f"p{i}"}], sample="0") for i in range(25)]
    got = dict(llm.generate(prompts))
    assert backend.calls == [2, 4, 8, 8, 3]
    assert [got[i].text for i in range(25)] == [f"P{i}" for i in range(25)]
