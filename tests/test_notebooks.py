"""The tutorial notebooks: stored clean, and each one executed headless with small sizes (``slow``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from notebook_tools import NOTEBOOKS, SMALL, inject, kernel_env, parameters_cell, small_copy  # noqa: E402

from s3_magic.qa import load_qa  # noqa: E402
from s3_magic.session import Session  # noqa: E402
from s3_magic.store import RunStore  # noqa: E402

TUTORIALS = sorted(SMALL)


def read(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def test_the_tutorials_are_the_notebooks_folder():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == TUTORIALS


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorials_are_stored_without_outputs_and_take_parameters(name):
    book = read(name)
    nbformat.validate(book)
    assert book.metadata.kernelspec.name == "python3", "a kernelspec, so JupyterLab opens it without asking"
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored without outputs"
    params = book.cells[parameters_cell(book)]
    assert params.cell_type == "code" and all(f"{k} =" in params.source for k in SMALL[name])
    assert book.cells[0].cell_type == "markdown" and book.cells[0].source.startswith("# ")
    assert any("%load_ext s3_magic" in c.source for c in code)


def test_the_quickstart_uses_the_magics():
    source = "\n".join(c.source for c in read("01_quickstart.ipynb").cells)
    for magic in ("%%s3_synthesize", "%s3_train", "%s3_iterate", "%s3_review", "%s3_samples", "%s3_status",
                  "%s3_export"):  # fmt: skip
        assert magic in source


def test_parameters_are_injected_after_the_parameters_cell():
    book = inject(read("01_quickstart.ipynb"), {"ROUNDS": 1, "STUDENT_MODE": "fast"})
    at = parameters_cell(book)
    assert book.cells[at + 1].metadata.tags == ["injected-parameters"]
    assert book.cells[at + 1].source == "ROUNDS = 1\nSTUDENT_MODE = 'fast'"
    with pytest.raises(ValueError, match="ROUND not in the parameters cell"):
        inject(read("01_quickstart.ipynb"), {"ROUND": 1})


# -- executed headless with the embedded models ---------------------------------------------------------
def execute(name: str, folder: Path):
    """Run the small copy of ``name`` in ``folder``; returns the executed notebook and its outputs as text."""
    path = small_copy(name, folder)
    book = nbformat.read(path, as_version=4)
    started = time.time()
    client = nbclient.NotebookClient(book, timeout=900, resources={"metadata": {"path": str(folder)}})
    client.execute(env=kernel_env())
    print(f"{name}: {time.time() - started:.0f} s")
    nbformat.write(book, str(path))
    texts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts.append(out.get("text", "") + data.get("text/html", "") + data.get("text/plain", ""))
    return book, "\n".join(texts)


def only_run(folder: Path) -> Session:
    runs = RunStore(folder / "s3_runs").list_runs()
    assert len(runs) == 1, "the notebook made one run"
    return Session.open(runs[0].id, folder=folder / "s3_runs")


@pytest.mark.slow
def test_quickstart_runs_headless(tmp_path):
    _, text = execute("01_quickstart.ipynb", tmp_path)
    for css in ("s3-rationale-editor", "s3-sample-browser", "s3-error-table", "s3-review-panel", "s3-round-chart"):
        assert f"class='s3-view {css}'" in text, f"the {css} view is shown"
    s = only_run(tmp_path)
    rounds = SMALL["01_quickstart.ipynb"]["ROUNDS"]
    assert [(r.round, r.status) for r in s.rounds()] == [(r, "evaluated") for r in range(rounds + 1)]
    assert s.task.llm.spec == "local:embedded" and s.task.student.mode == "finetune" and s.task.student.epochs == 1
    data = s.ctx.data
    assert len(data.validation) + len(data.check) == SMALL["01_quickstart.ipynb"]["VALIDATION"]
    assert data.check and all(r.check_acc is not None for r in s.rounds()), "the check split is reported"
    final = s.final_result()
    assert final is not None and Path(final["path"], "config.json").is_file(), "%s3_final saved the model to keep"
    exported = [json.loads(line) for line in (tmp_path / "sst2_synthetic.jsonl").read_text().splitlines()]
    assert len(exported) == len(s.examples(accepted=True)) > 0
    assert {e["kind"] for e in exported} == {"seed", "extrapolated"}
    assert all(e["from_uid"] for e in exported if e["kind"] == "extrapolated"), "provenance is exported"


@pytest.mark.slow
def test_pair_task_notebook_rejects_weak_examples_before_the_next_round(tmp_path):
    _, text = execute("02_pair_task_review.ipynb", tmp_path)
    s = only_run(tmp_path)
    assert s.task.kind == "pair" and [r.status for r in s.rounds()] == ["evaluated"] * 3
    assert "fixed by the later rounds" in text and "s3-error-table" in text
    rejected = [e for e in s.examples(round_no=1, kind="extrapolated") if not e.accepted and e.verdict == "ok"]
    assert f"rejected {len(rejected)} of" in text, "the notebook's own rejections are stored in the run"
    accepted_then = len(s.examples(max_round=2, accepted=True))
    assert s.rounds()[2].n_train == accepted_then, "round 2 trained on accepted examples only"


@pytest.mark.slow
def test_your_data_notebook_runs_offline_and_skips_what_needs_a_key(tmp_path):
    datasets = pytest.importorskip("datasets")
    _, text = execute("03_your_data_and_models.ipynb", tmp_path)
    assert "skipped: set ANTHROPIC_API_KEY" in text and "skipped: start an OpenAI-compatible server" in text
    assert "stopped: token budget of 100 reached" in text
    assert "skipped reading from the Hub" in text, "offline, the Hub cell says so and goes on"
    assert "calls for the seed data" in text and "at most about $" in text
    s = only_run(tmp_path)
    assert s.store.get_run(s.run_id)["status"] == "finished" and s.task.llm.budget_tokens == 300000
    exported = datasets.load_from_disk(str(tmp_path / "my_reviews_synthetic"))
    assert exported.num_rows == len(s.examples(accepted=True)) and "from_uid" in exported.column_names


@pytest.mark.slow
def test_question_answering_notebook_runs_headless(tmp_path):
    _, text = execute("04_question_answering.ipynb", tmp_path)
    for css in ("s3-sample-browser", "s3-error-table"):
        assert f"class='s3-view {css}'" in text, f"the {css} view is shown"
    assert "check F1" in text and "AutoModelForQuestionAnswering" in text
    s = only_run(tmp_path)
    small = SMALL["04_question_answering.ipynb"]
    assert s.task.is_qa and s.task.llm.spec == "local:embedded" and s.task.student.mode == "qa"
    assert [(r.round, r.status) for r in s.rounds()] == [(r, "evaluated") for r in range(small["ROUNDS"] + 1)]
    qa = s.ctx.data.qa
    assert len(qa.validation) + len(qa.check) == small["VALIDATION"] and len(qa.test) == small["TEST"]
    assert qa.check and all(r.check_f1 is not None and r.test_f1 is not None for r in s.rounds())
    final = s.final_result()
    assert final is not None and "check_f1" in final and Path(final["path"], "config.json").is_file()
    exported = load_qa(str(tmp_path / "squad_synthetic.jsonl"))
    assert len(exported) == len(s.examples(accepted=True)) > 0, "the export loads back in SQuAD form"
