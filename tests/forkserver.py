"""``python -m tasks`` for the tests without paying its imports each time: one fork server per test process.

The suite runs ``./inv`` about 440 times. Each run is a new interpreter that imports invoke,
pydantic, rich and the whole ``tasks`` namespace before it reads its command line: about 0.5 s of
CPU on a 2-core machine, most of it spent on nothing under test. The server does those imports once;
each run is a ``fork()`` of it that then does what ``python -m tasks`` does.

Rules:
- Used only on Linux. On macOS a child forked without ``exec`` may crash in Apple's frameworks (why
  ``multiprocessing`` spawns there since Python 3.8). There, with ``NEXY_TESTS_EXEC=1``, and for a
  request the server cannot stand for (below), ``run`` answers ``None`` and the caller execs a real
  ``python -m tasks`` as before.
- The server imports what ``python -m tasks`` imports before reading its arguments (the ``tasks``
  package and ``tasks.__main__``), plus the standard-library modules it serves with; it holds one
  thread and prints nothing, so a child inherits no buffered output and no lock another thread held.
- A child runs ``tasks`` as ``-m`` does: ``runpy.run_module("tasks", run_name="__main__",
  alter_sys=True)`` with the request's environment and argv, stdin from /dev/null, stdout and stderr
  into the caller's files, and it leaves as the interpreter leaves (SystemExit's code; a traceback
  and 1 for an uncaught error; atexit handlers and thread joins).
- What Python reads only at start-up cannot change in a fork: a request is forked only with the
  repository as its working directory (``sys.path[0]`` of ``-m``), and from a server started with
  the request's own ``PYTHON*`` variables (buffering, encoding, hash seed, paths): one server per set.
- The client makes the listening socket (AF_UNIX, SOCK_SEQPACKET: one message per request and per
  answer) before it starts the server, so a request never waits on the server's start-up; the server
  stops when the client process is gone (end of file on its stdin, a pipe from the client).
- A timeout kills the child with SIGKILL and raises TimeoutExpired, as ``subprocess.run`` does.
- ``tests/foundation/test_forkserver.py`` checks that a forked run and an exec'd run of the same
  command lines print the same bytes and exit the same way.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import runpy
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["enabled", "run"]

REPO = Path(__file__).resolve().parents[1]
MODULE = "tasks"
_MAX_MESSAGE = 1 << 20
_ANSWER_WAIT_S = (
    120.0  # the pid comes at once and a SIGKILLed child is reaped at once: generous for a busy machine
)


def enabled() -> bool:
    """Whether ``run`` forks on this machine (Linux, unless ``NEXY_TESTS_EXEC=1``)."""
    return sys.platform == "linux" and os.environ.get("NEXY_TESTS_EXEC") != "1"


def _startup_env(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith("PYTHON")}


class _Server:
    """The client's side of one server process."""

    def __init__(self, environment: Mapping[str, str]) -> None:
        # A short directory under /tmp, as the unix_socket_dir fixture makes (sun_path's limit).
        self.dir = Path(tempfile.mkdtemp(prefix="nexy-fork-", dir="/tmp"))
        self.path = str(self.dir / "socket")
        self.log = self.dir / "server.log"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.path)
        listener.listen(64)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.forkserver", str(listener.fileno())],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                cwd=REPO,
                env=dict(environment),
                pass_fds=(listener.fileno(),),
            )
        listener.close()

    def failure(self) -> str:
        return f"the tasks fork server failed: {self.log.read_text(errors='replace')[-2000:]}"


