"""``down`` stops what ``up`` started and nothing else, even when a pid file lies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import down, status, up
from release.sandbox.procs import is_alive, read_pid_file
from tests.conftest import start_sandbox, stop_sandbox

pytestmark = pytest.mark.timeout(180)


def test_down_stops_ours_and_leaves_a_foreign_process_named_by_a_forged_pid_file(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "box")
    paths = sandbox_paths(box.target)
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        feed_pid_file = paths.run_dir / "production-feed.pid"
        real = read_pid_file(feed_pid_file)
        assert real is not None
        # The feed died and its pid went to someone else: the pid file now names a foreign process.
        os.kill(real.pid, signal.SIGKILL)
        forged = {"pid": foreign.pid, "argv": list(real.argv), "started_at": real.started_at}
        feed_pid_file.write_text(json.dumps(forged))
        assert status(box.target)["processes"]["production-feed"]["alive"] is False
        records = [read_pid_file(paths.run_dir / f"{name}.pid") for name in ("reconciler", "staging-feed")]
        outcome = down(box.target)
        assert outcome["production-feed"] == "not running (stale pid file removed)"
        assert outcome["reconciler"].startswith("stopped pid")
        assert outcome["staging-feed"].startswith("stopped pid")
        assert foreign.poll() is None, "down signalled a process it did not start"
        assert not [r for r in records if r is not None and is_alive(r)]
        assert not list(paths.run_dir.glob("*.pid"))
        # Down twice is harmless, and up after down brings all three back.
        assert set(down(box.target).values()) == {"not running"}
        assert set(up(box.target).values()) == {"started"}
    finally:
        foreign.kill()
        foreign.wait()
        stop_sandbox(box)
