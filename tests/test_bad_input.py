"""Bad input: every case gets one line on stderr (exit 2, no traceback) that says how to fix it, and leaves
nothing half-written: no run folder for a new run, no change to the store for an existing one.

The cases are listed in :data:`CLI_CASES` and :data:`SESSION_CASES` (their ids name them).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import needs_data, sst2_task

from s3_magic.cli import main
from s3_magic.errors import S3Error
from s3_magic.session import Session

#: words a message uses to say what to do
FIX = re.compile(
    r"\b(set|use|add|remove|give|check|fix|re-save|save|choose|start|pass|write|pick|label|fill|create|install|name|"
    r"lower|raise|resume|list|drop|change|iterate|extrapolate|loosen|synthesi[sz]e|train)\b"
)
API_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL")


def real_rows(n: int, start: int = 0) -> list[dict]:
    lines = (needs_data() / "sst2" / "dev.jsonl").read_text().splitlines()[start : start + n]
    return [json.loads(line) for line in lines]


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


class Files:
    """Writes the files of one case into its folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    def task(self, task: dict | None = None, **changes) -> str:
        return self.write("task.yaml", yaml.safe_dump(task or sst2_task(**changes)))

    def data_task(self, content: str | bytes, name: str = "val.jsonl", **changes) -> str:
        """A task whose validation data is ``content``."""
        task = sst2_task(**changes)
        task["validation"] = {"path": self.write(name, content)}
        task.pop("split")
        return self.task(task)


@dataclass
class Case:
    #: argv for ``s3-magic`` from the case's files; RUNS is the run folder, which holds a finished run "r"
    #: when ``existing``
    argv: Callable[[Files], list[str]]
    expect: str
    existing: bool = False
    env: dict[str, str] = field(default_factory=dict)


def run(extra: list[str] | None = None, **changes) -> Callable[[Files], list[str]]:
    return lambda f: ["run", f.task(**changes), *(extra or [])]


latin1 = "it 's a charming film , caf\xe9 au lait".encode("latin-1")

CLI_CASES: dict[str, Case] = {
    # the task file
    "task file missing": Case(lambda f: ["run", str(f.root / "missing.yaml")], "not found"),
    "task file not UTF-8 (latin-1)": Case(
        lambda f: ["run", f.write("task.yaml", b"name: caf\xe9\nlabels: [a, b]\n")], "save it as UTF-8"
    ),
    "task is not valid YAML": Case(
        lambda f: ["run", f.write("task.yaml", "name: x\n  labels: [a, b\n")], "is not valid YAML at line"
    ),
    "task is not a mapping": Case(lambda f: ["run", f.write("task.yaml", "- a\n- b\n")], "must be a mapping"),
    "unknown key in the task": Case(run(bogus=1), "unknown key 'bogus'"),
    "unknown nested key (--set)": Case(run(["--set", "sizes.roundz=2"]), "unknown key 'sizes.roundz'"),
    "--set without =": Case(run(["--set", "nonsense"]), "KEY=VALUE"),
    "invalid size (0 seed examples)": Case(run(["--seed-examples", "0"]), "sizes.seed_examples"),
    "k rationales > K": Case(run(sizes__rationales_per_label=1), "cannot exceed rationales_per_label"),
    "budget of 0 tokens": Case(run(["--budget", "0"]), "llm.budget_tokens"),
    "unknown prompt placeholder": Case(run(prompts__seed="Write a $labl review"), "unknown placeholder(s) $labl"),
    "unknown student mode": Case(run(["--set", "student.mode=slow"]), "student.mode"),
    # the LLM
    "unknown backend": Case(run(["--llm", "nope:x"]), "unknown LLM provider 'nope'"),
    "missing API key": Case(run(["--llm", "anthropic:claude-haiku-4-5"]), "set ANTHROPIC_API_KEY"),
    "API key in the task": Case(run(["--set", "llm.options.api_key=sk-x"]), "set the provider's environment"),
    "unknown backend option": Case(
        run(["--llm", "openai:m", "--set", "llm.options.temprature=0.5"]),
        "unknown option 'temprature' for the openai backend; use one of base_url, batch, batch_poll_seconds, "
        "concurrency",
        env={"OPENAI_API_KEY": "sk-test-key"},
    ),
    "concurrency 0": Case(
        run(["--llm", "anthropic:m", "--set", "llm.options.concurrency=0"]),
        "concurrency must be a whole number",
        env={"ANTHROPIC_API_KEY": "sk-test-key"},
    ),
    "unknown LLM (missing local model folder)": Case(run(["--llm", "local:/no/such/model"]), "does not exist"),
    "unknown student model (missing folder)": Case(
        run(["--set", "student.model=/no/such/minilm"]), "student model folder /no/such/minilm does not exist"
    ),
    # the data
    "validation file missing": Case(run(validation__path="/no/such/dev.jsonl"), "not found; check the path"),
    "validation not UTF-8 (latin-1)": Case(
        lambda f: ["run", f.data_task(b'{"text": "' + latin1 + b'", "label": 1}\n')], "re-save it as UTF-8"
    ),
    "validation not UTF-8 (UTF-16)": Case(
        lambda f: ["run", f.data_task(jsonl(real_rows(20)).encode("utf-16"))], "is not UTF-8 text"
    ),
    "validation is not JSON": Case(
        lambda f: ["run", f.data_task(jsonl(real_rows(3)) + "{oops\n")], "line 4 is not valid JSON"
    ),
    "unknown data format": Case(lambda f: ["run", f.data_task(jsonl(real_rows(20)), name="val.txt")], "set format"),
    "missing column": Case(
        lambda f: ["run", f.data_task(jsonl([{"sentence": r["text"], "label": r["label"]} for r in real_rows(20)]))],
        "has no column(s) 'text'",
    ),
    "empty text": Case(
        lambda f: ["run", f.data_task(jsonl([*real_rows(10), {"text": " ", "label": "positive"}]))],
        "empty text in row(s) 10",
    ),
    "unknown label": Case(
        lambda f: ["run", f.data_task(jsonl([*real_rows(10), {"text": "meh", "label": "neutral"}]))],
        "label value(s) 'neutral' that are not task labels",
    ),
    "integer label out of range": Case(
        lambda f: ["run", f.data_task(jsonl([{"text": "ok", "label": 0}, {"text": "no", "label": 5}]))],
        "has label 5, out of range for 2 labels",
    ),
    "empty validation file": Case(lambda f: ["run", f.data_task("")], "has no rows"),
    "single-class validation": Case(
        lambda f: ["run", f.data_task(jsonl([r for r in real_rows(40) if r["label"] == "positive"]))],
        "needs examples of at least two labels",
    ),
    "validation/test overlap": Case(
        lambda f: [
            "run",
            f.task(
                {
                    **{k: v for k, v in sst2_task().items() if k != "split"},
                    "validation": {"path": f.write("val.jsonl", jsonl(real_rows(40)))},
                    "test": {"path": f.write("test.jsonl", jsonl(real_rows(40, start=30)))},
                }
            ),
        ],
        "test example(s) also appear in the validation set",
    ),
    "split larger than the data": Case(run(split__validation=500), "cannot take 500 of 120 examples"),
    # the run folder and existing runs
    "unwritable run folder": Case(
        lambda f: ["run", f.task(), "--folder", str(Path(f.write("file", "x")) / "runs")], "choose a writable folder"
    ),
    "run name taken": Case(lambda f: ["run", f.task(), "--name", "r"], "already exists", existing=True),
    "resume unknown run": Case(lambda f: ["resume", "ghost"], "no run 'ghost'", existing=True),
    "resume without a run folder": Case(lambda f: ["resume", "--folder", str(f.root / "none")], "no run folder"),
    "resume changing the data": Case(
        lambda f: ["resume", "r", "--set", "validation.limit=50"], "validation data cannot change", existing=True
    ),
    "resume changing the labels": Case(
        lambda f: ["resume", "r", "--set", "labels=[bad, good]"], "labels and kind cannot change", existing=True
    ),
    "resume with an LLM without key": Case(
        lambda f: ["resume", "r", "--set", "llm.spec=openai:gpt-4.1-mini"], "set OPENAI_API_KEY", existing=True
    ),
    "export to a missing folder": Case(
        lambda f: ["export", "r", "--out", str(f.root / "no" / "dir" / "x.jsonl")], "does not exist", existing=True
    ),
}


