"""A ``kind: qa`` run from the magics, their plain-Python twins, the Session and the command line, with the
scripted question writer and the memory QA student: exact match and F1 where a classification run shows accuracy."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import FAKE
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from qa_tools import question_reply, squad_task

from s3_magic import twins
from s3_magic.cli import main
from s3_magic.qa import load_qa
from s3_magic.session import Session


@pytest.fixture
def qa_llm():
    FAKE.reset(question_reply)
    yield FAKE
    FAKE.reset()


@pytest.fixture
def ip(qa_llm):
    shell = InteractiveShell.instance()
    with capture_output():
        shell.run_line_magic("load_ext", "s3_magic")
    yield shell
    twins.STATE.session, twins.STATE.folder = None, "s3_runs"


def qa_yaml(**changes) -> str:
    return yaml.safe_dump(squad_task(**{"sizes__rounds": 1, **changes}))


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_the_magics_run_a_qa_task_and_show_f1(ip, tmp_path):
    res = ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path}", qa_yaml())
    s = twins.current()
    assert s.task.is_qa and len(res.samples) == 16 and set(res.samples["kind"]) == {"seed"}
    assert res.rationales.empty and not any(type(v).__name__ == "RationaleEditor" for v in res.views)
    res = ip.run_line_magic("s3_iterate", "-n 1")
    rounds = s.rounds()
    assert [r.round for r in rounds] == [0, 1] and all(r.evaluated for r in rounds)
    assert res.heading.startswith(f"round 1: check F1 {percent(rounds[1].check_f1)} (validation "
                                f"{percent(rounds[1].val_f1)}, optimistic: the loop extrapolated those)")  # fmt: skip
    assert len(res.errors) == len(s.errors(0)) > 0 and res.errors["n_extrapolated"].sum() > 0
    status = ip.run_line_magic("s3_status", "")
    best = s.best_round()
    assert f"best round {best}: check F1 {percent(rounds[best].check_f1)}" in status.heading
    assert status.rounds["check_f1"].tolist() == [r.check_f1 for r in rounds]
    assert "accuracy" not in repr(status)


def test_the_final_qa_model_is_shown_by_check_f1(ip, tmp_path):
    ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path}", qa_yaml())
    ip.run_line_magic("s3_iterate", "-n 1")
    res = ip.run_line_magic("s3_final", "")
    stored = twins.current().final_result()
    assert res.value == stored and "check_f1" in stored and "check_acc" not in stored
    head = f"final model: recipe {stored['recipe']} on round {stored['round']}, check F1 {percent(stored['check_f1'])}"
    assert head in res.heading
    table = res.views[0]
    assert [h for _, h in table.columns] == ["recipe", "check F1", "test F1", "kept"]
    assert [c["check"] for c in table.rows] == [percent(c["check_f1"]) for c in stored["candidates"]]
    assert table.note.startswith(f"test F1 {percent(stored['test_f1'])} (report only); ")
    assert f"{stored['n_train']} training questions" in table.note
    assert "not saved: this student cannot be saved as a model folder (student.mode finetune and qa can)" in table.note


def test_qa_mistakes_are_usage_errors(ip, tmp_path):
    with pytest.raises(UsageError, match="a qa task writes its seed questions without rationales"):
        ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path} --rationales-only", qa_yaml())
    ip.run_line_magic("s3_synthesize", "")
    with pytest.raises(UsageError, match="a qa task has no labels"):
        ip.run_line_magic("s3_samples", "--label Denver")


def test_the_magics_export_squad_rows(ip, tmp_path):
    ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path}", qa_yaml(sizes__rounds=0))
    out = tmp_path / "questions.jsonl"
    res = ip.run_line_magic("s3_export", str(out))
    assert res.value == out and len(load_qa(str(out))) == len(twins.current().examples(accepted=True))


def test_the_session_reports_f1_per_round(qa_llm, tmp_path):
    with Session.create(squad_task(sizes__rounds=1), folder=tmp_path) as s:
        s.run()
        frame = s.rounds_frame()
        assert s.status == "finished"
    assert frame["round"].tolist() == [0, 1]
    for col in ("val_em", "val_f1", "check_em", "check_f1", "test_em", "test_f1"):
        assert frame[col].between(0, 1).all(), col
    assert frame["val_acc"].isna().all() and frame["check_acc"].isna().all()


@pytest.fixture
def task_file(tmp_path, qa_llm):
    path = tmp_path / "squad.yaml"
    path.write_text(qa_yaml())
    return path


def test_the_cli_runs_shows_and_exports_a_qa_task(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    assert main(["run", str(task_file), "--folder", folder, "-q", "--name", "qa"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("round"))
    assert header.split()[4:14] == ["val", "F1", "check", "EM", "check", "F1", "test", "EM", "test", "F1"]
    assert "acc" not in header
    stored = Session.open("qa", folder=folder).final_result()
    assert stored is not None and f"check F1 {percent(stored['check_f1'])}" in out
    assert f"test {percent(stored['test_f1'])} (report only)" in out
    assert main(["show", "qa", "--folder", folder]) == 0
    shown = capsys.readouterr().out
    assert "check F1" in shown and "final model: recipe" in shown
    data = tmp_path / "qa.jsonl"
    assert main(["export", "qa", "--folder", folder, "--out", str(data)]) == 0
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert {"context", "question", "answers", "from_uid", "prompt_hash"} <= set(rows[0])
    assert len(load_qa(str(data))) == len(rows)


def test_the_cli_final_of_a_qa_run(task_file, tmp_path, capsys):
    folder = str(tmp_path / "runs")
    assert main(["run", str(task_file), "--folder", folder, "-q", "--name", "qa", "--no-final"]) == 0
    capsys.readouterr()
    assert main(["final", "qa", "--folder", folder, "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    stored = Session.open("qa", folder=folder).final_result()
    assert lines[0] == "run qa (squad-test)"
    assert f"check F1 {percent(stored['check_f1'])}" in lines[1] and "accuracy" not in "\n".join(lines)
    tried = ", ".join(f"{c['recipe']} {percent(c['check_f1'])}" for c in stored["candidates"])
    assert f"recipes tried, check F1: {tried}" in lines
