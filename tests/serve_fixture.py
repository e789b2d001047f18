"""A real OpenAI-compatible server for the tests: ``transformers serve`` on 127.0.0.1, serving the embedded
SmolLM2 from the folder ``s3-magic prepare`` converts it into, offline.

``transformers serve`` samples only when the model's ``generation_config.json`` says ``do_sample: true`` (the
request's temperature and top_p are read either way); the converted folder does not, so the server reads a folder
of links to it with a generation config that samples. It runs with continuous batching and a small paged KV
cache (4,096 tokens), so concurrent requests share forward passes without reserving gigabytes on a CPU.

Every answered chat request leaves one access-log line (``--log-level info``, unbuffered, so a killed server
loses none): :meth:`TransformersServer.answered` counts the calls that reached the server and were answered.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3_magic.llm.embedded import ensure_embedded_llm

SERVER_PACKAGES = ("fastapi", "uvicorn", "starlette", "rich")
INSTALL_HINT = "pip install -e '.[dev]' (transformers serve needs fastapi, uvicorn, starlette and rich)"
#: the access-log line of one answered chat completion
ANSWERED = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" 200')
#: the server's log line when it starts on a chat request
RECEIVED = re.compile(r"\[Request received\]")
#: continuous batching with 128 blocks of 32 tokens: room for 8 concurrent short prompts and answers
SERVE_OPTIONS = ("--device", "cpu", "--continuous-batching", "--cb-num-blocks", "128", "--cb-block-size", "32")
START_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sampling_model_folder(source: Path, folder: Path) -> Path:
    """``folder`` with links to every file of the model folder ``source``, and a generation config that samples."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.name != "generation_config.json" and not path.name.startswith("."):
            (folder / path.name).symlink_to(path)
    config = json.loads((source / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, "do_sample": True}, indent=2))
    return folder


def die_with_parent() -> None:
    """In the server's process before it starts (Linux): be killed when the test process dies, even by a signal
    that skips the fixture's clean-up (a timeout's SIGTERM, SIGKILL), so no server outlives its tests."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def transformers_cli() -> str:
    """The ``transformers`` command of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("transformers")
    return str(beside) if beside.exists() else (shutil.which("transformers") or "transformers")


class TransformersServer:
    """``transformers serve MODEL`` as a subprocess on a fixed local port; it can be killed and started again."""

    def __init__(self, model_folder: Path, logs: Path, port: int | None = None) -> None:
        self.model_folder = model_folder
        self.logs = logs
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen[bytes] | None = None
        self.lives: list[Path] = []
        #: the model id the server expects in requests (what ``/v1/models`` lists: the folder path)
        self.model = ""
        #: seconds each start took until ``/v1/models`` answered
        self.start_seconds: list[float] = []

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait until it lists its model; fail with the end of its log if it does not."""
        log = self.logs / f"server-{len(self.lives)}.log"
        self.lives.append(log)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        command = [transformers_cli(), "serve", str(self.model_folder), "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", "info", *SERVE_OPTIONS]  # fmt: skip
        t0 = time.monotonic()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
            )
        while time.monotonic() - t0 < timeout:
            if self.process.poll() is not None:
                pytest.fail(f"transformers serve exited with code {self.process.returncode}:\n{self.tail()}")
            models = self._models()
            if models:
                self.model = models[0]
                self.start_seconds.append(time.monotonic() - t0)
                return
            time.sleep(0.25)
        self.kill()
        pytest.fail(f"transformers serve did not answer /v1/models within {timeout:.0f} s:\n{self.tail()}")

    def _models(self) -> list[str]:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as response:
                return [m["id"] for m in json.load(response)["data"]]
        except (OSError, ValueError, KeyError):
            return []

    def kill(self) -> None:
        """SIGKILL: the server dies at once, with the requests in flight unanswered."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def answered(self) -> int:
        """Chat completions answered (status 200) over every life of the server."""
        return sum(len(ANSWERED.findall(log.read_text(errors="replace"))) for log in self.lives if log.exists())

    def max_in_flight(self) -> int:
        """The most chat requests the server held at once (received, not yet answered), read from its logs."""
        most = 0
        for log in self.lives:
            held = 0
            for line in log.read_text(errors="replace").splitlines():
                held += bool(RECEIVED.search(line)) - bool(ANSWERED.search(line))
                most = max(most, held)
        return most

    def tail(self, lines: int = 30) -> str:
        if not self.lives or not self.lives[-1].exists():
            return "(no log)"
        return "\n".join(self.lives[-1].read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module", name="served_smollm")
def served_smollm_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TransformersServer]:
    """The embedded SmolLM2 behind ``transformers serve`` for the whole test module."""
    missing = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed; {INSTALL_HINT}")
    root = tmp_path_factory.mktemp("served")
    folder = sampling_model_folder(ensure_embedded_llm(), root / "smollm2-sampling")
    server = TransformersServer(folder, root)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
