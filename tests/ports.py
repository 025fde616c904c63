"""Loopback ports for the servers a test starts later, taken from below the kernel's ephemeral range.

Rules:
- A port is free when a plain ``bind`` (no ``SO_REUSEADDR``) on 127.0.0.1 succeeds, so a port with
  connections still in TIME_WAIT is passed over too.
- Ports come from ``[FLOOR, ephemeral start)``: never the ephemeral range, never the sandbox's fixed
  ports (all below ``FLOOR``).
- Each pytest-xdist worker picks from its own slice of that span, and never hands out one port twice
  until it has gone round its slice, so two workers, or two fixtures of one test, never get the same.

Why: a port ``bind(0)`` gives and the test then releases comes from the ephemeral range, the range
every outgoing connection's local port is also drawn from. On a busy run one of the thousands of
client connections the other worker opens can take it between the pick and the server's own bind
(CI, 2026-12-07: ``port 127.0.0.1:39373 (staging-feed) already in use by another program``). The
kernel never gives a client a port below its ephemeral range.
"""

from __future__ import annotations

import functools
import itertools
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FLOOR", "ephemeral_start", "free_port", "free_ports", "worker_span"]

FLOOR = 10_000  # above every fixed port targets/sandbox.yaml names (8443, 9100, …)
_MAC_EPHEMERAL_START = 49_152  # net.inet.ip.portrange.first's default (IANA's dynamic range)


def ephemeral_start() -> int:
    """The first port the kernel may give an outgoing connection."""
    if sys.platform == "linux":
        low, _high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii").split()
        return int(low)
    return _MAC_EPHEMERAL_START


def worker_span() -> range:
    """This pytest-xdist worker's slice of ``[FLOOR, ephemeral start)`` (the whole span without xdist)."""
    end = ephemeral_start()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) if worker.isdigit() else 0
    size = (end - FLOOR) // max(count, 1)
    if size < 64:  # an ephemeral range reaching down near FLOOR leaves no room: say so, don't guess
        raise RuntimeError(
            f"tests/ports: the ephemeral range starts at {end}, no room below it for test ports"
        )
    start = FLOOR + index * size
    return range(start, start + size)


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cursor(span: range) -> Iterator[int]:
    # Starts at a place that differs between runs and processes, so a rerun does not meet the
    # TIME_WAIT sockets the previous run left on the same ports.
    offset = os.getpid() % len(span)
    return itertools.cycle(itertools.chain(span[offset:], span[:offset]))


class _Picker:
    """One worker process's place in its slice (the one piece of state: where the last pick ended)."""

    def __init__(self) -> None:
        self.span = worker_span()
        self.cursor = _cursor(self.span)

    def take(self, count: int) -> list[int]:
        ports: list[int] = []
        for port in itertools.islice(self.cursor, len(self.span)):
            if _is_free(port):
                ports.append(port)
                if len(ports) == count:
                    return ports
        raise RuntimeError(f"tests/ports: fewer than {count} free ports in {self.span}")


@functools.cache
def _picker() -> _Picker:
    return _Picker()  # on first use, so importing this module reads nothing


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free now and that no other test of this run was given."""
    return _picker().take(count)


def free_port() -> int:
    return free_ports(1)[0]
