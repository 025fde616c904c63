"""``tests.forkserver`` runs a program as ``python -m`` would: same bytes out, same exit.

Each case runs once exec'd (``subprocess.run``) and once forked, and compares what a test reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import forkserver
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="the fork server runs on Linux only")

PROBE = "tests.foundation.fork_probe"


def both(module: str, *args: str, env: dict[str, str] | None = None) -> tuple[object, object]:
    environment = dict(os.environ if env is None else env)
    execd = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=120,
    )
    forked = forkserver.run(args, env=environment, cwd=REPO, timeout=120, module=module)
    assert forked is not None, "the fork server refused a request it should stand for"
    return (execd.returncode, execd.stdout, execd.stderr), (forked.returncode, forked.stdout, forked.stderr)


@pytest.mark.parametrize(
    "args",
    [("--list",), ("--help", "publish"), ("publish", "-h"), ("--bogus",), ("bump", "x.y"), ("--version",)],
    ids=["list", "help", "task-help", "unknown-flag", "bad-version", "version"],
)
def test_a_task_command_line_prints_and_exits_the_same_forked(args: tuple[str, ...]) -> None:
    execd, forked = both("tasks", *args, env={**os.environ, "COLUMNS": "70"})
    assert forked == execd


def test_argv_cwd_name_environment_stdin_and_exit_code_are_the_programs() -> None:
    execd, forked = both(PROBE, "show", "--flag", env={**os.environ, "NEXY_PROBE": "from the request"})
    assert forked == execd
    assert (
        forked[0] == 3
        and '"var": "from the request"' in str(forked[1])
        and '"name": "__main__"' in str(forked[1])
    )


def test_an_uncaught_error_is_a_traceback_and_exit_1() -> None:
    execd, forked = both(PROBE, "raise")
    assert forked[0] == execd[0] == 1
    assert (
        str(forked[2]).splitlines()[-1] == str(execd[2]).splitlines()[-1] == "LookupError: the probe raised"
    )


def test_a_timeout_kills_the_child_and_raises_like_subprocess_run() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.run(("wait",), env=dict(os.environ), cwd=REPO, timeout=1, module=PROBE)
    # The server goes on serving after a killed child.
    again = forkserver.run(("show",), env=dict(os.environ), cwd=REPO, timeout=120, module=PROBE)
    assert again is not None and again.returncode == 3


def test_what_python_reads_at_start_up_is_never_forked(tmp_path: Path) -> None:
    other = {**os.environ, "PYTHONHASHSEED": "123"}
    assert forkserver.run(("show",), env=dict(os.environ), cwd=tmp_path, timeout=120, module=PROBE) is None
    # Another set of PYTHON* variables gets a server of its own, started with them.
    forked = forkserver.run(("show",), env=other, cwd=REPO, timeout=120, module=PROBE)
    assert forked is not None and forked.returncode == 3
