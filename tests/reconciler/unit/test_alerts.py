"""Alert de-duplication, rate limit and resolve, in process with a fake clock: a condition alerts
when it appears, not while it lasts; again only after the rate window; "resolved" follows only a
delivered alert; scopes do not resolve each other; a store carries all of it to the next process."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reconciler.alerts import Alert, AlertManager, LogSink
from reconciler.alertstate import FileAlertStore
from schemas.daemonlog import JsonFormatter

from .conftest import FakeClock, ListSink

WINDOW_S = 300.0
DRIFT = Alert("beta", "drift", expected="version 2.0.0.16", found="version 2.0.0.9", done="healed")


def _manager(
    clock: FakeClock, *sinks: ListSink, store: FileAlertStore | None = None, window: float = WINDOW_S
) -> AlertManager:
    return AlertManager(list(sinks), window, "enforce", clock.monotonic, clock.wall, store)


def _statuses(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return [(a.resource, a.kind, a.status) for a in alerts]


def test_a_lasting_condition_alerts_once_and_resolves_once(clock: FakeClock) -> None:
    sink = ListSink()
    manager = _manager(clock, sink)
    assert _statuses(manager.update("pass", [DRIFT])) == [("beta", "drift", "firing")]
    for _ in range(3):
        clock.advance(60)
        assert manager.update("pass", [DRIFT]) == []
    resolved = manager.update("pass", [])
    assert _statuses(resolved) == [("beta", "drift", "resolved")]
    assert resolved[0].done == "back in sync (was: version 2.0.0.9)"
    assert resolved[0].text().endswith("RESOLVED drift on beta: back in sync (was: version 2.0.0.9)")
    assert manager.update("pass", []) == []
    assert _statuses(sink.alerts) == [("beta", "drift", "firing"), ("beta", "drift", "resolved")]
    # Stamped with the injected wall clock and the mode.
    assert sink.alerts[0].at == "2026-01-01T00:00:00+00:00" and sink.alerts[0].mode == "enforce"


def test_a_condition_back_within_the_window_is_suppressed_and_not_resolved(clock: FakeClock) -> None:
    log, webhook = ListSink(), ListSink()
    manager = _manager(clock, log, webhook)
    manager.update("pass", [DRIFT])
    manager.update("pass", [])
    clock.advance(WINDOW_S - 1)
    assert _statuses(manager.update("pass", [DRIFT])) == [("beta", "drift", "suppressed")]
    # A suppressed alert goes to the log sink (the first) only, never to the webhooks...
    assert [a.status for a in log.alerts] == ["firing", "resolved", "suppressed"]
    assert [a.status for a in webhook.alerts] == ["firing", "resolved"]
    # ...and since it was never delivered, its end is not announced either.
    assert manager.update("pass", []) == []
    # Not in the recent list status.json shows.
    assert [r.kind for r in manager.recent()] == ["drift:firing", "drift:resolved"]


def test_after_the_window_the_same_condition_fires_again(clock: FakeClock) -> None:
    manager = _manager(clock, ListSink())
    manager.update("pass", [DRIFT])
    manager.update("pass", [])
    clock.advance(WINDOW_S)
    assert _statuses(manager.update("pass", [DRIFT])) == [("beta", "drift", "firing")]


def test_the_window_is_per_resource_and_kind(clock: FakeClock) -> None:
    manager = _manager(clock, ListSink())
    manager.update("pass", [DRIFT])
    other = [DRIFT, Alert("gate", "drift"), Alert("beta", "error")]
    assert _statuses(manager.update("pass", other)) == [
        ("gate", "drift", "firing"),
        ("beta", "error", "firing"),
    ]


def test_scopes_report_their_own_conditions(clock: FakeClock) -> None:
    manager = _manager(clock, ListSink())
    manager.update("pass", [DRIFT])
    unhealthy = Alert("production", "unhealthy", found="HTTP 502")
    assert _statuses(manager.update("probes", [unhealthy])) == [("production", "unhealthy", "firing")]
    # The probe thread reporting all clear does not resolve the pass's drift.
    assert _statuses(manager.update("probes", [])) == [("production", "unhealthy", "resolved")]
    assert manager.update("pass", [DRIFT]) == []


def test_a_one_off_event_is_rate_limited_and_never_resolved(clock: FakeClock) -> None:
    manager = _manager(clock, ListSink())
    failed = Alert("gate", "action_failed", found="exit 3")
    assert manager.event(failed).status == "firing"
    clock.advance(10)
    assert manager.event(failed).status == "suppressed"
    assert manager.update("pass", []) == []
    clock.advance(WINDOW_S)
    assert manager.event(failed).status == "firing"


def test_a_zero_window_never_suppresses(clock: FakeClock) -> None:
    manager = _manager(clock, ListSink(), window=0.0)
    manager.update("pass", [DRIFT])
    manager.update("pass", [])
    assert _statuses(manager.update("pass", [DRIFT])) == [("beta", "drift", "firing")]


def test_the_next_process_neither_repeats_nor_forgets(tmp_path: Path, clock: FakeClock) -> None:
    store = FileAlertStore(tmp_path / "alerts.json")
    first = ListSink()
    _manager(clock, first, store=store).update("pass", [DRIFT])
    clock.advance(30)
    second = ListSink()
    later = _manager(clock, second, store=store)
    assert later.update("pass", [DRIFT]) == []  # already alerted by the first process
    assert _statuses(later.update("pass", [])) == [("beta", "drift", "resolved")]
    clock.advance(30)
    third = _manager(clock, ListSink(), store=store)
    assert third.update("pass", [DRIFT])[0].status == "suppressed"  # the window outlived the process
    assert _statuses(first.alerts + second.alerts) == [
        ("beta", "drift", "firing"),
        ("beta", "drift", "resolved"),
    ]


def test_a_log_sink_writes_one_json_line_per_alert(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    manager = AlertManager([LogSink()], WINDOW_S, "observe", clock.monotonic, clock.wall)
    with caplog.at_level(logging.INFO):
        manager.update("pass", [DRIFT])
    (line,) = (JsonFormatter().format(record) for record in caplog.records)
    assert line.startswith('{"event":"alert",') and line.endswith(',"level":"warning"}')
    document = json.loads(line)
    assert (document["event"], document["resource"], document["status"], document["mode"]) == (
        "alert",
        "beta",
        "firing",
        "observe",
    )
    assert document["text"].endswith(
        "drift on beta; expected version 2.0.0.16; found version 2.0.0.9; done: healed"
    )
