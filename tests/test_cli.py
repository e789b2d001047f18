"""The command line, driven in-process with the scripted LLM and the word-count student."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import fake_calls, sst2_task

from s3_magic.cli import TqdmReporter, main
from s3_magic.records import Round
from s3_magic.session import Session
from s3_magic.summaries import final_summary, rounds_table


@pytest.fixture
def task_file(tmp_path, fake_llm):
    path = tmp_path / "task.yaml"
    # the word-count student able to take every final recipe and to save a model folder
    path.write_text(yaml.safe_dump(sst2_task(**{"sizes__rounds": 1, "student__mode": "wordcount_final"})))
    return path


def test_run_prints_round_table_and_rerun_is_free(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    assert main(["run", str(task_file), "--folder", folder, "-q"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("round"))
    assert header.split()[:8] == ["round", "train", "new", "rejected", "val", "acc", "check", "acc"]
    assert "test acc" in header
    assert out.count("%") >= 6  # val + check + test accuracy for rounds 0 and 1
    assert "final model: recipe" in out and "saved to " in out, "run ends with the final step"
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
        (["final", "ghost", "--folder", "FOLDER"], "no run 'ghost'"),
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


def test_no_final_then_final_and_show(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    assert main(["run", str(task_file), "--folder", folder, "-q", "--name", "r1", "--no-final"]) == 0
    out = capsys.readouterr().out
    assert f"final model: not trained yet; s3-magic final r1 --folder {folder}" in out
    assert not (tmp_path / "runs" / "r1-final").exists()
    model = tmp_path / "model"
    assert main(["final", "r1", "--folder", folder, "--out", str(model), "-q"]) == 0
    out = capsys.readouterr().out
    stored = Session.open("r1", folder=folder).final_result()
    assert stored is not None and stored["path"] == str(model)
    lines = out.strip().splitlines()
    assert lines[0] == "run r1 (sst2-test)" and len(lines) <= 6, "one short summary"
    assert lines[1].startswith(f"final model: recipe {stored['recipe']} on round {stored['round']}'s data")
    assert f"check accuracy {100 * stored['check_acc']:.1f}%, test {100 * stored['test_acc']:.1f}% (report only)" in out
    assert f"trained on {stored['n_synthetic']} synthetic + {stored['n_real']} real examples" in out
    tried = ", ".join(f"{c['recipe']} {100 * c['check_acc']:.1f}%" for c in stored["candidates"])
    assert f"recipes tried, check accuracy: {tried}" in out
    assert f"saved to {model}" in out and (model / "README.md").exists()
    assert main(["show", "r1", "--folder", folder]) == 0
    shown = capsys.readouterr().out
    assert f"saved to {model}" in shown and "check acc" in shown and "not trained yet" not in shown


def test_without_a_check_split_the_table_and_final_fall_back_to_validation(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    assert main(["run", str(task_file), "--folder", folder, "-q", "--set", "check.fraction=0"]) == 0
    out = capsys.readouterr().out
    assert "val acc" in out and "check acc" not in out
    assert "no check split, so nothing to choose the recipe by" in out
    assert "recipes tried" not in out


def test_rounds_table_shows_check_accuracy_after_validation_only_when_some_round_has_it():
    rows = [{"round": 0, "n_train": 40, "new_accepted": 40, "val_acc": 0.6, "check_acc": None, "test_acc": 0.5},
            {"round": 1, "n_train": 90, "new_accepted": 50, "val_acc": 0.815, "check_acc": 0.78, "n_check": 50,
             "test_acc": 0.7}]  # fmt: skip
    table = rounds_table([Round(status="evaluated", **r) for r in rows]).splitlines()
    assert table[0].index("val acc") < table[0].index("check acc") < table[0].index("test acc")
    assert "78.0%" in table[3] and "81.5%" in table[3]
    assert table[2].split()[4:6] == ["60.0%", "50.0%"], "a round without check accuracy leaves the cell empty"
    plain = rounds_table([Round(status="evaluated", **{k: v for k, v in r.items() if k not in ("check_acc", "n_check")})
                          for r in rows])  # fmt: skip
    assert "check acc" not in plain and "val acc" in plain


def test_help_describes_final_and_no_final(capsys):
    for argv in (["final", "--help"], ["run", "--help"], ["--help"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--out OUT" in out and "check accuracy" in out and "AutoModelForSequenceClassification" in out
    assert "--no-final" in out and "without training the final model" in out
    assert "final train the model to keep" in out, "the command list names the final step"


def test_final_needs_an_evaluated_round(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    Session.create(str(task_file), folder=folder, name="empty").close()
    assert main(["final", "empty", "--folder", folder]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: run 'empty' has no evaluated round yet; finish it first with s3-magic resume empty"]


def test_final_summary_of_a_student_that_cannot_be_saved_and_of_a_task_without_check_split():
    result = {"round": 1, "recipe": "joint", "check_acc": None, "test_acc": None, "n_train": 90, "n_synthetic": 60,
              "n_real": 30, "seconds": 1.25, "path": None,
              "candidates": [{"recipe": "joint", "check_acc": None}]}  # fmt: skip
    lines = final_summary(result).splitlines()
    assert lines == [
        "final model: recipe joint on round 1's data + the real labels; no check split, so nothing to choose the "
        "recipe by",
        "trained on 60 synthetic + 30 real examples, 1.2 s",
        "not saved: this student cannot be saved as a model folder (student.mode finetune and qa can)",
    ]


def test_progress_bars_show_no_rate_they_did_not_measure(capsys):
    reporter = TqdmReporter()
    reporter.progress("evaluate", 872, 872)  # a step reported once, when it is done
    reporter.close()
    once = capsys.readouterr().err
    assert "872/872" in once and "?ex/s" in once, "one report times nothing, so it shows no rate"
    reporter.progress("evaluate", 128, 872)
    reporter.progress("evaluate", 256, 872)
    reporter.progress("evaluate", 64, 872)  # the same step started again: a new bar
    reporter.progress("seed", 1, 20)
    reporter.close()
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "128/872" in err and "64/872" in err and "1/20" in err
    rates = [float(r) for r in re.findall(r"([\d.]+)ex/s", err)]
    assert all(rate < 1e6 for rate in rates), f"no invented rates: {rates}"
    TqdmReporter(quiet=True).progress("evaluate", 1, 2)
    assert capsys.readouterr().err == ""


def test_the_cli_keeps_the_libraries_own_bars_and_notices_out(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from s3_magic.cli import main\n"
        "main(['runs', '--folder', sys.argv[1]])\n"
        "print(os.environ['HF_HUB_DISABLE_PROGRESS_BARS'], os.environ['TRANSFORMERS_VERBOSITY'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert out.stdout.split()[-2:] == ["1", "error"], out.stderr
    env["TRANSFORMERS_VERBOSITY"] = "info"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert out.stdout.split()[-1] == "info", "a setting the user made wins"
