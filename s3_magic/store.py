"""The run store: one SQLite file (WAL) per run folder holding runs, rounds, examples, errors, the
LLM call cache and the provider batches made. Everything is written as it arrives, so an interrupted run loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from s3_magic.errors import StoreError
from s3_magic.owner import ALIVE, GONE, Owner, owner_state, this_process
from s3_magic.records import (
    CREATED,
    EVALUATED,
    INTERRUPTED,
    RUNNING,
    ExampleKind,
    Round,
    RoundStatus,
    RunStatus,
    RunSummary,
    SyntheticExample,
)

DB_NAME = "s3.sqlite"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    task_name TEXT NOT NULL,
    task_json TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    owner_pid INTEGER,
    owner_host TEXT,
    owner_started REAL
);
CREATE TABLE IF NOT EXISTS rationales (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    label TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    round INTEGER NOT NULL,
    kind TEXT NOT NULL,
    gen_key TEXT NOT NULL,
    text TEXT,
    text_b TEXT,
    label TEXT NOT NULL,
    origin TEXT NOT NULL,
    backend TEXT,
    model TEXT,
    prompt_hash TEXT,
    raw_output TEXT,
    verdict TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    edited INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    UNIQUE (run_id, gen_key)
);
CREATE INDEX IF NOT EXISTS examples_run_round ON examples (run_id, round);
CREATE TABLE IF NOT EXISTS rounds (
    run_id TEXT NOT NULL REFERENCES runs(id),
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    stats TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS errors (
    run_id TEXT NOT NULL REFERENCES runs(id),
    round INTEGER NOT NULL,
    uid TEXT NOT NULL,
    text TEXT NOT NULL,
    text_b TEXT,
    gold TEXT NOT NULL,
    pred TEXT NOT NULL,
    confidence REAL NOT NULL,
    PRIMARY KEY (run_id, round, uid)
);
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    sample TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    run_id TEXT,
    step TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_cache_run ON llm_cache (run_id);
CREATE TABLE IF NOT EXISTS llm_batches (
    backend TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    run_id TEXT,
    model TEXT NOT NULL,
    requests TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (backend, batch_id)
);
CREATE TABLE IF NOT EXISTS finals (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    result TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

EXAMPLE_COLUMNS = (
    "id", "run_id", "round", "kind", "gen_key", "text", "text_b", "label", "origin", "backend", "model",
    "prompt_hash", "raw_output", "verdict", "accepted", "edited", "created_at",
)  # fmt: skip


class RunStore:
    """Access to ``<folder>/s3.sqlite``. Safe to share between threads; several processes may open it."""

    def __init__(self, folder: str | Path, in_memory: bool = False) -> None:
        """Open (or make) the store of ``folder``; ``in_memory``: an empty store in memory that writes no file,
        for a dry run."""
        self.folder = Path(folder).expanduser()
        self.path = self.folder / DB_NAME
        try:
            if not in_memory:
                self.folder.mkdir(parents=True, exist_ok=True)
            target = ":memory:" if in_memory else self.path
            self._conn = sqlite3.connect(target, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
            self._migrate()
        except (OSError, sqlite3.OperationalError) as exc:
            raise StoreError(
                f"cannot use run folder {str(self.folder)!r} ({exc}); choose a writable folder with --folder"
            ) from None
        self._lock = threading.RLock()

    def _migrate(self) -> None:
        """Bring a folder made by an older version up to :data:`SCHEMA_VERSION` (version 2 added the run owner)."""
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(runs)")}
        for column, kind in (("owner_pid", "INTEGER"), ("owner_host", "TEXT"), ("owner_started", "REAL")):
            if column not in have:
                self._conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
        self._conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn.in_transaction:  # left open by a Ctrl-C that came between BEGIN and the with block
                self._conn.execute("ROLLBACK")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, task_name: str, task_json: dict[str, Any], run_id: str | None = None) -> str:
        run_id = run_id or f"{task_name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        now = time.time()
        try:
            with self.transaction() as c:
                c.execute(
                    "INSERT INTO runs (id, task_name, task_json, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, task_name, json.dumps(task_json), CREATED, now, now),
                )
        except sqlite3.IntegrityError:
            raise run_name_taken(run_id) from None
        return run_id

    def get_run(self, run_id: str) -> dict[str, Any]:
        rows = self._q("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            known = [r["id"] for r in self._q("SELECT id FROM runs ORDER BY created_at DESC LIMIT 5")]
            hint = f"; pick one of the recent runs: {', '.join(known)}" if known else "; start a run there first"
            raise StoreError(f"no run {run_id!r} in {str(self.path)!r}{hint}")
        row = _as_seen(dict(rows[0]))
        row["task"] = json.loads(row.pop("task_json"))
        return row

    def latest_run(self) -> str | None:
        rows = self._q("SELECT id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1")
        return rows[0]["id"] if rows else None

    def list_runs(self) -> list[RunSummary]:
        """The runs of this folder, newest first."""
        rows = self._q(
            "SELECT r.id, r.task_name, r.status, r.message, r.created_at, r.updated_at,"
            " r.owner_pid, r.owner_host, r.owner_started,"
            " (SELECT COUNT(*) FROM examples e WHERE e.run_id = r.id AND e.accepted = 1) AS accepted,"
            " (SELECT MAX(round) FROM rounds d WHERE d.run_id = r.id AND d.status = ?) AS last_round"
            " FROM runs r ORDER BY r.created_at DESC, r.rowid DESC",
            (EVALUATED,),
        )
        names = [f.name for f in fields(RunSummary)]
        return [RunSummary(**{k: d[k] for k in names}) for d in (_as_seen(dict(r)) for r in rows)]

    def claim_run(self, run_id: str) -> None:
        """Mark the run ``running`` by this process; StoreError when another live process is running it now."""
        me = this_process()
        with self.transaction() as c:
            _check_not_running_elsewhere(c, run_id)
            c.execute(
                "UPDATE runs SET status = ?, message = NULL, updated_at = ?, owner_pid = ?, owner_host = ?,"
                " owner_started = ? WHERE id = ?",
                (RUNNING, time.time(), me.pid, me.host, me.started, run_id),
            )

    def check_not_running_elsewhere(self, run_id: str) -> None:
        """StoreError when another live process is running the run now (before changing its settings)."""
        with self._lock:
            _check_not_running_elsewhere(self._conn, run_id)

    def set_run_status(self, run_id: str, status: RunStatus, message: str | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET status = ?, message = ?, updated_at = ? WHERE id = ?",
                (status, message, time.time(), run_id),
            )

    def set_run_task(self, run_id: str, task_json: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET task_json = ?, updated_at = ? WHERE id = ?",
                (json.dumps(task_json), time.time(), run_id),
            )

    # -- rationales ------------------------------------------------------------------------------
    def add_rationales(self, run_id: str, label: str, texts: Iterable[str], source: str = "llm") -> None:
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO rationales (run_id, label, text, source) VALUES (?, ?, ?, ?)",
                [(run_id, label, t, source) for t in texts],
            )

    def rationales(self, run_id: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM rationales WHERE run_id = ?" + ("" if include_deleted else " AND deleted = 0")
        return [dict(r) for r in self._q(sql + " ORDER BY id", (run_id,))]

    def update_rationale(self, rationale_id: int, text: str | None = None, deleted: bool | None = None) -> None:
        with self.transaction() as c:
            if text is not None:
                c.execute("UPDATE rationales SET text = ?, source = 'user' WHERE id = ?", (text, rationale_id))
            if deleted is not None:
                c.execute("UPDATE rationales SET deleted = ? WHERE id = ?", (int(deleted), rationale_id))

    # -- examples --------------------------------------------------------------------------------
    def add_example(self, run_id: str, **fields: Any) -> int | None:
        """Insert one example; returns its id, or None when ``gen_key`` was already stored."""
        fields = {**fields, "run_id": run_id, "created_at": time.time()}
        fields["origin"] = json.dumps(fields.get("origin", {}), ensure_ascii=False)
        cols = [c for c in EXAMPLE_COLUMNS if c in fields and c != "id"]
        sql = f"INSERT OR IGNORE INTO examples ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self.transaction() as c:
            cur = c.execute(sql, [fields[k] for k in cols])
            return cur.lastrowid if cur.rowcount else None

    def gen_keys(self, run_id: str, prefix: str = "") -> set[str]:
        rows = self._q("SELECT gen_key FROM examples WHERE run_id = ? AND gen_key LIKE ?", (run_id, prefix + "%"))
        return {r["gen_key"] for r in rows}

    def examples(
        self,
        run_id: str,
        *,
        max_round: int | None = None,
        round_no: int | None = None,
        accepted: bool | None = None,
        kind: ExampleKind | None = None,
        label: str | None = None,
    ) -> list[SyntheticExample]:
        """The run's synthetic examples in the order they were made, filtered by round (``round_no``, or up to
        ``max_round``), acceptance, kind and label."""
        sql = "SELECT * FROM examples WHERE run_id = ?"
        args: list[str | int] = [run_id]
        for cond, value in (
            ("round <= ?", max_round),
            ("round = ?", round_no),
            ("accepted = ?", None if accepted is None else int(accepted)),
            ("kind = ?", kind),
            ("label = ?", label),
        ):
            if value is not None:
                sql += f" AND {cond}"
                args.append(value)
        rows = self._q(sql + " ORDER BY id", args)
        return [SyntheticExample.from_row(dict(r), json.loads(r["origin"])) for r in rows]

    def set_accepted(self, example_id: int, accepted: bool) -> None:
        with self.transaction() as c:
            c.execute("UPDATE examples SET accepted = ? WHERE id = ?", (int(accepted), example_id))

    def set_verdicts(self, verdicts: dict[int, str]) -> None:
        """Reject examples after the fact: example id -> verdict (a reason of :data:`s3_magic.clean.REASONS`)."""
        with self.transaction() as c:
            c.executemany(
                "UPDATE examples SET verdict = ?, accepted = 0 WHERE id = ?", [(v, i) for i, v in verdicts.items()]
            )

    def edit_example(self, example_id: int, text: str, text_b: str | None = None) -> None:
        with self.transaction() as c:
            if text_b is None:
                c.execute("UPDATE examples SET text = ?, edited = 1 WHERE id = ?", (text, example_id))
            else:
                c.execute(
                    "UPDATE examples SET text = ?, text_b = ?, edited = 1 WHERE id = ?", (text, text_b, example_id)
                )

    # -- rounds and errors -------------------------------------------------------------------------
    def get_round(self, run_id: str, round_no: int) -> Round | None:
        """Round ``round_no`` of the run, or None when none of its phases has completed."""
        rows = self._q("SELECT status, stats FROM rounds WHERE run_id = ? AND round = ?", (run_id, round_no))
        return _round(round_no, rows[0]["status"], rows[0]["stats"]) if rows else None

    def set_round(self, run_id: str, record: Round) -> None:
        """Store a round's status and stats (replacing what was stored for it)."""
        with self.transaction() as c:
            _put_round(c, run_id, record)

    def rounds(self, run_id: str) -> list[Round]:
        """The run's rounds that have a completed phase, in order."""
        rows = self._q("SELECT round, status, stats FROM rounds WHERE run_id = ? ORDER BY round", (run_id,))
        return [_round(r["round"], r["status"], r["stats"]) for r in rows]

    def save_evaluation(self, run_id: str, errors: Sequence[dict[str, Any]], record: Round) -> None:
        """Store an evaluated round (``record``) and its validation errors, in one transaction."""
        if not record.evaluated:
            raise ValueError(f"round {record.round} is {record.status}, not evaluated")
        with self.transaction() as c:
            c.execute("DELETE FROM errors WHERE run_id = ? AND round = ?", (run_id, record.round))
            c.executemany(
                "INSERT INTO errors (run_id, round, uid, text, text_b, gold, pred, confidence)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, record.round, e["uid"], e["text"], e.get("text_b"), e["gold"], e["pred"], e["confidence"])
                    for e in errors
                ],
            )
            _put_round(c, run_id, record)

    def errors(self, run_id: str, round_no: int) -> list[dict[str, Any]]:
        """The validation errors of round ``round_no``, most confident first."""
        rows = self._q(
            "SELECT uid, text, text_b, gold, pred, confidence FROM errors WHERE run_id = ? AND round = ?"
            " ORDER BY confidence DESC, uid",
            (run_id, round_no),
        )
        return [dict(r) for r in rows]

    def set_final(self, run_id: str, result: dict[str, Any]) -> None:
        """Record the run's final model (see :mod:`s3_magic.engine.final`), replacing an earlier one."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO finals (run_id, result, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET result = excluded.result, created_at = excluded.created_at",
                (run_id, json.dumps(result), time.time()),
            )

    def final(self, run_id: str) -> dict[str, Any] | None:
        rows = self._q("SELECT result FROM finals WHERE run_id = ?", (run_id,))
        return json.loads(rows[0]["result"]) if rows else None

    # -- LLM call cache and usage -----------------------------------------------------------------
    def cache_get(self, key: str) -> dict[str, Any] | None:
        rows = self._q("SELECT text, prompt_tokens, completion_tokens FROM llm_cache WHERE key = ?", (key,))
        return dict(rows[0]) if rows else None

    def cache_put(self, key: str, **fields: Any) -> bool:
        """Store one call's result; False when ``key`` was already stored (the first result is kept)."""
        fields = {**fields, "key": key, "created_at": time.time()}
        cols = list(fields)
        with self.transaction() as c:
            cur = c.execute(
                f"INSERT OR IGNORE INTO llm_cache ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [fields[k] for k in cols],
            )
            return cur.rowcount > 0

    # -- provider batches ---------------------------------------------------------------------------
    def batch_put(
        self, backend: str, batch_id: str, *, run_id: str | None, model: str, requests: dict[str, list[str]]
    ) -> None:
        """Record a provider batch just made (``requests``: cache key -> (prompt hash, sample)), still open."""
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO llm_batches (backend, batch_id, run_id, model, requests, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'open', ?)",
                (backend, batch_id, run_id, model, json.dumps(requests), time.time()),
            )

    def open_batches(self, backend: str, model: str, run_id: str | None) -> list[tuple[str, dict[str, list[str]]]]:
        """The batches of ``run_id`` whose results were not read yet, oldest first: (batch id, requests)."""
        rows = self._q(
            "SELECT batch_id, requests FROM llm_batches WHERE backend = ? AND model = ? AND run_id IS ?"
            " AND status = 'open' ORDER BY created_at",
            (backend, model, run_id),
        )
        return [(r["batch_id"], json.loads(r["requests"])) for r in rows]

    def batch_done(self, backend: str, batch_id: str) -> None:
        """Mark a batch's results as read (every answered request is in the call cache)."""
        with self.transaction() as c:
            c.execute("UPDATE llm_batches SET status = 'read' WHERE backend = ? AND batch_id = ?", (backend, batch_id))

    def usage(self, run_id: str | None = None, step_prefix: str = "") -> dict[str, int]:
        """Tokens and calls paid for (real calls only), by one run (and step prefix) or by the whole folder."""
        sql = "SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,"
        sql += " COALESCE(SUM(completion_tokens), 0) AS completion_tokens FROM llm_cache"
        if run_id is None:
            return dict(self._q(sql)[0])
        return dict(self._q(sql + " WHERE run_id = ? AND step LIKE ?", (run_id, step_prefix + "%"))[0])

    def verdicts(self, run_id: str, round_no: int) -> dict[str, int]:
        """How many examples of a round got each filter verdict ("ok" = accepted by the filters)."""
        rows = self._q(
            "SELECT verdict, COUNT(*) n FROM examples WHERE run_id = ? AND round = ? GROUP BY verdict",
            (run_id, round_no),
        )
        return {r["verdict"]: r["n"] for r in rows}

    # -- maintenance ------------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """Problems found (empty when the store is sound)."""
        problems = [r[0] for r in self._q("PRAGMA integrity_check") if r[0] != "ok"]
        dupes = self._q("SELECT run_id, gen_key, COUNT(*) n FROM examples GROUP BY run_id, gen_key HAVING n > 1")
        problems += [f"duplicate example {r['gen_key']} in run {r['run_id']}" for r in dupes]
        orphans = self._q("SELECT COUNT(*) n FROM examples WHERE run_id NOT IN (SELECT id FROM runs)")
        if orphans[0]["n"]:
            problems.append(f"{orphans[0]['n']} examples belong to no run")
        return problems


