"""Killing the process (SIGKILL) in the middle of synthesis, then resuming: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import needs_data, sst2_task

from s3_magic.session import Session

CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {tests!r})
    import conftest
    from s3_magic.llm.fake import FakeBackend
    from s3_magic.session import Session
    import s3_magic.engine.training as training

    def slow(prompt):
        time.sleep(0.05)
        return conftest.scripted_reply(prompt)

    FakeBackend.default_responder = slow
    training.make_student = lambda ctx: conftest.WordCountStudent(ctx.task.label_names)
    Session.create(json.loads({task!r}), folder={folder!r}, name="victim").run()
    """
)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM examples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_synthesis_then_resume(tmp_path, fake_llm, toy_student):
    needs_data()
    task = sst2_task()
    folder = tmp_path / "runs"
    code = CHILD.format(tests=str(Path(__file__).parent), task=json.dumps(task), folder=str(folder))
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    db = folder / "s3.sqlite"
    deadline = time.time() + 60
    while _count(db) < 12 and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert child.poll() is None, "the child must still be synthesising when it is killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = {}
    with sqlite3.connect(db) as c:
        for key, text in c.execute("SELECT gen_key, text FROM examples"):
            before[key] = text
        paid = c.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]
    assert 12 <= len(before) < 40, "killed in the middle of seed synthesis"

    s = Session.open("victim", folder=folder)
    assert s.store.integrity_check() == []
    s.run()
    after = s.examples()
    keys = [e["gen_key"] for e in after]
    assert len(keys) == len(set(keys)), "no example is stored twice"
    texts = {e["gen_key"]: e["text"] for e in after}
    assert all(texts[k] == t for k, t in before.items()), "every example finished before the kill is kept"
    assert len([k for k in keys if k.startswith("seed:")]) == 40
    # every call paid before the kill was served from the cache on resume, never paid again
    usage = s.usage()
    assert usage["calls"] == paid + sum(len(b.history) for b in fake_llm.instances)
    assert s.store.get_run("victim")["status"] == "finished"
    assert s.store.integrity_check() == []
