"""The typed records the store hands out, a run folder written before them, and files written whole or not at all."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

import s3_magic
from s3_magic.atomic import staged, write_atomic
from s3_magic.records import EVALUATED, GENERATED, Round, RunSummary, SyntheticExample, last_evaluated, to_dicts
from s3_magic.store import RunStore, list_runs


def test_a_round_keeps_its_stats_typed_and_what_it_has_no_field_for():
    stats = {"round": 1, "n_train": 90, "val_acc": 0.8, "rejected": {"too_short": 2}, "data_seconds": 1.5,
             "train_seconds": 2.0, "eval_seconds": 0.25, "prompt_tokens": 10, "completion_tokens": 5,
             "from_a_later_version": [1, 2]}  # fmt: skip
    r = Round.from_stats(1, EVALUATED, stats)
    assert (r.round, r.status, r.n_train, r.val_acc, r.check_acc) == (1, "evaluated", 90, 0.8, None)
    assert r.evaluated and r.tokens == 15 and r.seconds == 3.75
    assert r.extra == {"from_a_later_version": [1, 2]}
    assert r.stats() == {k: v for k, v in stats.items() if k != "round"}, "stored again, nothing is lost"
    assert Round.from_stats(1, EVALUATED, r.stats()) == r
    flat = r.to_dict()
    assert flat["round"] == 1 and flat["from_a_later_version"] == [1, 2] and flat["check_acc"] is None
    assert "cost_usd" not in flat, "a round the store hands out is not priced"
    priced = r.with_cost(0.25)
    assert priced.to_dict()["cost_usd"] == 0.25 and r.cost_usd is None and priced.priced
    assert r.with_cost(None).to_dict()["cost_usd"] is None, "priced, at no known price"
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.val_acc = 0.9  # type: ignore[misc]
    assert Round.PHASE_SECONDS == ("data_seconds", "train_seconds", "eval_seconds")
    assert last_evaluated([Round(0, EVALUATED), Round(1, EVALUATED), Round(2, GENERATED)]) == 1
    assert last_evaluated([Round(0, GENERATED)]) == -1 and last_evaluated([]) == -1


def test_a_folder_written_before_the_records_opens_with_everything_in_it(tmp_path):
    """Rows as an older version wrote them: stats with their round inside, accepted and edited as 0/1."""
    st = RunStore(tmp_path)
    run = st.create_run("t", {"spec": {}}, run_id="old")
    st.add_example(run, round=0, kind="seed", gen_key="seed:0", text="a fine film", label="pos",
                   origin={"rationales": ["x"]}, verdict="ok", accepted=1, backend="fake", model="m")  # fmt: skip
    st.add_example(run, round=1, kind="extrapolated", gen_key="r1:val:3:0", text="dull", label="neg",
                   origin={"from_uid": "val:3"}, verdict="too_short", accepted=0)  # fmt: skip
    st.close()
    with sqlite3.connect(tmp_path / "s3.sqlite") as c:
        old = {"round": 0, "new_accepted": 1, "rejected": {}, "n_train": 1, "val_acc": 0.5, "seconds_per_x": 3}
        c.execute("INSERT INTO rounds VALUES ('old', 0, 'evaluated', ?)", (json.dumps(old),))
        c.execute("INSERT INTO rounds VALUES ('old', 1, 'generated', ?)", (json.dumps({"new_accepted": 0}),))
    st = RunStore(tmp_path)
    rounds = st.rounds(run)
    assert [(r.round, r.status) for r in rounds] == [(0, "evaluated"), (1, "generated")]
    assert rounds[0].val_acc == 0.5 and rounds[0].extra == {"seconds_per_x": 3}
    assert st.get_round(run, 1) == rounds[1] and st.get_round(run, 2) is None
    seed, child = st.examples(run)
    assert isinstance(seed, SyntheticExample) and seed.accepted is True and seed.edited is False
    assert seed.example().uid == f"syn:{seed.id}" and seed.example().text == "a fine film"
    assert (child.accepted, child.verdict, child.from_uid, seed.from_uid) == (False, "too_short", "val:3", None)
    assert st.examples(run, round_no=1) == [child] and st.examples(run, accepted=True) == [seed]
    assert to_dicts([seed])[0]["origin"] == {"rationales": ["x"]} and to_dicts([{"a": 1}]) == [{"a": 1}]
    st.close()
    (listed,) = list_runs(tmp_path)
    assert isinstance(listed, RunSummary) and (listed.id, listed.last_round, listed.accepted) == ("old", 0, 1)
    assert listed.to_dict()["created"] == listed.created and RunSummary.COLUMNS[0] == ("id", "run")


def test_the_record_types_are_public():
    for name in ("Round", "SyntheticExample", "RunStatus", "RoundStatus", "write_atomic"):
        assert name in s3_magic.__all__ and getattr(s3_magic, name) is not None


def test_a_file_is_written_whole_or_not_at_all(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    write_atomic(path, "first\n")
    assert path.read_text() == "first\n", "the folder above is made"
    with pytest.raises(RuntimeError), staged(path) as tmp:
        tmp.write_text("half of a second")
        raise RuntimeError("the write failed")
    assert path.read_text() == "first\n" and sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "folder", "a file is never put over a folder")
    assert (tmp_path / "folder").is_dir()


def test_a_folder_is_replaced_whole_or_kept(tmp_path):
    target = tmp_path / "model"
    with staged(target, folder=True) as tmp:
        (tmp / "weights").write_text("v1")
    assert (target / "weights").read_text() == "v1"
    with pytest.raises(KeyboardInterrupt), staged(target, folder=True) as tmp:
        (tmp / "weights").write_text("v2, half")
        raise KeyboardInterrupt
    assert (target / "weights").read_text() == "v1", "an interrupted write leaves the old version"
    with staged(target, folder=True) as tmp:
        (tmp / "config").write_text("v3")
    assert sorted(p.name for p in target.iterdir()) == ["config"], "the new version replaces the old one whole"
    with staged(target, folder=True, keep=lambda t: (t / "config").exists()) as tmp:
        (tmp / "other").write_text("not kept")
    assert sorted(p.name for p in target.iterdir()) == ["config"], "a complete copy already there is kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "nothing is left beside it"
