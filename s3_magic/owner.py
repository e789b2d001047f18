"""The process that runs a run, recorded when the run starts running, so that a run whose process is gone
(killed, crashed, the machine restarted) reads as ``interrupted`` instead of ``running`` for ever, and so
that a run another live process is running is not run a second time.

A process is told apart from a later one that reuses its pid by its start time (read from ``/proc`` on
Linux; elsewhere only the pid is compared). A process on another host cannot be checked: it counts as alive.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"
#: start times (s) closer than this belong to the same process (the boot time they are computed from may drift)
_SAME_START = 2.0


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: float | None


def this_process() -> Owner:
    return Owner(os.getpid(), socket.gethostname(), process_started(os.getpid()))


def owner_state(owner: Owner) -> str:
    """``alive``, ``gone`` (no such process on this host, a zombie, or a later process with its pid) or ``unknown``."""
    if owner.host != socket.gethostname():
        return UNKNOWN
    if Path("/proc/self/stat").exists():
        stat = _proc_stat(owner.pid)
        if stat is None or stat[0] in ("Z", "X"):
            return GONE
        started = stat[1]
        if owner.started is not None and started is not None and abs(started - owner.started) >= _SAME_START:
            return GONE
        return ALIVE
    if os.name != "posix":
        return UNKNOWN  # no safe probe: os.kill(pid, 0) sends Ctrl-C on Windows
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return GONE
    except OSError:
        return ALIVE  # it exists, under another user
    return ALIVE


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where the system tells (Linux), else None."""
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """The state letter and start time of ``pid`` from ``/proc/PID/stat``; None without such an entry."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3, starttime field 22
    boot = _boot_time()
    started = None if boot is None else boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return fields[0], started


@cache
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None