@functools.cache
def _server(startup: tuple[tuple[str, str], ...]) -> _Server:
    """One server per test process and set of ``PYTHON*`` variables (``startup``), so a request is
    always forked from a server that started with its own."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return _Server({**environment, **dict(startup)})


def _receive(conn: socket.socket) -> dict[str, Any]:
    data = conn.recv(_MAX_MESSAGE)
    if not data:
        raise ConnectionError("the tasks fork server closed the connection")
    answer: dict[str, Any] = json.loads(data)
    return answer


def run(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float, module: str = MODULE
) -> subprocess.CompletedProcess[str] | None:
    """``python -m MODULE ARGS`` forked from the server: text, captured, like ``subprocess.run`` with
    ``capture_output``; ``None`` where it cannot be forked (the caller then execs). ``module`` is
    ``tasks`` but for the server's own tests."""
    if not enabled() or cwd != REPO:
        return None
    server = _server(tuple(sorted(_startup_env(env).items())))
    if server.process.poll() is not None:
        return None  # the server is gone: exec, as where it never ran
    argv = [sys.executable, "-m", module, *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # The server answers the pid as soon as it has forked: a generous wait, not the run's.
            conn.settimeout(_ANSWER_WAIT_S)
            conn.connect(server.path)
            request = json.dumps({"module": module, "argv": list(args), "env": dict(env)}).encode()
            socket.send_fds(conn, [request], [out.fileno(), err.fileno()])
            pid = int(_receive(conn)["pid"])
            conn.settimeout(timeout)
            try:
                code = int(_receive(conn)["code"])
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                conn.settimeout(_ANSWER_WAIT_S)
                _receive(conn)
                raise subprocess.TimeoutExpired(argv, timeout, _read(out), _read(err)) from None
            except BaseException:
                # pytest-timeout's alarm or Ctrl-C in the test: subprocess.run kills its child then too.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                raise
        except (ConnectionError, json.JSONDecodeError, KeyError) as exc:
            raise RuntimeError(f"{server.failure()} ({exc})") from None
        finally:
            conn.close()
        return subprocess.CompletedProcess(argv, code, _read(out), _read(err))


def _read(handle: Any) -> str:
    handle.seek(0)
    text: str = handle.read().decode("utf-8", errors="replace")
    # subprocess.run(text=True) reads through universal newlines: \r\n and \r become \n.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# The server: ``python -m tests.forkserver FD`` (FD: the listening socket the client made).


def _serve(listener: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """Accept and fork until the client is gone; answers (request, fds) only in a forked child."""
    waiting: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    while True:
        readable, _, _ = select.select([listener, sys.stdin, *waiting], [], [])
        for ready in readable:
            if ready is sys.stdin:
                if not os.read(sys.stdin.fileno(), 1):
                    # The test process is gone; running children go on alone.
                    shutil.rmtree(Path(listener.getsockname()).parent, ignore_errors=True)
                    sys.exit(0)
            elif ready is listener:
                conn, _ = listener.accept()
                data, fds, _, _ = socket.recv_fds(conn, _MAX_MESSAGE, 2)
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    for pidfd, (_, other) in waiting.items():
                        os.close(pidfd)
                        other.close()
                    return json.loads(data), fds
                for fd in fds:
                    os.close(fd)
                waiting[os.pidfd_open(pid)] = (pid, conn)
                _answer(conn, {"pid": pid})
            else:
                pid, conn = waiting.pop(ready)
                _, status = os.waitpid(pid, 0)
                os.close(ready)
                _answer(conn, {"code": os.waitstatus_to_exitcode(status)})
                conn.close()


def _answer(conn: socket.socket, message: dict[str, Any]) -> None:
    # OSError: the client gave up on this run (its test failed); the server serves the others.
    with contextlib.suppress(OSError):
        conn.send(json.dumps(message).encode())


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """Turn this forked child into ``python -m tasks ARGV``; never returns."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    for target, fd in ((0, devnull), (1, fds[0]), (2, fds[1])):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-m", *request["argv"]]
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def main() -> None:
    import tasks.__main__  # noqa: F401  # the imports every run would make, made once

    # runpy runs __main__.py afresh, and warns when the module is already imported: keep only its imports.
    sys.modules.pop(f"{MODULE}.__main__")

    listener = socket.socket(fileno=int(sys.argv[1]))
    request, fds = _serve(listener)
    _become(request, fds)


if __name__ == "__main__":
    main()
