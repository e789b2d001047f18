"""The magics in a real IPython shell, each next to its plain-function twin in ``s3_magic.twins``."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, WordCountOptions, needs_data, sst2_task
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from s3_magic import twins
from s3_magic.errors import S3Error
from s3_magic.student import register_student, unregister_student
from s3_magic.views import base

HEAVY = ("torch", "transformers", "ipywidgets", "pandas", "anthropic", "openai")
MAGICS = ("s3_synthesize", "s3_rationales", "s3_iterate", "s3_train", "s3_final", "s3_errors", "s3_samples",
          "s3_review", "s3_status", "s3_runs", "s3_resume", "s3_export")  # fmt: skip


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    with capture_output():
        shell.run_line_magic("load_ext", "s3_magic")
    yield shell
    for name in ("llm", "student_mode", "budget", "concurrency"):
        shell.run_line_magic("config", f"S3Magics.{name} = None")
    shell.run_line_magic("config", "S3Magics.widgets = 'auto'")
    shell.run_line_magic("config", "S3Magics.page_size = 10")
    twins.STATE.session, twins.STATE.folder = None, "s3_runs"


#: a twin's keyword -> its magic's long option, where they differ
OPTION_OF = {"round_no": "round"}


class Driver:
    """Runs ``name`` either as the magic ``%s3_<name>`` or as ``s3_magic.twins.<name>``."""

    def __init__(self, path: str, shell: InteractiveShell) -> None:
        self.path, self.shell = path, shell

    @property
    def mistake(self) -> type[Exception]:
        return UsageError if self.path == "magic" else S3Error

    def __call__(self, magic: str, /, *args, cell: str | None = None, **kwargs):
        if self.path == "function":
            return getattr(twins, magic)(*(([cell] if cell else []) + list(args)), **kwargs)
        words = [shlex.quote(str(a)) for a in args]
        for key, value in kwargs.items():
            flag = "--" + OPTION_OF.get(key, key).replace("_", "-")
            for v in value if isinstance(value, list) else [value]:
                words += [flag] if v is True else [] if v is False else [flag, shlex.quote(str(v))]
        line = " ".join(words)
        if cell is not None:
            return self.shell.run_cell_magic(f"s3_{magic}", line, cell)
        return self.shell.run_line_magic(f"s3_{magic}", line)


@pytest.fixture(params=["magic", "function"])
def drive(request, ip):
    return Driver(request.param, ip)


def task_yaml(**changes) -> str:
    """A task with the word-count student able to take every final recipe and to save a model folder."""
    return yaml.safe_dump(sst2_task(**{"student__mode": "wordcount_final", **changes}))


def test_load_ext_is_light_and_registers_every_magic():
    code = (
        "import sys, json\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 's3_magic')\n"
        "print(json.dumps({'mods': sorted(sys.modules), 'line': sorted(ip.magics_manager.magics['line']),"
        " 'cell': sorted(ip.magics_manager.magics['cell'])}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in HEAVY if m in got["mods"]], "loading the extension imports nothing heavy"
    assert set(MAGICS) <= set(got["line"]) and "s3_synthesize" in got["cell"]


def test_each_magic_has_help_and_bad_options_are_usage_errors(ip):
    for name in MAGICS:
        doc = ip.magics_manager.magics["line"][name].__doc__
        usage, _, description = doc.partition(f"%{name}")
        assert usage.strip() == "::" and len(description.strip()) > 30, f"%{name}? shows usage and a description"
    assert "--rounds" in ip.magics_manager.magics["line"]["s3_iterate"].__doc__
    with capture_output() as cap:
        ip.run_line_magic("pinfo", "%s3_iterate")
    assert "--rounds" in cap.stdout
    for line in ("--bogus", "-n x", "-h", "--help"):
        with pytest.raises(UsageError):
            ip.run_line_magic("s3_iterate", line)


def test_user_mistakes_are_one_line_usage_errors(ip, tmp_path, fake_llm):
    folder = f"--folder {tmp_path}"
    with pytest.raises(UsageError, match="no run yet") as err:
        ip.run_line_magic("s3_status", "")
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="not valid YAML"):
        ip.run_cell_magic("s3_synthesize", folder, "name: x\n  labels: [a, b\n")
    with pytest.raises(UsageError, match="unknown key"):
        ip.run_cell_magic("s3_synthesize", folder, task_yaml(bogus=1))
    bad = sst2_task()
    bad["validation"]["path"] = str(tmp_path / "missing.jsonl")
    with pytest.raises(UsageError, match=r"missing\.jsonl"):
        ip.run_cell_magic("s3_synthesize", folder, yaml.safe_dump(bad))
    with pytest.raises(UsageError, match="no run folder"):
        ip.run_line_magic("s3_runs", f"--folder {tmp_path / 'none'}")
    ip.run_cell_magic("s3_synthesize", folder, task_yaml(**{"sizes__rounds": 0}))
    with pytest.raises(UsageError, match="no round is evaluated"):
        ip.run_line_magic("s3_errors", "")
    with pytest.raises(UsageError, match="No closing quotation"):
        ip.run_line_magic("s3_samples", "--label 'positive")


@pytest.fixture
def exploding_student():
    """Student mode ``exploding``, registered for one test: making its student fails with a real error."""

    def broken(labels, model=""):
        raise RuntimeError("student exploded")

    register_student("exploding", broken, WordCountOptions)
    yield "exploding"
    unregister_student("exploding")


def test_real_failures_propagate(ip, tmp_path, fake_llm, exploding_student):
    ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path}", task_yaml(student__mode=exploding_student))
    with pytest.raises(RuntimeError, match="student exploded"):
        ip.run_line_magic("s3_train", "")


def test_config_traits_are_session_defaults(ip, tmp_path, fake_llm):
    task = sst2_task()
    task["llm"] = {"spec": "local:embedded"}
    ip.run_line_magic("config", "S3Magics.llm = 'fake:scripted'")
    ip.run_line_magic("config", "S3Magics.student_mode = 'fast'")
    ip.run_line_magic("config", "S3Magics.budget = 1000000")
    ip.run_line_magic("config", f"S3Magics.folder = {str(tmp_path)!r}")
    ip.run_cell_magic("s3_synthesize", "--seed-examples 10", yaml.safe_dump(task))
    s = twins.current()
    assert (s.task.llm.spec, s.task.student.mode, s.task.llm.budget_tokens) == ("fake:scripted", "fast", 10**6)
    assert s.store.folder == tmp_path and len(s.examples(kind="seed")) == 10
    ip.run_cell_magic("s3_synthesize", "--llm fake:other --budget 5000", yaml.safe_dump(task))
    assert (twins.current().task.llm.spec, twins.current().task.llm.budget_tokens) == ("fake:other", 5000)


def test_synthesize_shows_rationales_and_samples(drive, tmp_path, fake_llm):
    with capture_output() as cap:
        res = drive("synthesize", cell=task_yaml(), folder=tmp_path, name="run1")
    s = twins.current()
    assert s.run_id == "run1" and len(s.examples(kind="seed")) == 40
    assert len(res.samples) == 40 and set(res.rationales["label"]) == {"negative", "positive"}
    assert res.samples["text"].tolist() == [e.text for e in s.examples(round_no=0)]
    bundle = drive.shell.display_formatter.format(res)[0]
    assert "seed samples: 40 examples" in bundle["text/plain"] and "<table" in bundle["text/html"]
    assert "rationales" in bundle["text/html"]
    if drive.path == "magic":
        assert "seed: 40/40" in cap.stdout, "progress is shown while it runs"
        assert "  + [" in cap.stdout, "samples appear while generation runs"


def test_rationales_edited_before_the_seed_data(drive, tmp_path, fake_llm):
    res = drive("synthesize", cell=task_yaml(), folder=tmp_path, rationales_only=True)
    assert not twins.current().examples() and len(res.rationales) == 12
    res = drive("rationales", label="positive", texts=["great acting", "a clever plot"]) if drive.path == "function" \
        else drive("rationales", label="positive", text=["great acting", "a clever plot"])  # fmt: skip
    assert res.rationales[res.rationales.label == "positive"].rationale.tolist() == ["great acting", "a clever plot"]
    drive("synthesize")
    pos = twins.current().examples(kind="seed", label="positive")
    assert pos and all(set(e.origin["rationales"]) <= {"great acting", "a clever plot"} for e in pos)


def test_train_iterate_and_inspect_a_run(drive, tmp_path, fake_llm):
    drive("synthesize", cell=task_yaml(), folder=tmp_path)
    s = twins.current()
    res = drive("train")
    assert len(res.errors) == len(s.errors(0)) > 0 and res.rounds["status"].tolist() == ["evaluated"]
    with pytest.raises(drive.mistake, match="already evaluated"):
        drive("train")
    res = drive("iterate", rounds=1)
    assert [r.round for r in s.rounds()] == [0, 1]
    assert res.errors["round"].unique().tolist() == [0] and res.errors["n_extrapolated"].sum() > 0
    html = drive.shell.display_formatter.format(res)[0]["text/html"]
    assert "<svg" in html and "validation errors" in html
    err = drive("errors", round_no=0)
    kids = err.extrapolated
    assert set(kids["origin"].map(lambda o: o["from_uid"])) <= set(err.errors["uid"])
    assert len(drive("errors").errors) == len(s.errors(1))
    pos = drive("samples", kind="extrapolated", label="positive")
    assert len(pos.samples) > 0 and set(pos.samples["label"]) == {"positive"}
    assert set(pos.samples["kind"]) == {"extrapolated"}
    assert len(drive("samples", round_no=0, verdict="ok").samples) == 40
    with pytest.raises(drive.mistake, match="unknown label"):
        drive("samples", label="neutral")
    st = drive("status")
    assert st.rounds["round"].tolist() == [0, 1] and "val acc" in repr(st)
    runs = drive("runs", folder=tmp_path)
    assert runs.runs["id"].tolist() == [s.run_id]
    out = tmp_path / "data.jsonl"
    drive("export", out)
    assert len(out.read_text().splitlines()) == len(s.examples(accepted=True))


def test_final_trains_and_shows_the_model_to_keep(drive, tmp_path, fake_llm):
    drive("synthesize", cell=task_yaml(), folder=tmp_path)
    with pytest.raises(drive.mistake, match="no round is evaluated yet; run the rounds first with %s3_iterate"):
        drive("final")
    drive("iterate", rounds=2)
    s = twins.current()
    res = drive("final", out=tmp_path / "model")
    stored = s.final_result()
    assert res.value == stored and stored["path"] == str(tmp_path / "model") and stored["round"] == s.best_round()
    assert (tmp_path / "model" / "README.md").exists()
    assert res.heading.startswith(f"final model: recipe {stored['recipe']} on round {stored['round']}, check accuracy")
    assert res.candidates["recipe"].tolist() == [c["recipe"] for c in stored["candidates"]]
    assert res.final["check_acc"].tolist() == [stored["check_acc"]] and res.rounds["round"].tolist() == [0, 1, 2]
    data = drive.shell.display_formatter.format(res)[0]
    assert "recipes tried" in data["text/plain"] and f"saved to {tmp_path / 'model'}" in data["text/plain"]
    assert "s3-round-chart" in data["text/html"] and "class='best'" in data["text/html"]
    status = drive("status")
    assert status.run["final_model"].tolist() == [str(tmp_path / "model")]
    assert status.run["best_round"].tolist() == [stored["round"]]
    assert f"best round {stored['round']}: check accuracy" in status.heading
    default = drive("final")
    assert default.value["path"] == str(tmp_path / f"{s.run_id}-final"), "default: <run folder>/<run id>-final"


def test_resume_opens_and_finishes_a_run(drive, tmp_path, fake_llm):
    drive("synthesize", cell=task_yaml(), folder=tmp_path, name="first")
    twins.STATE.session = None
    res = drive("resume", "first", folder=tmp_path, run=True, budget=10**9)
    s = twins.current()
    assert s.run_id == "first" and s.task.llm.budget_tokens == 10**9
    assert res.rounds["round"].tolist() == [0, 1, 2]
    assert s.store.get_run("first")["status"] == "finished"
    with pytest.raises(drive.mistake, match="no run 'nope'"):
        drive("resume", "nope", folder=tmp_path)


def test_cell_output_is_displayed_as_text_html_or_widget(ip, tmp_path, fake_llm):
    ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path}", task_yaml(**{"sizes__rounds": 0}))
    with capture_output() as cap:
        ip.run_cell("%s3_status")
    assert "status — run" in cap.stdout and "round" in cap.stdout
    ip.run_line_magic("config", "S3Magics.widgets = 'on'")
    with capture_output() as cap:
        res = ip.run_line_magic("s3_train", "")
    mimes = set().union(*(o.data for o in cap.outputs))
    assert base.WIDGET_MIME in mimes, "a live progress widget is displayed while training"
    data = ip.display_formatter.format(res)[0]
    assert {base.WIDGET_MIME, "text/html", "text/plain"} <= set(data)
    ip.run_line_magic("config", "S3Magics.widgets = 'off'")
    res = ip.run_line_magic("s3_status", "")
    assert set(ip.display_formatter.format(res)[0]) == {"text/html", "text/plain"}, "widgets off: HTML and text only"


def test_page_size_and_widgets_reach_the_twins_as_arguments(ip, tmp_path, fake_llm):
    ip.run_cell_magic("s3_synthesize", f"--folder {tmp_path}", task_yaml(**{"sizes__rounds": 0}))
    ip.run_line_magic("config", "S3Magics.page_size = 3")
    ip.run_line_magic("config", "S3Magics.widgets = 'on'")
    res = ip.run_line_magic("s3_samples", "")
    assert res.views[0].page_size == 3 and res.widgets is True
    assert ip.run_line_magic("s3_samples", "--page-size 7").views[0].page_size == 7, "the option wins over the trait"
    assert twins.STATE.page_size == 10 and twins.samples().views[0].page_size == 10, "the plain functions keep theirs"
    assert twins.samples().widgets is None and not hasattr(base, "WIDGETS"), "no global display switch"


def test_smoke_notebook_runs_headless(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("S3_MAGIC_TEST_FAKE", str(Path(__file__).with_name("notebook_fakes.py")))
    monkeypatch.setenv("S3_MAGIC_DATA", str(needs_data()))
    book = nbformat.read(REPO / "tests" / "notebooks" / "smoke_magics.ipynb", as_version=4)
    assert book.metadata.kernelspec.name == "python3"
    nbclient.NotebookClient(book, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {i: c.outputs for i, c in enumerate(book.cells) if c.cell_type == "code"}
    texts = [o.get("data", {}).get("text/html", "") + o.get("text", "") for outs in outputs.values() for o in outs]
    assert any("seed samples" in t for t in texts) and any("<svg" in t for t in texts)
    exported = tmp_path / "smoke.jsonl"
    assert exported.exists() and len(exported.read_text().splitlines()) > 40
    assert (tmp_path / "s3_runs_smoke" / "s3.sqlite").exists()
