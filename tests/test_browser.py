"""The quickstart in a real JupyterLab driven by Chromium: run all cells from the Run menu, then check that
the error table, the sample browser, the review panel and the round chart render as live widgets."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO
from notebook_tools import kernel_env, small_copy

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
RUN_TIMEOUT = 900  # seconds for the whole notebook with its small parameters


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port with a token, serving a folder with the small quickstart."""
    root = tmp_path / "lab"
    root.mkdir()
    small_copy("01_quickstart.ipynb", root)
    settings = tmp_path / "settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell stays in the DOM
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))  # no "get Jupyter news?" toast over the page
    env = {**kernel_env(), "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}  # fmt: skip
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--allow-root"]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield {"url": f"{base}/lab/tree/01_quickstart.ipynb?token={token}", "root": root, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PROMPTS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim())"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
ERRORS = f"""() => [...document.querySelectorAll('{STDERR}')]
    .map(e => e.innerText).filter(t => /Traceback|^\\w*Error\\b/m.test(t)).map(t => t.slice(-1500))"""


def open_notebook(page, url: str) -> None:
    """Open the notebook and wait for its kernel (accepting the kernel dialog JupyterLab sometimes shows)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
    accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    try:
        accept.wait_for(timeout=5_000)
        accept.click()
    except PlaywrightTimeout:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def run_all_and_wait(page) -> list[str]:
    """Run > Run All Cells, then wait until no cell is queued or running; returns the final prompts."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    started, deadline, quiet = False, time.time() + RUN_TIMEOUT, 0
    while time.time() < deadline:
        prompts = page.evaluate(PROMPTS)
        busy = any("*" in p for p in prompts)
        started = started or busy
        quiet = 0 if busy else quiet + 1
        if started and quiet >= 3:
            return prompts
        page.wait_for_timeout(2000)
    pytest.fail(f"the notebook did not finish within {RUN_TIMEOUT} s; prompts: {page.evaluate(PROMPTS)}")


def test_quickstart_widgets_render_in_jupyterlab(lab):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found; install Debian's chromium (apt-get install chromium) for the browser test")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_notebook(page, lab["url"])
            prompts = run_all_and_wait(page)
            errors = page.evaluate(ERRORS)
            assert not errors, f"a cell failed in JupyterLab:\n{errors[0]}\n(server log: {lab['log']})"
            assert all(p.strip("[]: ").isdigit() for p in prompts), f"every code cell ran: {prompts}"

            # the views render as ipywidgets (not the static HTML fallback), with their content
            table = page.locator(".widget-vbox.s3-error-table")
            assert table.count() >= 2 and "validation errors" in table.first.inner_text()
            browser_widget = page.locator(".widget-vbox.s3-sample-browser").first
            assert browser_widget.locator("select").count() == 4, "filter dropdowns: round, label, kind, verdict"
            assert browser_widget.locator("table tbody tr").count() > 0
            chart = page.locator(".widget-html.s3-round-chart svg").last
            assert chart.locator("polyline").count() >= 1 and "validation" in chart.text_content()
            review = page.locator(".widget-vbox.s3-review-panel").first
            assert review.locator("button", has_text="reject").count() > 0

            # a click goes to the kernel and back: rejecting an example highlights its reject button
            reject = review.locator("button:not(.mod-danger)", has_text="reject").first
            reject.scroll_into_view_if_needed()
            before = review.locator("button.mod-danger", has_text="reject").count()
            reject.click()
            page.wait_for_function(
                "([sel, n]) => document.querySelector(sel).querySelectorAll('button.mod-danger').length > n",
                arg=[".widget-vbox.s3-review-panel", before],
                timeout=30_000,
            )

            table.last.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "quickstart_jupyterlab.png"))
            chart.scroll_into_view_if_needed()
            chart.screenshot(path=str(ARTIFACTS / "quickstart_round_chart.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "quickstart_jupyterlab_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (lab["root"] / "sst2_synthetic.jsonl").exists(), "the export cell wrote the data set"
