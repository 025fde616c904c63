"""``python -m tasks`` and ``python -m reconciler`` for the tests without paying their imports each
time: one fork server per test process.

The suite runs ``./inv`` about 440 times and the reconciler's one-shot commands (``accept``,
``status``, ``once``, ``diff``) about 530 times. Each run is a new interpreter that imports pydantic,
the ``schemas`` models and the program's own modules before it reads its command line: about 0.5 s
of CPU on a 2-core machine, most of it spent on nothing under test. The server does those imports
once; each run is a ``fork()`` of it that then does what ``python -m MODULE`` does.

Rules:
- Used only on Linux. On macOS a child forked without ``exec`` may crash in Apple's frameworks (why
  ``multiprocessing`` spawns there since Python 3.8). There, with ``NEXY_TESTS_EXEC=1``, and for a
  request the server cannot stand for (below), ``run`` answers ``None`` and the caller execs a real
  ``python -m MODULE`` as before; ``launcher()`` answers ``None`` and the sandbox's remote execs.
- The server imports what ``python -m tasks`` imports before reading its arguments
  (``tasks.__main__``'s imports), then every module of the packages a run goes on to import
  (``PRELOADED``, ``reconciler`` among them: a task imports its steps, and they PyGithub, the Azure
  SDK, cryptography and gRPC, only once it runs; grpc through the product's own importer), plus the
  standard-library modules it serves with. It
  holds one thread and prints nothing, so a child inherits no buffered output and no lock another
  thread held; it stops with an error if an import started a thread.
- A child runs its module as ``-m`` does: ``runpy.run_module(MODULE, run_name="__main__",
  alter_sys=True)`` with the request's environment and argv, stdin, stdout and stderr from the
  request's files, and it leaves as the interpreter leaves (SystemExit's code; a traceback and 1 for
  an uncaught error; atexit handlers and thread joins).
- What Python reads only at start-up cannot change in a fork: the server forks a request only with
  the repository as its working directory (``sys.path[0]`` of ``-m``) and the server's own
  ``PYTHON*`` and ``GRPC_*`` variables (buffering, encoding, hash seed, paths; gRPC's C core reads
  its log level when grpc is imported), and refuses any other; ``run`` keeps one server per set of
  those variables.
- The client makes the listening socket (AF_UNIX, SOCK_SEQPACKET: one message per request and per
  answer) before it starts the server, so a request never waits on the server's start-up; the server
  stops when the client process is gone (end of file on its stdin, a pipe from the client).
- A run lives no longer than its caller: when the caller's connection closes (it timed out, was
  killed, or its test was interrupted), the server kills the child with SIGKILL. ``run``'s timeout
  raises TimeoutExpired, as ``subprocess.run`` does.
- ``tests/forklaunch.py`` is the same client as a program: the sandbox's remote runs it in place of
  ``python`` (``remote.python`` in the target file), so an ``./inv`` run's reconciler calls are
  forked too.
- ``tests/foundation/test_forkserver.py`` checks that a forked run and an exec'd run of the same
  command lines print the same bytes and exit the same way.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import json
import os
import pkgutil
import runpy
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["enabled", "launcher", "run"]

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = Path(__file__).resolve().with_name("forklaunch.py")
# The environment variables an interpreter or a preloaded module reads once, at start-up or import.
STARTUP_PREFIXES = ("PYTHON", "GRPC_")
# The packages whose every module the server imports after ``tasks.__main__``'s imports. Measured
# on a suite run: without them a forked ``./inv verify`` imported 302 modules itself (0.2 to 0.6 s
# of CPU) and a reconciler ``status`` its metrics and HTTP modules (0.2 s).
PRELOADED = ("schemas", "reconciler", "release", "tasks", "detect_secrets.plugins")
# What those modules import only inside the functions that use it (the same measure's leftovers).
PRELOADED_MODULES = (
    "azure.identity",
    "azure.mgmt.compute",
    "detect_secrets.filters.common",
    "detect_secrets.transformers.config",
    "detect_secrets.transformers.yaml",
    "httpcore",
    "rich._emoji_codes",
)
_MAX_MESSAGE = 1 << 20
_ANSWER_WAIT_S = (
    120.0  # the pid comes at once and a SIGKILLed child is reaped at once: generous for a busy machine
)


def enabled() -> bool:
    """Whether ``run`` forks on this machine (Linux, unless ``NEXY_TESTS_EXEC=1``)."""
    return sys.platform == "linux" and os.environ.get("NEXY_TESTS_EXEC") != "1"


def startup_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables read only at start-up (Python's) or import (gRPC's): a request is forked only
    where they are the server's."""
    return {key: value for key, value in env.items() if key.startswith(STARTUP_PREFIXES)}


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
        return f"the fork server failed: {self.log.read_text(errors='replace')[-2000:]}"


