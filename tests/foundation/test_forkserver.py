"""``tests.forkserver`` runs a program as ``python -m`` would: same bytes out, same exit.

Each case runs once exec'd (``subprocess.run``) and once forked (``forkserver.run``, or the
``forklaunch.py`` program the sandbox's remote runs), and compares what a test reads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import forkserver
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="the fork server runs on Linux only")

PROBE = "tests.foundation.fork_probe"
Outcome = tuple[int, bytes, bytes]


def execd(module: str, *args: str, env: dict[str, str], stdin: bytes = b"") -> Outcome:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def both(
    module: str, *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[Outcome, Outcome]:
    environment = dict(os.environ if env is None else env)
    forked = forkserver.run(args, env=environment, cwd=REPO, timeout=120, module=module, input=stdin)
    assert forked is not None, "the fork server refused a request it should stand for"
    return execd(module, *args, env=environment, stdin=stdin), (
        forked.returncode,
        forked.stdout,
        forked.stderr,
    )


def launched(module: str, *args: str, env: dict[str, str] | None = None, stdin: bytes = b"") -> Outcome:
    command = forkserver.launcher()
    assert command is not None
    done = subprocess.run(
        [*command, "-m", module, *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=dict(os.environ if env is None else env),
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [("--list",), ("--help", "publish"), ("publish", "-h"), ("--bogus",), ("bump", "x.y"), ("--version",)],
    ids=["list", "help", "task-help", "unknown-flag", "bad-version", "version"],
)
def test_a_task_command_line_prints_and_exits_the_same_forked(args: tuple[str, ...]) -> None:
    exec_outcome, forked = both("tasks", *args, env={**os.environ, "COLUMNS": "70"})
    assert forked == exec_outcome


@pytest.mark.parametrize(
    "args", [("--help",), ("--config", "/nonexistent.yaml", "status")], ids=["help", "missing-config"]
)
def test_a_reconciler_command_line_prints_and_exits_the_same_forked_and_launched(
    args: tuple[str, ...],
) -> None:
    exec_outcome, forked = both("reconciler", *args)
    assert forked == exec_outcome == launched("reconciler", *args)


def test_argv_cwd_name_environment_stdin_and_exit_code_are_the_programs() -> None:
    env = {**os.environ, "NEXY_PROBE": "from the request"}
    exec_outcome, forked = both(PROBE, "show", "--flag", env=env, stdin=b"the bundle")
    assert forked == exec_outcome == launched(PROBE, "show", "--flag", env=env, stdin=b"the bundle")
    assert forked[0] == 3
    assert b'"var": "from the request"' in forked[1] and b'"name": "__main__"' in forked[1]
    assert forked[2] == b"stdin held 'the bundle'\n"


def test_an_uncaught_error_is_a_traceback_and_exit_1() -> None:
    exec_outcome, forked = both(PROBE, "raise")
    assert forked[0] == exec_outcome[0] == launched(PROBE, "raise")[0] == 1
    assert forked[2].splitlines()[-1] == exec_outcome[2].splitlines()[-1] == b"LookupError: the probe raised"


def test_a_death_by_signal_is_the_same_signal() -> None:
    exec_outcome, forked = both(PROBE, "term")
    assert forked[0] == exec_outcome[0] == launched(PROBE, "term")[0] == -signal.SIGTERM


def test_a_timeout_kills_the_child_and_raises_like_subprocess_run() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.run(("wait",), env=dict(os.environ), cwd=REPO, timeout=1, module=PROBE)
    # The server goes on serving after a killed child.
    again = forkserver.run(("show",), env=dict(os.environ), cwd=REPO, timeout=120, module=PROBE)
    assert again is not None and again.returncode == 3


def gone(pid: int, deadline_s: float = 60.0) -> bool:
    """Whether ``pid`` (a child of the server, which reaps it) is gone within the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_killed_launcher_takes_its_run_with_it() -> None:
    command = forkserver.launcher()
    assert command is not None
    proc = subprocess.Popen([*command, "-m", PROBE, "wait"], stdout=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    assert child != proc.pid  # the run is the server's fork, not the launcher
    proc.kill()
    proc.wait(timeout=120)
    assert gone(child), f"the forked run {child} outlived its launcher"


def test_what_python_reads_at_start_up_is_never_forked(tmp_path: Path) -> None:
    other = {**os.environ, "PYTHONHASHSEED": "123"}
    assert forkserver.run(("show",), env=dict(os.environ), cwd=tmp_path, timeout=120, module=PROBE) is None
    # Another set of PYTHON* variables gets a server of its own, started with them.
    forked = forkserver.run(("show",), env=other, cwd=REPO, timeout=120, module=PROBE)
    assert forked is not None and forked.returncode == 3


def test_the_launcher_execs_what_the_server_refuses(tmp_path: Path) -> None:
    # The server refuses other PYTHON* or GRPC_* variables (gRPC's log level is read when the server
    # imports grpc) and another working directory (``cwd_probe`` is
    # importable only from tmp_path); the launcher then execs a real interpreter: the launcher's pid.
    command = forkserver.launcher()
    assert command is not None
    (tmp_path / "cwd_probe.py").write_text(
        "import os, signal\nprint(os.getpid(), flush=True)\nsignal.pause()\n"
    )
    for env, cwd, module in (
        ({**os.environ, "PYTHONHASHSEED": "7"}, REPO, PROBE),
        ({**os.environ, "GRPC_VERBOSITY": "DEBUG"}, REPO, PROBE),
        (dict(os.environ), tmp_path, "cwd_probe"),
    ):
        proc = subprocess.Popen([*command, "-m", module, "wait"], stdout=subprocess.PIPE, cwd=cwd, env=env)
        assert proc.stdout is not None
        try:
            assert int(proc.stdout.readline()) == proc.pid
        finally:
            proc.kill()
            proc.wait(timeout=120)


def test_a_launcher_without_a_server_execs(tmp_path: Path) -> None:
    command = forkserver.launcher()
    assert command is not None
    command[-1] = str(tmp_path / "no-socket")
    done = subprocess.run([*command, "-m", PROBE, "show"], capture_output=True, cwd=REPO, timeout=120)
    assert done.returncode == 3 and b'"name": "__main__"' in done.stdout


def test_importing_grpc_changes_no_start_up_variable_of_the_test_process() -> None:
    """The launcher in a sandbox target names the server of the start-up variables the test process
    had then; a grpc import setting GRPC_VERBOSITY later made that server refuse every reconciler call
    of the sandbox's remote (tests/conftest.py sets it first)."""
    from release.outside import grpcsmoke

    before = forkserver.startup_env(os.environ)
    grpcsmoke._grpc()
    assert forkserver.startup_env(os.environ) == before
    assert "GRPC_VERBOSITY" in before
