"""The command line, driven in-process with the scripted LLM and the word-count student."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import fake_calls, sst2_task

from s3_magic.cli import main


@pytest.fixture
def task_file(tmp_path, fake_llm, toy_student):
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(sst2_task(**{"sizes__rounds": 1})))
    return path


def test_run_prints_round_table_and_rerun_is_free(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    assert main(["run", str(task_file), "--folder", folder, "-q"]) == 0
    out = capsys.readouterr().out
    assert "val acc" in out and "test acc" in out
    assert out.count("%") >= 4  # val + test accuracy for rounds 0 and 1
    calls = fake_calls()
    assert main(["run", str(task_file), "--folder", folder, "-q", "--name", "again"]) == 0
    out = capsys.readouterr().out
    assert fake_calls() == calls
    assert "LLM: 0 calls paid by this run" in out


def test_runs_show_export_and_resume(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    main(["run", str(task_file), "--folder", folder, "-q", "--name", "r1"])
    capsys.readouterr()
    assert main(["runs", "--folder", folder]) == 0
    assert "r1" in capsys.readouterr().out
    assert main(["show", "r1", "--folder", folder]) == 0
    assert "round" in capsys.readouterr().out
    out = tmp_path / "data.jsonl"
    assert main(["export", "r1", "--folder", folder, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["accepted"] for r in rows)
    assert {"text", "label", "round", "kind", "rationales", "from_uid", "prompt_hash", "verdict"} <= set(rows[0])
    csv = tmp_path / "data.csv"
    assert main(["export", "--folder", folder, "--out", str(csv), "--format", "csv", "--include-rejected"]) == 0
    assert csv.read_text().splitlines()[0].startswith("id,text,label")
    assert main(["resume", "r1", "--folder", folder, "-q", "--rounds", "2"]) == 0
    assert "2 " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "missing.yaml"], "not found"),
        (["run", "TASK", "--set", "sizes.roundz=2"], "unknown key 'sizes.roundz'"),
        (["run", "TASK", "--set", "nonsense"], "KEY=VALUE"),
        (["run", "TASK", "--llm", "nope:x"], "unknown LLM provider"),
        (["run", "TASK", "--seed-examples", "0"], "sizes.seed_examples"),
        (["resume", "ghost", "--folder", "FOLDER"], "no run 'ghost'"),
        (["show", "--folder", "FOLDER/empty"], "no run folder"),
        (["export", "--folder", "FOLDER", "--out", "/nonexistent/dir/x.jsonl"], "does not exist"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(argv, message, task_file, tmp_path, capsys):
    folder = tmp_path / "runs"
    main(["run", str(task_file), "--folder", str(folder), "-q", "--set", "sizes.rounds=0"])
    capsys.readouterr()
    argv = [a.replace("TASK", str(task_file)).replace("FOLDER", str(folder)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_dry_run_generates_nothing(task_file, tmp_path, capsys):
    assert main(["run", str(task_file), "--folder", str(tmp_path / "r"), "--dry-run"]) == 0
    assert "LLM calls: about" in capsys.readouterr().out
    assert fake_calls() == 0
