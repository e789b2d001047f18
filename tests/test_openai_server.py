"""The ``openai:`` backend against a real OpenAI-compatible server: ``transformers serve`` with the embedded
SmolLM2 (:mod:`serve_fixture`). Whole S3 runs at concurrency 8; the server killed in the middle of one, started
again on the same port, the run resumed: nothing lost, no prompt paid twice, the same data as a replay.

``S3_MAGIC_SERVE_SEEDS`` sets the seed examples of the runs (default 16; the scale-out target is 300).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import sst2_task
from serve_fixture import TransformersServer, served_smollm_fixture  # noqa: F401 - the served_smollm fixture

from s3_magic.errors import BackendError
from s3_magic.llm.base import GenParams, Prompt
from s3_magic.llm.openai_backend import OpenAIBackend
from s3_magic.session import Session

pytestmark = pytest.mark.slow

SEEDS = int(os.environ.get("S3_MAGIC_SERVE_SEEDS", "16"))
MAX_TOKENS = 24
#: seconds without a new answer before the server is killed
QUIET = 0.5


def served_task(server: TransformersServer) -> dict:
    """A small SST-2 task whose LLM is the served model, at concurrency 8 (a CPU server is slow: long timeout)."""
    return sst2_task(
        name="sst2-served",
        llm__spec=f"openai:{server.model}",
        llm__max_tokens=MAX_TOKENS,
        llm__options={"base_url": server.base_url, "concurrency": 8, "timeout": 600.0, "max_retries": 2},
        sizes__rationales_per_label=3,
        sizes__rationales_per_example=1,
        sizes__seed_examples=SEEDS,
        sizes__examples_per_error=1,
        sizes__max_errors_per_round=4,
        sizes__rounds=1,
        student__mode="fast",
    )


EXAMPLE_FIELDS = "round, kind, gen_key, label, text, text_b, raw_output, prompt_hash, verdict, accepted"


def query(folder: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows read straight from the run folder's database."""
    with contextlib.closing(sqlite3.connect(folder / "s3.sqlite")) as c:
        return list(c.execute(sql, args))


def data_of(folder: Path, run_id: str) -> list[tuple[Any, ...]]:
    """Everything a run made (its examples, as stored), in a form two runs can be compared by."""
    return sorted(query(folder, f"SELECT {EXAMPLE_FIELDS} FROM examples WHERE run_id = ?", run_id))


def paid_calls(folder: Path, run_id: str) -> list[tuple[str, int, int]]:
    """The run's paid calls in the folder's call cache: (key, prompt tokens, completion tokens)."""
    return query(folder, "SELECT key, prompt_tokens, completion_tokens FROM llm_cache WHERE run_id = ?", run_id)


def state_of(folder: Path, run_id: str) -> tuple[str, list[tuple[int, str]]]:
    """The run's status and its rounds with their status."""
    [(status,)] = query(folder, "SELECT status FROM runs WHERE id = ?", run_id)
    return status, sorted(query(folder, "SELECT round, status FROM rounds WHERE run_id = ?", run_id))


def replay(folder: Path, task: dict, server: TransformersServer, into: Path) -> list[tuple[Any, ...]]:
    """A new, uninterrupted run of ``task`` in a copy of ``folder`` (same call cache): it pays nothing."""
    shutil.copytree(folder, into)
    answered = server.answered()
    with Session.create(task, folder=into) as again:
        again.run()
        run_id = again.run_id
    assert paid_calls(into, run_id) == [] and server.answered() == answered, "the replay reached the server"
    assert state_of(into, run_id)[0] == "finished"
    return data_of(into, run_id)


def test_usage_is_the_servers_own_token_count(served_smollm: TransformersServer) -> None:
    from transformers import AutoTokenizer

    backend = OpenAIBackend(served_smollm.model, base_url=served_smollm.base_url, timeout=600.0)
    prompt = Prompt.user("Write one short sentence about rain.", system="You write movie reviews.")
    [(_, completion)] = list(backend.generate([prompt], GenParams(max_tokens=6)))
    backend.close()
    tokenizer = AutoTokenizer.from_pretrained(served_smollm.model_folder)
    messages = list(prompt.messages)
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert completion.prompt_tokens == len(ids["input_ids"])
    assert completion.completion_tokens == 6 and completion.extra["finish_reason"] == "length"
    assert completion.text.strip()


