"""``./inv sandbox.up`` checks its ports before it starts anything, and a failed up leaves nothing running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import down
from release.sandbox.procs import is_alive, read_pid_file
from schemas import Target, atomic_write
from tests.conftest import run_inv

pytestmark = pytest.mark.timeout(180)


def _left_running(target: Target) -> list[int]:
    """The pids the sandbox's own process records name that are still our processes."""
    run_dir = sandbox_paths(target).run_dir
    records = [read_pid_file(path) for path in run_dir.glob("*.pid")] if run_dir.is_dir() else []
    return [record.pid for record in records if record is not None and is_alive(record)]


@pytest.mark.parametrize("which", ["staging", "production-grpc"])
def test_up_on_a_taken_port_is_one_line_naming_it_and_starts_nothing(
    sandbox_target: tuple[Target, Path], which: str
) -> None:
    target, target_file = sandbox_target
    if which == "staging":
        host, port, process = "127.0.0.1", target.endpoints.staging.url.port, "staging-feed"
    else:
        assert target.grpc is not None
        host, port_text = target.grpc.production.endpoint.rsplit(":", 1)
        port, process = int(port_text), "production-grpc"
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((host, port))
        holder.listen()
        done = run_inv("sandbox.up", "--target", str(target_file), timeout=120)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"error: sandbox: port {host}:{port} ({process}) already in use")
        assert "Traceback" not in done.stdout + done.stderr
        assert _left_running(target) == []
        run_dir = sandbox_paths(target).run_dir
        assert not run_dir.is_dir() or not list(run_dir.glob("*.pid")), "no process was recorded as started"
    finally:
        holder.close()
        down(target)
    # Once the port is free, up starts every process.
    try:
        started = run_inv("sandbox.up", "--target", str(target_file), timeout=150)
        assert started.returncode == 0, started.stderr
        assert len(_left_running(target)) == 5
    finally:
        down(target)
    assert _left_running(target) == []


def test_a_start_that_fails_midway_stops_what_this_up_started(sandbox_target: tuple[Target, Path]) -> None:
    target, target_file = sandbox_target
    paths = sandbox_paths(target)
    try:
        assert run_inv("sandbox.up", "--target", str(target_file), timeout=150).returncode == 0
    finally:
        down(target)
    # A server key the feeds cannot load: the reconciler starts first, then the production feed dies.
    atomic_write(paths.server_key, b"not a key\n", mode=0o600)
    try:
        done = run_inv("sandbox.up", "--target", str(target_file), timeout=150)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "production-feed exited while starting" in lines[0], done.stderr
        assert "reconciler: started" in done.stdout  # it had started, and was stopped again
        assert _left_running(target) == []
        assert not list(paths.run_dir.glob("*.pid"))
    finally:
        down(target)