def run_name_taken(run_id: str) -> StoreError:
    return StoreError(f"a run named {run_id!r} already exists; pick another name or resume it")


def open_store(folder: str | Path) -> RunStore:
    """The run store of an existing run folder; StoreError when ``folder`` holds none (nothing is made)."""
    if not (Path(folder).expanduser() / DB_NAME).is_file():
        raise StoreError(f"no run folder at {str(folder)!r}; start a run first or pass --folder")
    return RunStore(folder)


def list_runs(folder: str | Path) -> list[RunSummary]:
    """The runs in an existing run folder, newest first (what ``s3-magic runs`` and ``%s3_runs`` show)."""
    with closing(open_store(folder)) as store:
        return store.list_runs()


def stored_run_ids(folder: str | Path) -> set[str]:
    """The ids of the runs in ``folder``, read without making or changing any file (empty without a store)."""
    path = Path(folder).expanduser() / DB_NAME
    if not path.is_file():
        return set()
    # with its -wal and -shm files the store is open elsewhere: read through them; without, the file is all
    live = all(path.with_name(DB_NAME + end).exists() for end in ("-wal", "-shm"))
    uri = f"{path.resolve().as_uri()}?{'mode=ro' if live else 'immutable=1'}"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM runs")}
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read run folder {str(folder)!r} ({exc}); choose another with --folder") from None


