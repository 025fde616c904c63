"""Loopback ports for the servers a test starts later, taken from below the kernel's ephemeral range.

Rules:
- A port is free when the product's own test says so (``release.outside.probes.port_free``: a bind
  with ``SO_REUSEADDR``, as uvicorn, gRPC and http.server bind), the test ``sandbox.up`` makes too.
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
import sys
from collections.abc import Iterator
from pathlib import Path

from release.outside.probes import port_free

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


@functools.cache
def _cursor() -> Iterator[int]:
    """This worker process's place in its slice, going round it (the one piece of state)."""
    span = worker_span()
    # Starts at a place that differs between runs and processes, so a rerun does not begin on the
    # ports the previous run just closed.
    offset = os.getpid() % len(span)
    return itertools.cycle(itertools.chain(span[offset:], span[:offset]))


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free now and that no other test of this run was given."""
    span = worker_span()
    ports: list[int] = []
    for port in itertools.islice(_cursor(), len(span)):
        if port_free("127.0.0.1", port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"tests/ports: fewer than {count} free ports in {span}")


def free_port() -> int:
    return free_ports(1)[0]
