"""``./inv sandbox.up`` checks its ports before it starts anything, and a failed up leaves nothing running."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import PROCESSES, down, service
from release.sandbox.procs import PidRecord, Ready, is_alive, read_pid_file
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


def test_a_failed_launch_ends_the_later_launches_waits_and_stops_everything_it_launched(
    sandbox_target: tuple[Target, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staging feed fails while the gRPC stand-ins still wait for readiness: they stop waiting
    (instead of waiting out their deadline first), the production feed before it in the order is
    waited for (its own failure would be the one to name), everything this up launched is stopped,
    and the error is the staging feed's own, not an abandoned wait."""
    target, _ = sandbox_target
    waiting, failing = threading.Event(), threading.Event()
    abandoned: list[str] = []
    stopped: list[str] = []

    def fake_start(name: str, argv: Sequence[str], *, ready: Ready, **_: object) -> PidRecord:
        record = PidRecord(0, tuple(argv), "", None)
        try:
            if name == "staging-feed":
                assert waiting.wait(60), "no gRPC stand-in started waiting"
                failing.set()
                raise ReleaseError("sandbox: staging-feed exited while starting: boom", code=1)
            if name == "production-feed":
                assert failing.wait(60)
                for _look in range(3):  # then ready: it is never abandoned
                    ready(0)
                return record
            if name != "reconciler":
                waiting.set()
                end = time.monotonic() + 30  # start()'s own deadline: a stand-in is never ready here
                pause = threading.Event()
                while time.monotonic() < end:
                    ready(0)
                    pause.wait(0.05)  # start()'s own pace between two looks
            return record
        except ReleaseError:
            raise
        except BaseException:
            abandoned.append(name)
            raise

    def fake_stop(pid_file: Path, **_: object) -> str:
        stopped.append(pid_file.stem)  # never signals anything: the fake starts nothing
        return "stopped"

    monkeypatch.setattr(service, "start", fake_start)
    monkeypatch.setattr(service, "stop", fake_stop)
    with pytest.raises(ReleaseError) as caught:
        service.up(target)
    assert str(caught.value) == "sandbox: staging-feed exited while starting: boom"
    assert sorted(abandoned) == ["production-grpc", "staging-grpc"]
    assert sorted(stopped) == sorted(PROCESSES)
