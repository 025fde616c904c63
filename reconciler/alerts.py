"""Alerts: one structured JSON log line each, and webhook delivery in the background.

Rules:
- A condition (resource, kind) alerts when it appears, not on every pass while it lasts
  (de-duplication); it alerts again only after ``rate_limit_seconds`` since its last delivered
  alert (rate limit); when it disappears a "resolved" alert follows, but only for a delivered one.
- Conditions are grouped in scopes (the pass, the probes) so two threads can report their own.
- Alert text says which resource, what was expected, what was found and what was done.
- Nothing here blocks a pass: webhooks are posted by ``Deliverer``'s thread.
- With a store, the de-duplication and rate-limit state outlives the process (``once``, ``accept
  --wait`` and a restarted daemon do not re-alert what was already alerted). The rate limit runs on
  the monotonic clock, in memory and on disk: each entry is stored with both clocks, and a later
  process on the same boot measures its age on the monotonic clock, so a wall clock stepped back
  after a jump forward suppresses nothing. After a reboot (the monotonic clock restarted) the
  wall-clock age is used, never less than zero: a suppression never outlasts one rate window.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from schemas import AlertRecord
from schemas.daemonlog import EventLog, log_event

__all__ = ["Alert", "AlertManager", "AlertSink", "AlertState", "AlertStore", "Condition", "LogSink"]

AlertStatus = Literal["firing", "resolved", "suppressed"]


@dataclass(frozen=True)
class Alert:
    resource: str
    kind: str
    expected: str = ""
    found: str = ""
    done: str = ""
    status: AlertStatus = "firing"
    at: str = ""
    mode: str = ""
    host: str = ""

    def text(self) -> str:
        if self.status == "resolved":
            return f"nexy-reconciler on {self.host}: RESOLVED {self.kind} on {self.resource}: {self.done}"
        parts = [f"nexy-reconciler on {self.host}: {self.kind} on {self.resource}"]
        parts += [
            f"{label} {value}"
            for label, value in (("expected", self.expected), ("found", self.found), ("done:", self.done))
            if value
        ]
        return "; ".join(parts)

    def document(self) -> dict[str, Any]:
        return {"event": "alert", **asdict(self), "text": self.text()}


class AlertSink(Protocol):
    def deliver(self, alert: Alert) -> None: ...


class LogSink:
    """The always-on sink: one ``{"event":"alert"}`` log line per alert (stderr → the journal), a
    firing alert at level warning, a resolved or suppressed one at info; ``delivered`` is called
    after each line (the daemon's metrics count them)."""

    def __init__(self, log: EventLog = log_event, delivered: Callable[[], None] | None = None) -> None:
        self._log = log
        self._delivered = delivered

    def deliver(self, alert: Alert) -> None:
        self._log(alert.document(), logging.WARNING if alert.status == "firing" else logging.INFO)
        if self._delivered is not None:
            self._delivered()


@dataclass
class Condition:
    alert: Alert
    delivered: bool


Key = tuple[str, str]


@dataclass
class AlertState:
    """What de-duplication and the rate limit remember: active conditions per scope, and when each
    (resource, kind) last fired, as (wall-clock epoch seconds, monotonic seconds or None)."""

    active: dict[str, dict[Key, Condition]]
    last_fired: dict[Key, tuple[float, float | None]]


class AlertStore(Protocol):
    def load(self) -> AlertState: ...

    def save(self, state: AlertState) -> None: ...


class AlertManager:
    def __init__(
        self,
        sinks: list[AlertSink],
        rate_limit_s: float,
        mode: str,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
        store: AlertStore | None = None,
    ) -> None:
        self._sinks = sinks
        self._rate_limit_s = rate_limit_s
        self._mode = mode
        self._monotonic = monotonic
        self._wall = wall
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._store = store
        self._active: dict[str, dict[Key, Condition]] = {}
        self._last_fired: dict[Key, float] = {}
        self._recent: deque[AlertRecord] = deque(maxlen=5)
        if store is not None:
            state = store.load()
            now, wall_now = self._monotonic(), self._wall().timestamp()
            self._active = state.active
            for key, (wall_at, mono_at) in state.last_fired.items():
                if mono_at is not None and mono_at <= now:
                    age = now - mono_at  # same boot: wall-clock steps do not move this
                else:
                    age = max(0.0, wall_now - wall_at)
                self._last_fired[key] = now - age

    def update(self, scope: str, current: list[Alert]) -> list[Alert]:
        """Report the full set of conditions now true in ``scope``; returns the alerts emitted."""
        emitted: list[Alert] = []
        with self._lock:
            before = self._active.get(scope, {})
            after: dict[Key, Condition] = {}
            for alert in current:
                key = (alert.resource, alert.kind)
                if key in before:
                    after[key] = before[key]
                    continue
                fired = self._fire(alert)
                emitted.append(fired)
                after[key] = Condition(fired, fired.status == "firing")
            for key, condition in before.items():
                if key not in after and condition.delivered:
                    done = f"back in sync (was: {condition.alert.found or condition.alert.kind})"
                    emitted.append(self._emit(replace(condition.alert, status="resolved", done=done)))
            self._active[scope] = after
            if emitted or before.keys() != after.keys():
                self._save()
        return emitted

    def event(self, alert: Alert) -> Alert:
        """A one-off alert (an action failed): rate-limited, never resolved."""
        with self._lock:
            fired = self._fire(alert)
            self._save()
            return fired

    def _save(self) -> None:
        if self._store is None:
            return
        now = self._monotonic()
        offset = self._wall().timestamp() - now
        # Entries past the rate window no longer suppress anything: they need not be kept.
        last: dict[Key, tuple[float, float | None]] = {
            k: (at + offset, at) for k, at in self._last_fired.items() if now - at < self._rate_limit_s
        }
        self._store.save(AlertState({s: dict(c) for s, c in self._active.items() if c}, last))

    def recent(self) -> tuple[AlertRecord, ...]:
        with self._lock:
            return tuple(self._recent)

    def _fire(self, alert: Alert) -> Alert:
        key = (alert.resource, alert.kind)
        now = self._monotonic()
        last = self._last_fired.get(key)
        if last is not None and now - last < self._rate_limit_s:
            return self._emit(replace(alert, status="suppressed"))
        self._last_fired[key] = now
        return self._emit(alert)

    def _emit(self, alert: Alert) -> Alert:
        alert = replace(alert, at=self._wall().isoformat(), mode=self._mode, host=self._host)
        targets = self._sinks[:1] if alert.status == "suppressed" else self._sinks
        for sink in targets:
            sink.deliver(alert)
        if alert.status != "suppressed":
            message = alert.text().split(": ", 1)[-1]
            self._recent.append(
                AlertRecord(
                    at=self._wall(),
                    resource=alert.resource,
                    kind=f"{alert.kind}:{alert.status}",
                    message=message[:120],
                )
            )
        return alert
