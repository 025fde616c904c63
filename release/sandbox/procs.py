"""Start, find and stop the sandbox's processes, each with a pid file and a log.

Rules:
- A process is started detached (its own session, reparented away from us through a short-lived
  launcher), so it outlives the task that started it and never becomes our zombie.
- The pid file (JSON: pid, argv, started_at, create_time) is written atomically only after the
  launch. A process is "ours" only while the pid's creation time is the one recorded and its
  arguments after argv[0] are the ones we launched, and it is not a zombie: a reused pid or a foreign
  process named by a stale or fake pid file is never signalled. argv[0] is not compared, because a
  framework Python on macOS re-executes itself through Python.app under another name.
- Processes are seen through psutil only (sysctl on macOS, procfs on Linux, inside psutil): nothing
  here reads the process file system itself.
- ``start`` waits for readiness with a deadline; a process that exits first is one error line quoting
  the end of its log. ``stop`` sends SIGTERM, then SIGKILL after a deadline, then removes the pid file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from release.errors import ReleaseError
from schemas import atomic_write, dump_json

__all__ = ["PidRecord", "Ready", "is_alive", "read_pid_file", "running", "start", "stop"]

Ready = Callable[[int], bool]

# The launcher starts the real process in its own session and exits at once, so the process is
# re-parented (to init or a subreaper) and nobody's zombie; it prints the pid for the pid file.
_LAUNCHER = (
    "import subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "p = subprocess.Popen(sys.argv[3:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,"
    " cwd=sys.argv[2], start_new_session=True)\n"
    "print(p.pid, flush=True)\n"
    "p.returncode = 0\n"
)


# psutil derives a creation time from the boot time on Linux, which moves when the clock is stepped
# (NTP): within this much it is the same process. A recycled pid is new within a second only when
# pids wrap that fast, and it must also carry our exact arguments.
CREATE_TIME_TOLERANCE_S = 1.0
EMPTY_CMDLINE_RETRIES = 100


@dataclass(frozen=True)
class PidRecord:
    pid: int
    argv: tuple[str, ...]
    started_at: str
    create_time: float | None = None


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``; None when missing or not one we wrote (a bare number, garbage)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        created = raw.get("create_time")
        return PidRecord(
            int(raw["pid"]),
            tuple(str(a) for a in raw["argv"]),
            str(raw["started_at"]),
            float(created) if created is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _identity(pid: int) -> tuple[tuple[str, ...], float] | None:
    """(command line, creation time) of a live, non-zombie ``pid``; None otherwise."""
    try:
        process = psutil.Process(pid)
        # A process in the middle of exec shows an empty command line for a moment (the new image's
        # arguments are not in place yet, though whoever forked it has already moved on); only
        # kernel threads, never ours, keep it empty.
        for _ in range(EMPTY_CMDLINE_RETRIES):
            if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return None
            cmdline = tuple(process.cmdline())
            if cmdline:
                return cmdline, process.create_time()
            time.sleep(0.01)
    except (psutil.Error, ValueError):
        return None
    return None


def is_alive(record: PidRecord) -> bool:
    """True while the recorded pid is the very process we started, still running our arguments."""
    seen = _identity(record.pid)
    if seen is None:
        return False
    cmdline, created = seen
    if record.create_time is None:
        # A pid file from before creation times were recorded: the whole argv must match.
        return cmdline == record.argv
    return abs(created - record.create_time) <= CREATE_TIME_TOLERANCE_S and cmdline[1:] == record.argv[1:]


def _gone(record: PidRecord) -> bool:
    """True once the recorded process has exited (or is a zombie), not merely unreadable for a moment.

    A process re-executing itself (a framework Python on macOS) can briefly refuse to show its
    arguments; taking that for an exit would report a failed start and leave the process running.
    """
    try:
        process = psutil.Process(record.pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return True
        created = process.create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return record.create_time is None or abs(created - record.create_time) > CREATE_TIME_TOLERANCE_S


def running(pid_file: Path) -> PidRecord | None:
    record = read_pid_file(pid_file)
    return record if record is not None and is_alive(record) else None


def _log_tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def start(
    name: str,
    argv: Sequence[str],
    *,
    pid_file: Path,
    log: Path,
    cwd: Path,
    ready: Ready,
    env: Mapping[str, str] | None = None,
    deadline_s: float = 45.0,
) -> PidRecord:
    """Launch ``argv`` detached, record it, and wait until ``ready(pid)``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(log), str(cwd), *argv],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        check=False,
    )
    if launched.returncode != 0 or not launched.stdout.strip().isdigit():
        last = (launched.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReleaseError(f"sandbox: could not start {name}: {last}", code=1)
    pid = int(launched.stdout.strip())
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        raise ReleaseError(
            f"sandbox: {name} exited while starting: {_log_tail(log)} (log: {log})", code=1
        ) from None
    # The argv we launched (what runs may have another argv[0]) and the creation time, which tells
    # this process from any later one given the same pid.
    record = PidRecord(pid, tuple(argv), datetime.now(UTC).isoformat(), created)
    payload = {
        "pid": record.pid,
        "argv": list(record.argv),
        "started_at": record.started_at,
        "create_time": record.create_time,
    }
    atomic_write(pid_file, dump_json(payload))
    end = time.monotonic() + deadline_s
    while True:
        if not is_alive(record) and _gone(record):
            raise ReleaseError(
                f"sandbox: {name} exited while starting: {_log_tail(log)} (log: {log})", code=1
            )
        if ready(record.pid):
            return record
        if time.monotonic() > end:
            stop(pid_file)
            raise ReleaseError(
                f"sandbox: {name} was not ready after {deadline_s:.0f} s: {_log_tail(log)} (log: {log})",
                code=1,
            )
        time.sleep(0.1)


def _wait_gone(record: PidRecord, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while is_alive(record):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def stop(pid_file: Path, *, term_deadline_s: float = 10.0) -> str:
    """Stop the process ``pid_file`` names if it is ours; say what happened."""
    record = read_pid_file(pid_file)
    if record is None:
        outcome = "not running" if not pid_file.exists() else "stale pid file removed (not ours)"
    elif not is_alive(record):
        outcome = "not running (stale pid file removed)"
    else:
        os.kill(record.pid, signal.SIGTERM)
        if _wait_gone(record, term_deadline_s):
            outcome = f"stopped pid {record.pid}"
        else:
            os.kill(record.pid, signal.SIGKILL)
            if not _wait_gone(record, 10.0):
                raise ReleaseError(
                    f"sandbox: pid {record.pid} survived SIGKILL; pid file {pid_file} kept", code=1
                )
            outcome = f"killed pid {record.pid} (no exit {term_deadline_s:.0f} s after SIGTERM)"
    pid_file.unlink(missing_ok=True)
    return outcome
