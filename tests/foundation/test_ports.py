"""The tests' own port picker (tests/ports.py): below the ephemeral range, one slice per xdist worker."""

from __future__ import annotations

import socket

import pytest

from tests.ports import FLOOR, ephemeral_start, free_ports, worker_span


def test_picked_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    first, second = free_ports(8), free_ports(8)
    picked = first + second
    assert len(set(picked)) == len(picked), "a port was handed out twice"
    assert all(FLOOR <= port < ephemeral_start() for port in picked)
    assert all(port in worker_span() for port in picked)
    for port in picked:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: a server can bind it


def test_a_port_in_use_is_passed_over() -> None:
    with socket.socket() as holder:
        (probe,) = free_ports(1)
        holder.bind(("127.0.0.1", probe + 1))
        holder.listen()
        assert probe + 1 not in free_ports(1)


def test_each_worker_has_its_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    spans = []
    for index in range(3):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        spans.append(set(worker_span()))
    assert not spans[0] & spans[1] and not spans[1] & spans[2] and not spans[0] & spans[2]
    assert min(min(span) for span in spans) >= FLOOR
    assert max(max(span) for span in spans) < ephemeral_start()
