"""Killing the process (SIGKILL) in the middle of synthesis or of training, or interrupting a notebook cell
(KeyboardInterrupt), then resuming: every finished example kept, nothing made or paid twice."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import fake_calls, needs_data, scripted_reply, sst2_task
from IPython.utils.capture import capture_output

from s3_magic import twins
from s3_magic.cli import main
from s3_magic.errors import StoreError
from s3_magic.session import Session

HOST = socket.gethostname()
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import conftest
    from s3_magic.llm.fake import FakeBackend
    from s3_magic.session import Session

    def slow(prompt):
        time.sleep({delay})
        return conftest.scripted_reply(prompt)

    class BlockingStudent(conftest.WordCountStudent):
        \"\"\"Trains normally, but blocks in the training of round {block_round}, after saying so in a file.\"\"\"
        fits = 0

        def fit(self, examples, seed=0, progress=None):
            stats = super().fit(examples, seed, progress)
            BlockingStudent.fits += 1
            if BlockingStudent.fits == {block_round} + 1:
                Path({signal!r}).write_text(json.dumps(len(examples)))
                time.sleep(600)
            return stats

    Session.create(
        json.loads({task!r}), folder={folder!r}, name="victim", backend_factory=lambda: FakeBackend(responder=slow),
        student_factory=lambda task: BlockingStudent(task.label_names),
    ).run()
    """
)


def start_child(task: dict, folder: Path, delay: float = 0.0, block_round: int = -1, signal_file: Path | None = None):
    code = CHILD.format(
        tests=str(Path(__file__).parent), task=json.dumps(task), folder=str(folder), delay=delay,
        block_round=block_round, signal=str(signal_file or ""),
    )  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONUNBUFFERED": "1"})


def snapshot(db: Path) -> tuple[dict[str, str], dict[int, str], int]:
    """Examples (gen_key -> text), round statuses and paid calls, read straight from the database file."""
    with sqlite3.connect(db) as c:
        examples = dict(c.execute("SELECT gen_key, text FROM examples"))
        rounds = dict(c.execute("SELECT round, status FROM rounds"))
        paid = c.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]
    return examples, rounds, paid


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM examples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_synthesis_then_resume(tmp_path, fake_llm):
    needs_data()
    folder = tmp_path / "runs"
    child = start_child(sst2_task(), folder, delay=0.05)
    db = folder / "s3.sqlite"
    deadline = time.time() + 60
    while _count(db) < 12 and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert child.poll() is None, "the child must still be synthesising when it is killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before, _, paid = snapshot(db)
    assert 12 <= len(before) < 40, "killed in the middle of seed synthesis"

    s = Session.open("victim", folder=folder)
    run = s.store.get_run("victim")
    gone = f"its process ({child.pid} on {HOST}) is gone; resume it to go on"
    assert (run["status"], run["message"]) == ("interrupted", gone), "a killed run does not read as running"
    assert s.store.integrity_check() == []
    s.run()
    after = s.examples()
    keys = [e.gen_key for e in after]
    assert len(keys) == len(set(keys)), "no example is stored twice"
    texts = {e.gen_key: e.text for e in after}
    assert all(texts[k] == t for k, t in before.items()), "every example finished before the kill is kept"
    assert len([k for k in keys if k.startswith("seed:")]) == 40
    # every call paid before the kill was served from the cache on resume, never paid again
    usage = s.usage()
    assert usage["calls"] == paid + fake_calls()
    assert s.store.get_run("victim")["status"] == "finished"
    assert s.store.integrity_check() == []


def test_sigkill_mid_training_then_resume(tmp_path, fake_llm):
    needs_data()
    folder, started = tmp_path / "runs", tmp_path / "training"
    child = start_child(sst2_task(), folder, block_round=1, signal_file=started)
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline and child.poll() is None:
        time.sleep(0.02)
    assert started.exists() and child.poll() is None, "the child must be training round 1 when it is killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before, rounds, paid = snapshot(folder / "s3.sqlite")
    assert rounds == {0: "evaluated", 1: "generated"}, "killed after round 1's data, while training on it"
    training_set = json.loads(started.read_text())

    s = Session.open("victim", folder=folder)
    assert s.store.integrity_check() == []
    r1_usage = s.store.usage("victim", step_prefix="r1:")
    s.run()
    after = {e.gen_key: e.text for e in s.examples()}
    assert len(after) == len(s.examples()), "no example is stored twice"
    assert all(after[k] == t for k, t in before.items()), "every example finished before the kill is kept"
    assert len(s.examples(max_round=1)) == len(before), "rounds 0 and 1 made no new example on resume"
    assert s.rounds()[1].n_train == training_set, "round 1 trained again on exactly the same data"
    assert s.store.usage("victim", step_prefix="r1:") == r1_usage, "round 1's calls were not paid again"
    assert s.usage()["calls"] == paid + fake_calls(), "only round 2 made new calls"
    assert [r.status for r in s.rounds()] == ["evaluated"] * 3
    assert s.store.get_run("victim")["status"] == "finished"
    assert s.store.integrity_check() == []