@functools.cache
def _server(startup: tuple[tuple[str, str], ...]) -> _Server:
    """One server per test process and set of start-up variables (``startup``), so a request is
    always forked from a server that started with its own."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(STARTUP_PREFIXES)}
    return _Server({**environment, **dict(startup)})


def _live_server(env: Mapping[str, str]) -> _Server | None:
    if not enabled():
        return None
    server = _server(tuple(sorted(startup_env(env).items())))
    return server if server.process.poll() is None else None  # gone: exec, as where it never ran


def launcher() -> list[str] | None:
    """The command that stands for ``python`` in the sandbox's remote (``remote.python``): this
    interpreter, isolated and without ``site`` (it imports only the standard library), running
    ``forklaunch.py`` against this process's server; ``None`` where nothing is forked."""
    server = _live_server(os.environ)
    if server is None:
        return None
    return [sys.executable, "-I", "-S", str(LAUNCHER), server.path]


def _receive(conn: socket.socket) -> dict[str, Any]:
    data = conn.recv(_MAX_MESSAGE)
    if not data:
        raise ConnectionError("the fork server closed the connection")
    answer: dict[str, Any] = json.loads(data)
    return answer


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    module: str = "tasks",
    input: bytes | None = None,  # subprocess.run's name
) -> subprocess.CompletedProcess[bytes] | None:
    """``python -m MODULE ARGS`` forked from the server, like ``subprocess.run`` with
    ``capture_output`` (bytes; ``input`` on stdin, else /dev/null); ``None`` where it cannot be
    forked (the caller then execs)."""
    if cwd != REPO:
        return None
    server = _live_server(env)
    if server is None:
        return None
    argv = [sys.executable, "-m", module, *args]
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin.write(input or b"")
        stdin.seek(0)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # The server answers the pid as soon as it has forked: a generous wait, not the run's.
            conn.settimeout(_ANSWER_WAIT_S)
            conn.connect(server.path)
            request = {"module": module, "argv": list(args), "env": dict(env), "cwd": str(cwd)}
            socket.send_fds(
                conn, [json.dumps(request).encode()], [stdin.fileno(), out.fileno(), err.fileno()]
            )
            answer = _receive(conn)
            if "refused" in answer:
                return None
            conn.settimeout(timeout)
            try:
                code = int(_receive(conn)["code"])
            except TimeoutError:
                # As subprocess.run: the child is killed and reaped before TimeoutExpired is raised.
                os.kill(int(answer["pid"]), signal.SIGKILL)
                conn.settimeout(_ANSWER_WAIT_S)
                _receive(conn)
                out.seek(0)
                err.seek(0)
                raise subprocess.TimeoutExpired(argv, timeout, out.read(), err.read()) from None
        except (ConnectionError, json.JSONDecodeError, KeyError) as exc:
            raise RuntimeError(f"{server.failure()} ({exc})") from None
        finally:
            # Also on pytest-timeout's alarm or Ctrl-C in the test: subprocess.run kills its child then too.
            conn.close()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read(), err.read())


