"""A planted API key never shows: not on the CLI's or the magics' output, not in the run store (every table, and
the raw bytes of the database and its WAL), not in logs, exported files, exception messages or tracebacks, even
when the API echoes the key back in its error bodies.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
import yaml
from conftest import sst2_task
from faults import PROVIDERS, Provider, Server, engine_answer, fast_sdk_retries, isolate_api_env, route_backends
from IPython.utils.capture import capture_output

from s3_magic.cli import main
from s3_magic.errors import BackendError
from s3_magic.session import Session

#: a key shaped like a real one (caught by pattern too) and one that only its exact value can mask
PLANTED = {
    "anthropic": "sk-ant-api03-PLANTED-Zx9Qw8Er7Ty6Ui5Op4As3Df2",
    "openai": "PLANTED-openai-9f8e7d6c5b4a3928",
}


def leaks(found: str | bytes, key: str) -> list[str]:
    """Pieces of ``key`` (the whole key, or its distinctive part) that appear in ``found``."""
    pieces = [key, key.split("PLANTED-")[1]]
    if isinstance(found, bytes):
        return [p for p in pieces if p.encode() in found]
    return [p for p in pieces if p in found]


def echoing_errors(key: str) -> tuple:
    """Errors whose bodies echo the key: a 401, a retried 500 then a 400 (both fail the call for good)."""
    return (
        (401, {}, f"invalid x-api-key: {key}"),
        (500, {}, f"upstream failed for Authorization: Bearer {key}"),
        (400, {}, f"request with key {key} is malformed"),
    )


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request, monkeypatch) -> Provider:
    isolate_api_env(monkeypatch)
    fast_sdk_retries(monkeypatch)
    monkeypatch.setenv(request.param.key_env, PLANTED[request.param.name])
    return request.param


def test_planted_key_never_shows_anywhere(provider, tmp_path, monkeypatch, capsys, caplog, shell):
    key = PLANTED[provider.name]
    caplog.set_level(logging.DEBUG)
    server = Server(provider.reply, answer=engine_answer)
    route_backends(monkeypatch, {provider.name: server})
    task = sst2_task(**{"llm__spec": f"{provider.name}:test-model", "llm__options": {"max_retries": 1},
                        "sizes__rounds": 1})  # fmt: skip
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    folder = tmp_path / "runs"
    shown: list[str] = []

    # the CLI: a rejected key, then errors echoing the key, then a run that finishes, then every report
    server.script.extend(echoing_errors(key)[:1])
    assert main(["run", str(task_file), "--folder", str(folder), "--name", "r"]) == 2
    server.script.extend([echoing_errors(key)[1]] * 2 + [echoing_errors(key)[2]])
    assert main(["resume", "r", "--folder", str(folder)]) == 2
    assert main(["resume", "r", "--folder", str(folder)]) == 2
    out = capsys.readouterr()
    shown += [out.out, out.err]
    assert "rejected the API key (401)" in out.err and "server error (500" in out.err and "(400: " in out.err
    assert main(["resume", "r", "--folder", str(folder)]) == 0
    for argv in (["runs"], ["show", "r"]):
        assert main([*argv, "--folder", str(folder)]) == 0
    exports = [tmp_path / "data.jsonl", tmp_path / "data.csv"]
    assert main(["export", "r", "--folder", str(folder), "--out", str(exports[0]), "--include-rejected"]) == 0
    assert main(["export", "r", "--folder", str(folder), "--out", str(exports[1]), "--format", "csv"]) == 0
    out = capsys.readouterr()
    shown += [out.out, out.err] + [p.read_text() for p in exports]

    # the magics: a failing cell and a working one, with everything they display
    server.script.extend(echoing_errors(key)[2:])
    with capture_output() as cell:
        failed = shell.run_cell(f"%%s3_synthesize --folder {tmp_path / 'nb'}\n" + yaml.safe_dump(task))
        shell.run_cell(f"%s3_status\n%s3_resume --folder {tmp_path / 'nb'} --run")
    assert failed.error_in_exec is not None
    shown += [cell.stdout, cell.stderr, *(str(o.data) for o in cell.outputs), str(failed.error_in_exec)]

    # the Python API: the exception, its traceback and the objects' reprs
    server.script.extend(echoing_errors(key)[2:])
    s = Session.create(task, folder=tmp_path / "api")
    with pytest.raises(BackendError) as info:
        s.run()
    shown += ["".join(traceback.format_exception(info.value)), repr(info.value), repr(s), repr(s.ctx.llm.backend)]
    shown += [repr(s.ctx.llm.backend.options), str(s.store.get_run(s.run_id))]

    shown += [caplog.text, *(str(r.args) for r in caplog.records)]
    for text in shown:
        assert not leaks(text, key), text[:2000]

    # the stores: every table, and the raw bytes of every database file (the WAL still holds recent pages)
    files = [p for folder in ("runs", "nb", "api") for p in (tmp_path / folder).iterdir()]
    assert any(p.name.endswith("-wal") for p in files)
    for path in files:
        assert not leaks(path.read_bytes(), key), path
    for folder in ("runs", "nb", "api"):
        for table, rows in dump_tables(tmp_path / folder / "s3.sqlite").items():
            assert not leaks(str(rows), key), table
    s.close()


def dump_tables(db: Path) -> dict[str, list]:
    import sqlite3

    with sqlite3.connect(db) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: c.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