def test_whole_run_at_concurrency_8_then_an_identical_replay(served_smollm: TransformersServer, tmp_path: Path) -> None:
    server, task, folder = served_smollm, served_task(served_smollm), tmp_path / "run"
    before = server.answered()
    t0 = time.monotonic()
    with Session.create(task, folder=folder) as s:
        s.run()
        run_id = s.run_id
    seconds = time.monotonic() - t0
    calls = paid_calls(folder, run_id)
    print(f"\nrun of {SEEDS} seed examples through transformers serve: {seconds:.0f} s, {len(calls)} calls")
    status, rounds = state_of(folder, run_id)
    assert status == "finished" and [r for r, _ in rounds] == [0, 1]
    sql = "SELECT kind, label, text, accepted, backend, model FROM examples WHERE run_id = ?"
    examples = query(folder, sql, run_id)
    assert {label for _, label, _, accepted, _, _ in examples if accepted} == {"negative", "positive"}
    assert {(backend, model) for *_, backend, model in examples} == {("openai", server.model)}
    seeds = [text for kind, _, text, *_ in examples if kind == "seed"]
    assert len(set(seeds)) > SEEDS // 2, "the server samples: the seed prompts are not all answered alike"

    assert len(calls) == server.answered() - before, "one paid call per answer of the server"
    assert all(p > 0 and 0 < c <= MAX_TOKENS for _, p, c in calls), "usage read from the server's answers"
    assert server.max_in_flight() > 1, "concurrent requests reached the server"

    assert replay(folder, task, server, tmp_path / "replay") == data_of(folder, run_id)


def kill_after(server: TransformersServer, answered: int, done: threading.Event, killed: list[float]) -> None:
    """Kill the server once it has answered ``answered`` calls, between two answers: at least ``QUIET`` s after
    the last one (its log line is written when its response starts, so a kill right after could cut the response
    off before the client has it). The calls in flight then die unanswered, which is the case under test."""
    seen, since = -1, time.monotonic()
    while not done.is_set():
        count = server.answered()
        if count != seen:
            seen, since = count, time.monotonic()
        elif count >= answered and time.monotonic() - since >= QUIET:
            server.kill()
            killed.append(time.monotonic())
            return
        time.sleep(0.05)


def test_server_killed_mid_run_then_resumed(served_smollm: TransformersServer, tmp_path: Path) -> None:
    server, task, folder = served_smollm, served_task(served_smollm), tmp_path / "run"
    before = server.answered()
    done, killed = threading.Event(), []
    killer = threading.Thread(target=kill_after, args=(server, before + SEEDS // 2, done, killed), daemon=True)
    session = Session.create(task, folder=folder, name="killed")
    killer.start()
    try:
        with pytest.raises(BackendError, match=rf"cannot reach the openai API at {re.escape(server.base_url)}"):
            session.run()
        failed = time.monotonic()
    finally:
        done.set()
        session.close()
    assert killed, "the run ended before the server was killed"
    assert failed - killed[0] < 60, "a dead server fails the run at once, not after a hang"
    answered_first = server.answered() - before
    kept = paid_calls(folder, "killed")
    assert len(kept) == answered_first, "every call the server answered is in the cache"
    made = dict(query(folder, "SELECT gen_key, text FROM examples WHERE run_id = 'killed'"))
    assert state_of(folder, "killed")[0] == "failed"

    server.start()  # the same port, a fresh process
    t0 = time.monotonic()
    with Session.open("killed", folder=folder) as resumed:
        resumed.run()
    print(
        f"\nkilled after {answered_first} answers, the run failed {failed - killed[0]:.1f} s later; the resumed "
        f"run took {time.monotonic() - t0:.0f} s; server starts {[round(x) for x in server.start_seconds]} s"
    )
    status, rounds = state_of(folder, "killed")
    assert status == "finished" and [r for r, _ in rounds] == [0, 1]
    now = dict(query(folder, "SELECT gen_key, text FROM examples WHERE run_id = 'killed'"))
    assert made.items() <= now.items(), "examples made before the kill are kept as they were"
    calls = paid_calls(folder, "killed")
    assert {k for k, _, _ in kept} <= {k for k, _, _ in calls} and len(calls) > len(kept)
    assert len(calls) == server.answered() - before, "no prompt paid twice"

    assert replay(folder, task, server, tmp_path / "replay") == data_of(folder, "killed")
