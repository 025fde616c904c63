"""Pid files and ownership: only a process that still runs the argv we recorded is ever signalled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
