"""Start, find and stop the sandbox's processes, each with a pid file and a log.

Rules:
- A process is started detached (its own session, reparented away from us through a short-lived
  launcher), so it outlives the task that started it and never becomes our zombie.
- The pid file (JSON: pid, argv, started_at) is written atomically only after the launch. A process is
  "ours" only while ``/proc/<pid>/cmdline`` is exactly the argv we recorded and it is not a zombie:
  a reused pid or a foreign process named by a stale or fake pid file is never signalled.
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

from schemas import atomic_write, dump_json

from ..errors import ReleaseError

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


@dataclass(frozen=True)
class PidRecord:
    pid: int
    argv: tuple[str, ...]
    started_at: str


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``; None when missing or not one we wrote (a bare number, garbage)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return PidRecord(int(raw["pid"]), tuple(str(a) for a in raw["argv"]), str(raw["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The state letter follows the parenthesised command name, which may itself hold spaces.
    if stat[stat.rfind(")") + 2 :].startswith(("Z", "X")):
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0")[:-1])


def is_alive(record: PidRecord) -> bool:
    """True while the recorded pid runs exactly the recorded argv."""
    return _cmdline(record.pid) == record.argv


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
    record = PidRecord(int(launched.stdout.strip()), tuple(argv), datetime.now(UTC).isoformat())
    # What /proc reports is what we launched; recording it lets down() recognise the process later.
    record = PidRecord(record.pid, _cmdline(record.pid) or record.argv, record.started_at)
    payload = {"pid": record.pid, "argv": list(record.argv), "started_at": record.started_at}
    atomic_write(pid_file, dump_json(payload))
    end = time.monotonic() + deadline_s
    while True:
        if not is_alive(record):
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