def _round(round_no: int, status: RoundStatus, stats: str) -> Round:
    return Round.from_stats(round_no, status, json.loads(stats))


def _put_round(conn: sqlite3.Connection, run_id: str, record: Round) -> None:
    conn.execute(
        "INSERT INTO rounds (run_id, round, status, stats) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (run_id, round) DO UPDATE SET status = excluded.status, stats = excluded.stats",
        (run_id, record.round, record.status, json.dumps(record.stats())),
    )


def _owner(row: dict[str, Any] | sqlite3.Row) -> Owner | None:
    return None if row["owner_pid"] is None else Owner(row["owner_pid"], row["owner_host"], row["owner_started"])


def _as_seen(row: dict[str, Any]) -> dict[str, Any]:
    """A run row as it is now: a run still marked ``running`` whose process is gone reads as ``interrupted``
    (the record itself is left as it is; the next run of it takes it over)."""
    owner = _owner(row)
    if row["status"] == RUNNING and owner is not None and owner_state(owner) == GONE:
        row["status"] = INTERRUPTED
        row["message"] = f"its process ({owner.pid} on {owner.host}) is gone; resume it to go on"
    return row


def _check_not_running_elsewhere(conn: sqlite3.Connection, run_id: str) -> None:
    sql = "SELECT status, owner_pid, owner_host, owner_started FROM runs WHERE id = ?"
    row = conn.execute(sql, (run_id,)).fetchone()
    owner = None if row is None or row["status"] != RUNNING else _owner(row)
    if owner is not None and owner != this_process() and owner_state(owner) == ALIVE:
        raise StoreError(
            f"run {run_id!r} is being run right now by process {owner.pid} on {owner.host}; wait for it to finish "
            "or stop it (Ctrl-C) before resuming"
        )