def text(done: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    """``done`` as ``subprocess.run(text=True)`` reads it: UTF-8, universal newlines."""

    def decode(data: bytes) -> str:
        return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")

    return subprocess.CompletedProcess(done.args, done.returncode, decode(done.stdout), decode(done.stderr))


# The server: ``python -m tests.forkserver FD`` (FD: the listening socket the client made).


def _refusal(request: dict[str, Any], startup: Mapping[str, str]) -> str | None:
    if request["cwd"] != str(REPO):
        return f"working directory {request['cwd']} is not the repository"
    if startup_env(request["env"]) != startup:
        return "PYTHON* or GRPC_* variables differ from the server's"
    return None


def _serve(listener: socket.socket, startup: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
    """Accept and fork until the client is gone; answers (request, fds) only in a forked child."""
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    callers: dict[socket.socket, int] = {}  # connection -> pid, until the caller hangs up
    while True:
        readable, _, _ = select.select([listener, sys.stdin, *running, *callers], [], [])
        for ready in readable:
            if ready is sys.stdin:
                if not os.read(sys.stdin.fileno(), 1):
                    # The test process is gone; running children go on alone.
                    shutil.rmtree(Path(listener.getsockname()).parent, ignore_errors=True)
                    sys.exit(0)
            elif ready is listener:
                conn, _ = listener.accept()
                data, fds, _, _ = socket.recv_fds(conn, _MAX_MESSAGE, 3)
                request = json.loads(data)
                refused = _refusal(request, startup)
                if refused is not None:
                    for fd in fds:
                        os.close(fd)
                    _answer(conn, {"refused": refused})
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for pidfd, (_, other) in running.items():
                        os.close(pidfd)
                        other.close()
                    conn.close()
                    return request, fds
                for fd in fds:
                    os.close(fd)
                running[os.pidfd_open(pid)] = (pid, conn)
                callers[conn] = pid
                _answer(conn, {"pid": pid})
            elif isinstance(ready, socket.socket):
                # A caller sends nothing after its request: readable means it hung up. Its child may
                # have been reaped earlier in this same round (pidfds come first): nothing to kill then.
                hung_up = callers.pop(ready, None)
                if hung_up is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(hung_up, signal.SIGKILL)
            else:
                pid, conn = running.pop(ready)
                _, status = os.waitpid(pid, 0)
                os.close(ready)
                callers.pop(conn, None)
                _answer(conn, {"code": os.waitstatus_to_exitcode(status)})
                conn.close()


def _answer(conn: socket.socket, message: dict[str, Any]) -> None:
    # OSError: the caller gave up on this run; the server serves the others.
    with contextlib.suppress(OSError):
        conn.send(json.dumps(message).encode())


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """Turn this forked child into ``python -m MODULE ARGV``; never returns."""
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-m", *request["argv"]]
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def _preload(packages: Sequence[str], modules: Sequence[str]) -> None:
    """Import every module of ``packages`` but their ``__main__`` (runpy runs that afresh), then
    ``modules`` and grpc."""
    for package in packages:
        root = importlib.import_module(package)
        for found in pkgutil.walk_packages(root.__path__, f"{package}."):
            if found.name.rpartition(".")[2] != "__main__":
                importlib.import_module(found.name)
    for name in modules:
        importlib.import_module(name)
    from release.outside import grpcsmoke

    grpcsmoke._grpc()  # grpc as a run imports it: GRPC_VERBOSITY's default set first
    if threading.active_count() != 1:
        raise SystemExit(f"forkserver: an import started a thread: {threading.enumerate()}")


def main() -> None:
    startup = startup_env(os.environ)
    # The imports every run would make, made once; runpy runs each ``__main__`` afresh, and warns when
    # the module is already imported, so only its imports are kept.
    import tasks.__main__  # noqa: F401  # first: it keeps httpx's command line out, as reconciler's does

    sys.modules.pop("tasks.__main__")
    _preload(PRELOADED, PRELOADED_MODULES)
    # Out of the collector's sight: a child's collections would otherwise write to every object's
    # header and so copy each page of the server's heap it shares (the gc.freeze documentation).
    gc.freeze()

    listener = socket.socket(fileno=int(sys.argv[1]))
    request, fds = _serve(listener, startup)
    _become(request, fds)


if __name__ == "__main__":
    main()