def test_keyboard_interrupt_in_a_notebook_cell_then_resume(shell, tmp_path, fake_llm):
    answered: list[str] = []

    def interrupt_after_25(prompt):
        if len(answered) == 25:
            raise KeyboardInterrupt  # what Ctrl-C / the stop button raises in the kernel
        answered.append(prompt.sample)
        return scripted_reply(prompt)

    fake_llm.responder = interrupt_after_25
    cell = f"%%s3_synthesize --folder {tmp_path} --name nb\n" + yaml.safe_dump(sst2_task(**{"sizes__rounds": 1}))
    with capture_output() as shown:
        result = shell.run_cell(cell)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "KeyboardInterrupt" in shown.stdout + shown.stderr
    run = twins.current().store.get_run("nb")
    assert (run["status"], run["message"]) == ("interrupted", "interrupted; resume it to go on")
    before, rounds, paid = snapshot(tmp_path / "s3.sqlite")
    assert 0 < len(before) < 40 and rounds == {} and paid == len(answered) == 25

    fake_llm.responder = scripted_reply
    twins.STATE.session = None  # as in a fresh kernel
    with capture_output():
        result = shell.run_cell(f"%s3_resume nb --folder {tmp_path} --run")
    assert result.error_in_exec is None
    s = twins.current()
    after = {e.gen_key: e.text for e in s.examples()}
    assert len(after) == len(s.examples()) and all(after[k] == t for k, t in before.items())
    assert len(s.examples(kind="seed")) == 40
    assert s.usage()["calls"] == fake_calls() - 1, "every answered call paid once (the interrupted one was not)"
    assert s.store.get_run("nb")["status"] == "finished" and s.store.integrity_check() == []


HOLDER = """
import time
from s3_magic.store import RunStore
RunStore({folder!r}).claim_run("held")
print("running", flush=True)
time.sleep(600)
"""


def runs_status(folder: Path, capsys: pytest.CaptureFixture) -> str:
    assert main(["runs", "--folder", str(folder)]) == 0
    return re.search(r"^held\s+sst2-test\s+(\w+)", capsys.readouterr().out, re.M).group(1)


def test_a_run_is_running_while_its_process_lives_and_interrupted_once_it_is_gone(tmp_path, fake_llm, capsys):
    folder = tmp_path / "runs"
    Session.create(sst2_task(**{"sizes__rounds": 0}), folder=folder, name="held")
    db_status = lambda: sqlite3.connect(folder / "s3.sqlite").execute("SELECT status FROM runs").fetchone()[0]  # noqa: E731
    holder = [sys.executable, "-c", HOLDER.format(folder=str(folder))]
    child = subprocess.Popen(holder, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "running"
        assert runs_status(folder, capsys) == "running"
        assert main(["resume", "held", "--folder", str(folder), "-q"]) == 2
        refused = f"error: run 'held' is being run right now by process {child.pid} on {HOST}; wait for it to finish"
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith(refused)
        with pytest.raises(StoreError, match="being run right now"):
            Session.open("held", folder=folder, overrides={"llm.budget_tokens": 10})
        assert fake_calls() == 0 and db_status() == "running"
        assert Session.open("held", folder=folder).store.get_run("held")["owner_pid"] == child.pid
    finally:
        child.kill()
        child.wait()

    assert runs_status(folder, capsys) == "interrupted"
    assert main(["show", "held", "--folder", str(folder)]) == 0
    assert "run held (sst2-test) — interrupted" in capsys.readouterr().out
    assert db_status() == "running", "reading a run does not rewrite its record"
    with sqlite3.connect(folder / "s3.sqlite") as c:  # the same run, owned by a process on another machine
        c.execute("UPDATE runs SET owner_host = 'another-host'")
    assert runs_status(folder, capsys) == "running", "a process on another host cannot be checked"

    assert main(["resume", "held", "--folder", str(folder), "-q"]) == 0
    assert runs_status(folder, capsys) == "finished"
    assert Session.open("held", folder=folder).store.get_run("held")["owner_pid"] == os.getpid()
