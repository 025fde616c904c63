"""``alerts.json`` in the state directory: the alert de-duplication and rate-limit memory on disk.

Rules:
- Written atomically (``schemas.atomic_write``) whenever an alert fires, resolves or a condition
  appears or goes; read once when an ``AlertManager`` starts, so ``once``, ``accept --wait`` and a
  restarted daemon remember what was already alerted.
- It is a memory, not a record: a missing, unreadable or malformed file means "nothing alerted
  yet" (at worst one duplicate alert), and a failed save is logged and never fails a pass.
- Two processes saving at once (the daemon and an operator's ``once``): the last writer wins,
  which again costs at most one duplicate or one missing "resolved" alert.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from schemas import atomic_write
from schemas.daemonlog import log_event
from schemas.fileio import read_regular

from .alerts import Alert, AlertState, Condition

__all__ = ["FileAlertStore"]

_VERSION = 1
_ALERT_FIELDS = {f.name for f in fields(Alert)}


def _alert(document: Any) -> Alert:
    if not isinstance(document, dict) or not set(document) <= _ALERT_FIELDS:
        raise ValueError("not an alert")
    if not all(isinstance(value, str) for value in document.values()):
        raise ValueError("alert fields are strings")
    return Alert(**document)


def _parse(document: Any) -> AlertState:
    if not isinstance(document, dict) or document.get("version") != _VERSION:
        raise ValueError("unknown alert state version")
    active: dict[str, dict[tuple[str, str], Condition]] = {}
    for scope, conditions in document["active"].items():
        active[str(scope)] = {}
        for item in conditions:
            alert = _alert(item["alert"])
            active[str(scope)][(alert.resource, alert.kind)] = Condition(alert, bool(item["delivered"]))
    last_fired: dict[tuple[str, str], tuple[float, float | None]] = {}
    for entry in document["last_fired"]:
        # [resource, kind, wall] (version 1 files) or [resource, kind, wall, monotonic]
        resource, kind, wall = entry[:3]
        mono = float(entry[3]) if len(entry) > 3 and entry[3] is not None else None
        last_fired[(str(resource), str(kind))] = (float(wall), mono)
    return AlertState(active, last_fired)


class FileAlertStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> AlertState:
        try:
            # schemas.fileio: a link or FIFO planted here is refused (an OSError), not followed.
            data = read_regular(self.path)
            if data is None:
                return AlertState({}, {})
            return _parse(json.loads(data))
        except FileNotFoundError:
            return AlertState({}, {})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log_event(
                {"event": "alert_state_reset", "path": str(self.path), "reason": "unreadable"},
                logging.WARNING,
            )
            return AlertState({}, {})

    def save(self, state: AlertState) -> None:
        document = {
            "version": _VERSION,
            "active": {
                scope: [{"alert": asdict(c.alert), "delivered": c.delivered} for c in conditions.values()]
                for scope, conditions in state.active.items()
            },
            "last_fired": [
                [r, k, round(wall, 3), None if mono is None else round(mono, 3)]
                for (r, k), (wall, mono) in sorted(state.last_fired.items())
            ],
        }
        try:
            atomic_write(self.path, (json.dumps(document, separators=(",", ":")) + "\n").encode(), mode=0o600)
        except OSError as exc:
            log_event(
                {"event": "alert_state_not_saved", "path": str(self.path), "error": exc.strerror or str(exc)},
                logging.ERROR,
            )
