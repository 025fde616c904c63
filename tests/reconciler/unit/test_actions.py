"""Owed actions, in process: ``pending_actions.json`` keeps the resources whose actions are owed
(configured ones only, in table order), an unreadable file owes every configured action, owed
actions run once (real commands) and are then forgotten, and an engine finding them owed after a
kill runs them even when nothing is left to write."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reconciler.alerts import AlertManager
from reconciler.config import Config, load_config
from reconciler.desired import write_bundle
from reconciler.engine import Reconciler
from reconciler.lock import vm_lock
from reconciler.owedactions import PendingActions

from ..helpers import bundle, make_vm
from .conftest import FakeClock, ListSink


def _actions(**argv: str) -> str:
    return "actions:\n" + "".join(
        f"  {name}: [{sys.executable!r}, -c, {code!r}]\n" for name, code in argv.items()
    )


def _appender(marker: Path, word: str) -> str:
    return f"open({str(marker)!r}, 'a').write({word + chr(10)!r})"


def test_only_configured_actions_are_owed_and_kept_in_table_order(tmp_path: Path) -> None:
    path = tmp_path / "pending_actions.json"
    pending = PendingActions(path, ["gate", "stable", "beta"])
    assert pending.load() == frozenset()
    assert pending.add(["gate", "legacy", "beta"]) == frozenset({"gate", "beta"})
    assert pending.add(["stable"]) == frozenset({"gate", "beta", "stable"})
    assert json.loads(path.read_text()) == {"pending": ["stable", "beta", "gate"]}
    pending.discard(["beta", "stable"])
    assert json.loads(path.read_text()) == {"pending": ["gate"]}
    # An action no longer configured is no longer owed.
    assert PendingActions(path, ["stable"]).load() == frozenset()


def test_an_unreadable_record_owes_every_configured_action(tmp_path: Path) -> None:
    path = tmp_path / "pending_actions.json"
    for damage in (b"{not json", b'{"other": []}', b"[1, 2]"):
        path.write_bytes(damage)
        assert PendingActions(path, ["gate", "beta"]).load() == frozenset({"gate", "beta"})


def _engine(config: Config, clock: FakeClock, sink: ListSink, log: list[dict[str, object]]) -> Reconciler:
    alerts = AlertManager([sink], 300.0, config.mode, clock.monotonic, clock.wall)
    return Reconciler(
        config,
        alerts,
        wall=clock.wall,
        monotonic=clock.monotonic,
        pid=1,
        log=lambda document, _level=0: log.append(dict(document)),
    )


def test_owed_actions_run_once_in_table_order_and_failures_alert(tmp_path: Path, clock: FakeClock) -> None:
    marker = tmp_path / "ran.txt"
    extra = _actions(
        gate=_appender(marker, "gate"),
        stable=_appender(marker, "stable") + "; raise SystemExit(3)",
        beta=_appender(marker, "beta"),
    )
    vm = make_vm(tmp_path, extra=extra)
    config = load_config(vm.config)
    sink = ListSink()
    log: list[dict[str, object]] = []
    engine = _engine(config, clock, sink, log)
    write_bundle(config.desired_dir, bundle())
    outcome = engine.run_pass()
    assert outcome.owed == frozenset({"stable", "beta", "gate"})
    assert marker.read_text().split() == ["stable", "beta", "gate"]
    events = [(e["resource"], e["returncode"]) for e in log if e.get("event") == "action"]
    assert events == [("stable", 3), ("beta", 0), ("gate", 0)]
    failed = [a for a in sink.alerts if a.kind == "action_failed"]
    assert [(a.resource, a.status) for a in failed] == [("stable", "firing")]
    assert failed[0].found.endswith("exited 3")
    assert json.loads((vm.state / "pending_actions.json").read_text()) == {"pending": []}
    # Nothing written on the next pass: no action owed, none run.
    assert engine.run_pass().owed == frozenset()
    assert marker.read_text().split() == ["stable", "beta", "gate"]


def test_actions_owed_by_a_killed_pass_run_on_the_next_one(tmp_path: Path, clock: FakeClock) -> None:
    marker = tmp_path / "ran.txt"
    vm = make_vm(tmp_path, extra=_actions(gate=_appender(marker, "gate")))
    config = load_config(vm.config)
    write_bundle(config.desired_dir, bundle())
    _engine(config, clock, ListSink(), []).run_pass()
    marker.unlink()
    # A pass recorded the gate's action as owed, wrote, and was killed before running it.
    with vm_lock(config.lock_path, timeout_s=5.0):
        PendingActions(config.pending_actions_path, ["gate"]).add(["gate"])
    outcome = _engine(config, clock, ListSink(), []).run_pass()
    assert (outcome.result, outcome.changed, outcome.owed) == ("in_sync", (), frozenset({"gate"}))
    assert marker.read_text().split() == ["gate"]
    assert PendingActions(config.pending_actions_path, ["gate"]).load() == frozenset()


def test_observe_mode_owes_and_runs_nothing(tmp_path: Path, clock: FakeClock) -> None:
    marker = tmp_path / "ran.txt"
    vm = make_vm(tmp_path, mode="observe", extra=_actions(gate=_appender(marker, "gate")))
    config = load_config(vm.config)
    write_bundle(config.desired_dir, bundle())
    outcome = _engine(config, clock, ListSink(), []).run_pass()
    assert outcome.owed == frozenset()
    assert not marker.exists()
