"""Fixtures for the in-process unit tests: the loaded config of the VM tree (``vm``, from the
reconciler tests' conftest), clocks that only move when a test moves them, and sinks that keep
what they were given."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.alerts import Alert
from reconciler.config import Config, load_config
from reconciler.desired import Desired
from schemas import Bundle

from ..helpers import Vm


@dataclass
class FakeClock:
    """A monotonic and a wall clock that advance together, only when ``advance`` is called."""

    mono: float = 1000.0
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.mono - 1000.0)

    def advance(self, seconds: float) -> None:
        self.mono += seconds


@dataclass
class ListSink:
    """An alert sink (``reconciler.alerts.AlertSink``) that keeps every alert delivered to it."""

    alerts: list[Alert] = field(default_factory=list)

    def deliver(self, alert: Alert) -> None:
        self.alerts.append(alert)


def desired_of(bundle: Bundle) -> Desired:
    return Desired(stable=bundle.stable, beta=bundle.beta, gate=bundle.gate)


@pytest.fixture
def config(vm: Vm) -> Config:
    return load_config(vm.config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
