"""``release.outside.store._retry.call`` in-process, on a virtual clock: its deadline is tenacity's "stop
before delay" (a wait that would end past it stops at once), whoever decided the wait."""

from __future__ import annotations

import httpx
import pytest

from release.outside.store._retry import RetryPolicy, call


class _Clock:
    """A virtual monotonic clock that the recorded sleeps advance."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, attempts: int = 6, deadline_s: float = 600.0) -> RetryPolicy:
        return RetryPolicy(
            attempts=attempts, deadline_s=deadline_s, sleep=self.sleep, monotonic=lambda: self.now
        )


def _refused(calls: list[int]) -> None:
    calls.append(1)
    raise httpx.ConnectError("connection refused")


def test_a_backoff_that_would_end_past_the_deadline_stops_before_sleeping() -> None:
    clock = _Clock()
    calls: list[int] = []
    with pytest.raises(httpx.ConnectError):
        call(clock.policy(deadline_s=0.5), lambda: _refused(calls))
    assert calls == [1] and clock.sleeps == []
