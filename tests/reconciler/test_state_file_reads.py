"""The state directory's files (status.json, alerts.json, pending_actions.json) are read through
``schemas.fileio``: a link planted at the name is not followed and a FIFO never blocks the reader;
each reader then falls back as its module's rules say (in-process, real files)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.alerts import Alert, AlertManager, LogSink
from reconciler.alertstate import FileAlertStore
from reconciler.owedactions import PendingActions
from reconciler.statusfile import read_status, write_status
from schemas import Status

pytestmark = pytest.mark.timeout(30)  # a reader blocked on the FIFO fails here, not at 300 s

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIGURED = ("stable", "gate")


def _plant(kind: str, path: Path, real: Path) -> None:
    """Put ``kind`` at ``path``: a link to the good file ``real``, or a FIFO."""
    if kind == "symlink":
        path.symlink_to(real)
    else:
        os.mkfifo(path)


def _good_files(directory: Path) -> dict[str, Path]:
    """A good file of each kind, outside the state directory."""
    directory.mkdir()
    status = directory / "status.json"
    write_status(status, Status(updated_at=T0, mode="enforce", pid=1, desired_digest="d" * 64))
    alerts = FileAlertStore(directory / "alerts.json")
    manager = AlertManager(
        [LogSink(lambda _document, _level=0: None)], 300.0, "enforce", lambda: 10.0, lambda: T0, alerts
    )
    assert manager.event(Alert("gate", "action_failed", found="exit 1")).status == "firing"
    pending = directory / "pending_actions.json"
    pending.write_text(json.dumps({"pending": ["gate"]}))
    return {"status": status, "alerts": directory / "alerts.json", "pending": pending}


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_planted_state_file_is_refused_and_each_reader_falls_back(tmp_path: Path, kind: str) -> None:
    good = _good_files(tmp_path / "elsewhere")
    # The good files read as themselves: the fallbacks below are the refusal, not a bad fixture.
    assert read_status(good["status"]) is not None
    assert FileAlertStore(good["alerts"]).load().last_fired
    assert PendingActions(good["pending"], CONFIGURED).load() == frozenset({"gate"})

    state = tmp_path / "state"
    state.mkdir()
    for real in good.values():
        _plant(kind, state / real.name, real)
    # status.json: no status (readers compute a fresh view); alerts.json: nothing alerted yet;
    # pending_actions.json: unreadable, so every configured action is owed.
    assert read_status(state / "status.json") is None
    assert FileAlertStore(state / "alerts.json").load().last_fired == {}
    assert PendingActions(state / "pending_actions.json", CONFIGURED).load() == frozenset(CONFIGURED)