def dump(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, to compare a store before and after."""
    with sqlite3.connect(db) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: c.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}


@pytest.fixture
def clean_env(monkeypatch):
    for var in API_ENV:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize("case", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_bad_input_is_one_line_and_writes_nothing(case, tmp_path, clean_env, fake_llm, capsys):
    files = Files(tmp_path)
    folder = tmp_path / "runs"
    if case.existing:
        assert main(["run", files.task(**{"sizes__rounds": 0}), "--folder", str(folder), "-q", "--name", "r"]) == 0
        before = dump(folder / "s3.sqlite")
    for var, value in case.env.items():
        clean_env.setenv(var, value)
    argv = case.argv(files)
    if "--folder" not in argv:
        argv += ["--folder", str(folder)]
    capsys.readouterr()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    message = lines[0].removeprefix("error: ")
    assert case.expect in message
    assert FIX.search(message), f"the message says how to fix it: {message}"
    assert "Traceback" not in err and out == ""
    if case.existing:
        assert dump(folder / "s3.sqlite") == before, "the store is unchanged"
    else:
        assert not folder.exists(), "no run folder was made"


def _open_other_task(s: Session) -> None:
    Session.open("r", folder=s.store.folder, task=sst2_task(name="other"))


SESSION_CASES: dict[str, tuple[Callable[[Session], object], str]] = {
    "open with another task": (_open_other_task, "belongs to task 'sst2-test'"),
    "update the labels": (lambda s: s.update({"labels": ["bad", "good"]}), "labels and kind cannot change"),
    "rationales of an unknown label": (lambda s: s.set_rationales("neutral", ["x"]), "unknown label 'neutral'"),
    "iterate 0 rounds": (lambda s: s.iterate(0), "rounds must be at least 1"),
    "train with nothing new": (lambda s: s.train(), "already evaluated"),
    "export an unknown format": (lambda s: s.export(s.store.folder / "x", format="xml"), "unknown export format"),
    "export a file over a folder": (lambda s: s.export(s.store.folder, format="jsonl"), "give a file path"),
}


@pytest.mark.parametrize("case", SESSION_CASES.values(), ids=SESSION_CASES.keys())
def test_session_bad_input_is_one_line_and_changes_nothing(case, tmp_path, fake_llm):
    action, expect = case
    s = Session.create(sst2_task(**{"sizes__rounds": 0}), folder=tmp_path, name="r")
    s.run()
    before = dump(s.store.path)
    with pytest.raises(S3Error) as info:
        action(s)
    message = str(info.value)
    assert expect in message and "\n" not in message and FIX.search(message), message
    assert dump(s.store.path) == before
