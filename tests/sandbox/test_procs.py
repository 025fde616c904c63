"""Pid files and ownership: only a process that still runs the argv we recorded is ever signalled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from release.errors import ReleaseError
from release.sandbox.procs import is_alive, read_pid_file, running, start, stop

pytestmark = pytest.mark.timeout(60)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_start_records_and_stop_terminates(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "sleeper.pid"
    record = start(
        "sleeper",
        SLEEPER,
        pid_file=pid_file,
        log=tmp_path / "sleeper.log",
        cwd=tmp_path,
        ready=lambda _pid: True,
    )
    assert running(pid_file) == read_pid_file(pid_file) == record
    assert json.loads(pid_file.read_text())["argv"] == SLEEPER
    assert stop(pid_file) == f"stopped pid {record.pid}"
    assert not is_alive(record)
    assert not pid_file.exists()


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)",
    ]
    pid_file = tmp_path / "stubborn.pid"
    log = tmp_path / "stubborn.log"

    def ignoring_sigterm(_pid: int) -> bool:
        return log.exists() and "ready" in log.read_text()

    record = start("stubborn", stubborn, pid_file=pid_file, log=log, cwd=tmp_path, ready=ignoring_sigterm)
    outcome = stop(pid_file, term_deadline_s=1.0)
    assert outcome.startswith(f"killed pid {record.pid}")
    assert not is_alive(record)


def test_foreign_process_behind_a_fake_pid_file_is_left_alone(tmp_path: Path) -> None:
    foreign = subprocess.Popen(SLEEPER)
    try:
        bare = tmp_path / "bare.pid"
        bare.write_text(f"{foreign.pid}\n")
        forged = tmp_path / "forged.pid"
        forged.write_text(
            json.dumps({"pid": foreign.pid, "argv": ["python", "-m", "feed"], "started_at": "x"})
        )
        assert running(bare) is None
        assert running(forged) is None
        assert stop(bare) == "stale pid file removed (not ours)"
        assert stop(forged) == "not running (stale pid file removed)"
        assert foreign.poll() is None, "a foreign process was signalled"
        assert not bare.exists()
        assert not forged.exists()
    finally:
        foreign.kill()
        foreign.wait()


def test_a_process_that_dies_while_starting_is_one_line_with_its_log(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; print('port already in use'); sys.exit(3)"]
    with pytest.raises(ReleaseError, match="exited while starting: port already in use"):
        start(
            "failing",
            failing,
            pid_file=tmp_path / "f.pid",
            log=tmp_path / "f.log",
            cwd=tmp_path,
            ready=lambda _p: False,
        )


def test_not_ready_before_the_deadline_is_stopped_and_reported(tmp_path: Path) -> None:
    pid_file = tmp_path / "slow.pid"
    with pytest.raises(ReleaseError, match="was not ready after"):
        start(
            "slow",
            SLEEPER,
            pid_file=pid_file,
            log=tmp_path / "s.log",
            cwd=tmp_path,
            ready=lambda _p: False,
            deadline_s=0.5,
        )
    assert not pid_file.exists()


def _forge(pid_file: Path, pid: int, argv: list[str], create_time: float) -> None:
    record = {"pid": pid, "argv": argv, "started_at": "2026-01-01T00:00:00+00:00", "create_time": create_time}
    pid_file.write_text(json.dumps(record))


def test_a_reused_pid_running_the_same_arguments_is_not_ours(tmp_path: Path) -> None:
    # The pid file is ours, but the process that now has the pid started later: a recycled pid that
    # happens to run the same command line. Only the creation time can tell, and it does.
    other = subprocess.Popen(SLEEPER)
    try:
        created = psutil.Process(other.pid).create_time()
        pid_file = tmp_path / "recycled.pid"
        _forge(pid_file, other.pid, SLEEPER, created - 30.0)
        assert running(pid_file) is None
        assert stop(pid_file) == "not running (stale pid file removed)"
        assert other.poll() is None, "a process that merely reuses our pid was signalled"
        _forge(pid_file, other.pid, SLEEPER, created)
        assert running(pid_file) is not None
    finally:
        other.kill()
        other.wait()


def test_argv0_may_differ_as_when_a_framework_python_reexecs_through_python_app(tmp_path: Path) -> None:
    # macOS framework builds: .../bin/python3.12 re-executes .../Python.app/Contents/MacOS/Python
    # with the same arguments, so the process's argv[0] is not the one we launched.
    sleeper = subprocess.Popen(SLEEPER)
    try:
        pid_file = tmp_path / "framework.pid"
        launched = ["/Library/Frameworks/Python.framework/Versions/3.12/bin/python3.12", *SLEEPER[1:]]
        _forge(pid_file, sleeper.pid, launched, psutil.Process(sleeper.pid).create_time())
        record = running(pid_file)
        assert record is not None and record.pid == sleeper.pid
        assert stop(pid_file) == f"stopped pid {sleeper.pid}"
        assert sleeper.wait(timeout=10) is not None
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


def test_the_pid_file_records_the_creation_time_psutil_reports(tmp_path: Path) -> None:
    pid_file = tmp_path / "timed.pid"
    record = start(
        "timed", SLEEPER, pid_file=pid_file, log=tmp_path / "t.log", cwd=tmp_path, ready=lambda _p: True
    )
    try:
        written = json.loads(pid_file.read_text())
        assert written["create_time"] == record.create_time == psutil.Process(record.pid).create_time()
    finally:
        stop(pid_file)
