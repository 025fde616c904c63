"""The alert rate window runs on the monotonic clock, also across processes: a wall clock stepped
back after a jump forward does not suppress alerts (pure logic, with injected clocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.alerts import Alert, AlertManager, LogSink
from reconciler.alertstate import FileAlertStore

WINDOW_S = 300.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _manager(store: FileAlertStore, wall: datetime, mono: float) -> AlertManager:
    return AlertManager(
        [LogSink(lambda _document, _level=0: None)], WINDOW_S, "enforce", lambda: mono, lambda: wall, store
    )


def _fire(manager: AlertManager) -> str:
    return manager.event(Alert("gate", "action_failed", found="exit 1")).status


def test_wall_clock_stepped_back_after_a_jump_does_not_suppress(tmp_path: Path) -> None:
    store = FileAlertStore(tmp_path / "alerts.json")
    # The wall clock jumped a day ahead; an alert fires and is remembered.
    assert _fire(_manager(store, T0 + timedelta(days=1), mono=1000.0)) == "firing"
    # NTP steps it back. Ten minutes later (monotonic), another process sees the same condition:
    # the window (5 minutes) is over, so it fires instead of being suppressed for a whole day.
    assert _fire(_manager(store, T0 + timedelta(minutes=10), mono=1600.0)) == "firing"


def test_the_window_still_holds_across_processes(tmp_path: Path) -> None:
    store = FileAlertStore(tmp_path / "alerts.json")
    assert _fire(_manager(store, T0, mono=1000.0)) == "firing"
    # A minute later, even with the wall clock jumped forward a day, it is inside the window.
    assert _fire(_manager(store, T0 + timedelta(days=1), mono=1060.0)) == "suppressed"


def test_after_a_reboot_suppression_never_outlasts_one_window(tmp_path: Path) -> None:
    store = FileAlertStore(tmp_path / "alerts.json")
    assert _fire(_manager(store, T0 + timedelta(days=1), mono=50_000.0)) == "firing"
    # Rebooted (the monotonic clock restarted) and the wall clock stepped back a day.
    assert _fire(_manager(store, T0, mono=20.0)) == "suppressed"  # no time is known to have passed
    assert _fire(_manager(store, T0 + timedelta(seconds=1), mono=20.0 + WINDOW_S + 1)) == "firing"
