"""``python`` for the sandbox's remote in the tests: ``forklaunch.py SOCKET -m MODULE ARGS`` runs
``python -m MODULE ARGS`` forked from the test process's fork server (``tests.forkserver``).

Rules:
- It is this process's stand-in: the forked child gets this process's stdin, stdout, stderr,
  environment and working directory, and this process exits as the child did (its code, or the
  same signal). When this process dies (the remote's timeout kills it), the server kills the child.
- It imports only the standard library, so it starts as ``python -I -S`` (no ``site``, no user
  paths): a few milliseconds where a whole interpreter with the project's imports takes 0.5 s.
- It binds no socket: it connects to the server's, which ``tests.forkserver`` binds in a short
  directory under /tmp as the ``unix_socket_dir`` fixture does (sun_path's limit on macOS).
- Anything it cannot hand over (not ``-m``, the server gone or refusing the request) it execs as a
  real ``python`` with the same arguments: the answer is the same, only slower.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

_MAX_MESSAGE = 1 << 20


def _exec(args: list[str]) -> None:
    os.execv(sys.executable, [sys.executable, *args])  # noqa: S606  # the same interpreter, never a shell


# The same reader as tests.forkserver's client: importing that module here would double this
# program's start-up (92 ms of CPU against 51 ms, measured), paid on every reconciler call.
def _receive(conn: socket.socket) -> dict[str, object]:
    data = conn.recv(_MAX_MESSAGE)
    if not data:
        raise ConnectionError("the fork server closed the connection")
    answer: dict[str, object] = json.loads(data)
    return answer


def main(argv: list[str]) -> None:
    path, args = argv[0], argv[1:]
    if len(args) < 2 or args[0] != "-m":
        _exec(args)
    request = {"module": args[1], "argv": args[2:], "env": dict(os.environ), "cwd": os.getcwd()}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        forked = "pid" in _receive(conn)
    except OSError:
        forked = False  # no server to hand over to
    if not forked:
        conn.close()
        _exec(args)  # nothing ran yet, so nothing runs twice
    try:
        code = _receive(conn)["code"]
    except OSError as exc:
        sys.stderr.write(f"forklaunch: the fork server went away while the run was on: {exc}\n")
        sys.exit(1)
    assert isinstance(code, int)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
