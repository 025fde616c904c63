"""Alerts: one structured JSON log line each, and webhook delivery in the background.

Rules:
- A condition (resource, kind) alerts when it appears, not on every pass while it lasts
  (de-duplication); it alerts again only after ``rate_limit_seconds`` since its last delivered
  alert (rate limit); when it disappears a "resolved" alert follows, but only for a delivered one.
- Conditions are grouped in scopes (the pass, the probes) so two threads can report their own.
- Alert text says which resource, what was expected, what was found and what was done.
- Nothing here blocks a pass: webhooks are posted by ``Deliverer``'s thread.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol, TextIO

from schemas import AlertRecord

__all__ = ["Alert", "AlertManager", "AlertSink", "LogSink"]

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
    """The always-on sink: one JSON line per alert on the given stream (stderr → the journal)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def deliver(self, alert: Alert) -> None:
        self._stream.write(json.dumps(alert.document(), separators=(",", ":")) + "\n")
        self._stream.flush()


@dataclass
class _Condition:
    alert: Alert
    delivered: bool


class AlertManager:
    def __init__(
        self,
        sinks: list[AlertSink],
        rate_limit_s: float,
        mode: str,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        self._sinks = sinks
        self._rate_limit_s = rate_limit_s
        self._mode = mode
        self._monotonic = monotonic
        self._wall = wall
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._active: dict[str, dict[tuple[str, str], _Condition]] = {}
        self._last_fired: dict[tuple[str, str], float] = {}
        self._recent: deque[AlertRecord] = deque(maxlen=5)

    def update(self, scope: str, current: list[Alert]) -> list[Alert]:
        """Report the full set of conditions now true in ``scope``; returns the alerts emitted."""
        emitted: list[Alert] = []
        with self._lock:
            before = self._active.get(scope, {})
            after: dict[tuple[str, str], _Condition] = {}
            for alert in current:
                key = (alert.resource, alert.kind)
                if key in before:
                    after[key] = before[key]
                    continue
                fired = self._fire(alert)
                emitted.append(fired)
                after[key] = _Condition(fired, fired.status == "firing")
            for key, condition in before.items():
                if key not in after and condition.delivered:
                    done = f"back in sync (was: {condition.alert.found or condition.alert.kind})"
                    emitted.append(self._emit(replace(condition.alert, status="resolved", done=done)))
            self._active[scope] = after
        return emitted

    def event(self, alert: Alert) -> Alert:
        """A one-off alert (an action failed): rate-limited, never resolved."""
        with self._lock:
            return self._fire(alert)

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
