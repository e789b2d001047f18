"""A description of the machine and software a benchmark ran on, for the results file."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` of ``/proc/cpuinfo`` (None where there is no such file or field)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_bf16() -> bool | None:
    """Whether the CPU has native bf16 matmuls (AVX512-BF16 or AMX), from its flags; None where they are unknown.
    The local LLM runs in bf16 on such CPUs."""
    flags = _cpuinfo("flags")
    return None if flags is None else bool({"avx512_bf16", "amx_bf16", "amx_tile"} & set(flags.split()))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def use_all_cores() -> None:
    """Run torch on every usable core, as the library's students do when they train (``OMP_NUM_THREADS`` wins), so
    that the threads recorded and the naive baselines' threads are the ones the students train with."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS") and torch.get_num_threads() != usable_cores():
        torch.set_num_threads(usable_cores())


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the checkout the benchmark package lives in (read from ``.git`` files), or None outside a
    checkout."""
    folder = (start or Path(__file__)).resolve()
    for parent in folder.parents:
        git = parent / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref: "):
                    return head
                ref = head[5:]
                if (git / ref).is_file():
                    return (git / ref).read_text().strip()
                packed = git / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split()[0]
            except OSError:
                return None
            return None
    return None


def describe_machine() -> dict[str, Any]:
    """CPU, cores, memory, load, and the versions of Python, torch and transformers (with torch's threads)."""
    from importlib.metadata import version

    import torch
    import transformers

    use_all_cores()
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "memory_gib": memory_gib(),
        "load_average": load_average(),
        "cpu_bf16": cpu_bf16(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "s3_magic": version("s3-magic"),
        "git_commit": git_commit(),
    }
