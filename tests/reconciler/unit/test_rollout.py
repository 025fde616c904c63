"""Rollout versus drift, in process: a change of the desired state is a rollout (written, no drift
alert in enforce mode), a change of a runtime file is drift (alerted, and healed in enforce mode).
The engine runs with injected clocks and log, against a real VM tree."""

from __future__ import annotations

from pathlib import Path

from reconciler.alerts import AlertManager
from reconciler.conditions import pass_conditions
from reconciler.config import Config, load_config
from reconciler.desired import Desired, write_bundle
from reconciler.engine import Reconciler
from reconciler.plan import compute_plan
from reconciler.resources import RESOURCE_NAMES
from schemas import Bundle

from ..helpers import Vm, bundle, make_manifest, make_vm
from .conftest import FakeClock, ListSink, desired_of


class World:
    """A Reconciler on a VM tree with a fake clock; what it alerted and logged is kept."""

    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.config = config
        self.sink = ListSink()
        self.log: list[dict[str, object]] = []
        alerts = AlertManager([self.sink], 300.0, config.mode, clock.monotonic, clock.wall)
        self.engine = Reconciler(
            config,
            alerts,
            wall=clock.wall,
            monotonic=clock.monotonic,
            pid=4242,
            log=lambda document, _level=0: self.log.append(dict(document)),
        )

    def accept(self, b: Bundle) -> None:
        write_bundle(self.config.desired_dir, b)

    def alerts(self, kind: str) -> list[tuple[str, str]]:
        return [(a.resource, a.status) for a in self.sink.alerts if a.kind == kind]


def test_a_rollout_in_enforce_mode_writes_without_a_drift_alert(
    vm: Vm, config: Config, clock: FakeClock
) -> None:
    world = World(config, clock)
    b = bundle()
    world.accept(b)
    outcome = world.engine.run_pass()
    assert outcome.result == "healed"
    assert set(outcome.changed) == {"stable", "legacy", "beta", "config_version", "gate"}
    assert world.alerts("drift") == []
    assert vm.runtime_matches(b)
    applied = [e for e in world.log if e.get("event") == "applied"]
    assert len(applied) == 1 and applied[0]["desired_digest"] == b.digest()
    # The next pass finds everything settled and says nothing.
    again = world.engine.run_pass()
    assert (again.result, again.changed) == ("in_sync", ())
    assert world.sink.alerts == []


def test_a_changed_runtime_file_is_drift_alerted_and_healed(vm: Vm, config: Config, clock: FakeClock) -> None:
    world = World(config, clock)
    b = bundle()
    world.accept(b)
    world.engine.run_pass()
    vm.unified.write_text(vm.unified.read_text().replace('"2.0.0.15"', '"2.0.0.9"'))
    clock.advance(5)
    outcome = world.engine.run_pass()
    assert (outcome.result, outcome.changed) == ("healed", ("config_version",))
    drift = [a for a in world.sink.alerts if a.kind == "drift"]
    assert [(a.resource, a.status) for a in drift] == [
        ("config_version", "firing"),
        ("config_version", "resolved"),
    ]
    assert drift[0].done == "healed (rewrote atomically)"
    assert "default_version 2.0.0.9" in drift[0].found
    assert vm.runtime_matches(b)
    # A heal of drift is not a rollout: no "applied" line for it.
    assert len([e for e in world.log if e.get("event") == "applied"]) == 1


def test_a_second_rollout_is_still_not_drift(vm: Vm, config: Config, clock: FakeClock) -> None:
    world = World(config, clock)
    world.accept(bundle(beta="2.0.0.16"))
    world.engine.run_pass()
    newer = bundle(beta="2.0.0.18", gate=False)
    world.accept(newer)
    outcome = world.engine.run_pass()
    assert set(outcome.changed) == {"beta", "gate"}
    assert world.alerts("drift") == []
    assert vm.runtime_matches(newer)


def test_a_restarted_engine_remembers_the_digest_so_drift_after_it_is_drift(
    vm: Vm, config: Config, clock: FakeClock
) -> None:
    b = bundle()
    World(config, clock).accept(b)
    World(config, clock).engine.run_pass()
    (vm.manifests / "manifest_beta.json").write_bytes(b"{}\n")
    later = World(config, clock)  # reads the last digest from status.json
    later.engine.run_pass()
    assert later.alerts("drift")[0] == ("beta", "firing")


def test_in_observe_mode_a_rollout_is_reported_as_drift_and_nothing_is_written(
    tmp_path: Path, clock: FakeClock
) -> None:
    vm = make_vm(tmp_path, mode="observe")
    world = World(load_config(vm.config), clock)
    world.accept(bundle())
    before = vm.unified.read_bytes()
    outcome = world.engine.run_pass()
    assert (outcome.result, outcome.changed) == ("drift", ())
    drifted = {a.resource: a for a in world.sink.alerts if a.kind == "drift"}
    assert set(drifted) == {"stable", "legacy", "beta", "config_version", "gate"}
    assert {a.done for a in drifted.values()} == {"left alone (observe mode)"}
    assert vm.unified.read_bytes() == before


def test_pass_conditions_draw_the_line_between_rollout_and_drift(vm: Vm, config: Config) -> None:
    desired = desired_of(bundle())
    plan = compute_plan(desired, config)

    def kinds(*, rollout: bool, mode: str, healed: tuple[str, ...] = ()) -> set[tuple[str, str]]:
        return {
            (a.resource, a.kind) for a in pass_conditions(desired, plan, healed, rollout=rollout, mode=mode)
        }

    every = {(name, "drift") for name in ("stable", "legacy", "beta", "config_version", "gate")}
    assert kinds(rollout=True, mode="enforce") == set()
    assert kinds(rollout=False, mode="enforce") == every
    assert kinds(rollout=True, mode="observe") == every
    healed = pass_conditions(desired, plan, ("beta",), rollout=False, mode="enforce")
    assert {a.resource: a.done for a in healed}["beta"] == "healed (rewrote atomically)"
    assert {a.resource: a.done for a in healed}["gate"] == "not healed"


def test_a_desired_error_is_one_condition_and_a_runtime_error_is_its_resources(
    vm: Vm, config: Config
) -> None:
    b = bundle()
    desired = Desired(stable=b.stable, gate=b.gate, errors={"beta": "manifest_beta.json: bad"})
    vm.unified.unlink()
    plan = compute_plan(desired, config)
    found = pass_conditions(desired, plan, (), rollout=True, mode="enforce")
    keys = [(a.resource, a.kind) for a in found]
    assert keys == [("desired", "invalid_beta"), ("config_version", "error")]
    assert found[0].expected == "a valid manifest_beta.json"


def test_a_group_member_in_error_holds_back_the_whole_group(vm: Vm, config: Config, clock: FakeClock) -> None:
    world = World(config, clock)
    b = bundle()
    world.accept(b)
    vm.unified.unlink()  # config_version cannot be planned: its group (the stable pair, legacy) waits
    outcome = world.engine.run_pass()
    assert outcome.result == "error"
    assert set(outcome.changed) == {"beta", "gate"}
    assert not (vm.manifests / "manifest.json").exists()
    write_failed = {a.resource: a.found for a in world.sink.alerts if a.kind == "write_failed"}
    assert write_failed == {
        "stable": "held back: config_version is in error",
        "legacy": "held back: config_version is in error",
    }
    status = world.engine.status()
    assert status.resources["stable"].sync == "error"
    assert status.resources["beta"].sync == "healed"


def test_the_rollout_flag_follows_the_desired_digest_not_the_pass_count(
    vm: Vm, config: Config, clock: FakeClock
) -> None:
    world = World(config, clock)
    b = bundle()
    world.accept(b)
    world.engine.run_pass()
    # Same desired state accepted again (same digest): a runtime change after it is drift.
    world.accept(b)
    (vm.manifests / "manifest.json").write_bytes(b"{}\n")
    world.engine.run_pass()
    assert ("stable", "firing") in world.alerts("drift")
    # A new desired state that also touches stable: its difference is a rollout again.
    world.accept(b.model_copy(update={"stable": make_manifest("2.0.0.19")}))
    before = len(world.alerts("drift"))
    world.engine.run_pass()
    assert [k for k in world.alerts("drift")[before:] if k[1] == "firing"] == []


def test_a_failing_pass_neither_resolves_drift_nor_claims_sync(tmp_path: Path, clock: FakeClock) -> None:
    vm = make_vm(tmp_path, mode="observe")
    world = World(load_config(vm.config), clock)
    b = bundle()
    world.accept(b)
    world.engine.run_pass()
    drifting = len(world.alerts("drift"))
    assert drifting == 5
    lock = world.config.lock_path
    lock.unlink()
    lock.mkdir()  # the lock cannot be opened: every retry fails with an OSError
    outcome = world.engine.run_pass()
    assert outcome.result == "error" and outcome.plan is None
    assert world.alerts("error") == [("pass", "firing")]
    assert len(world.alerts("drift")) == drifting  # an I/O error resolves no drift
    status = world.engine.status()
    assert list(status.resources) == list(RESOURCE_NAMES)
    assert {state.sync for state in status.resources.values()} == {"error"}
    assert status.desired_digest == b.digest()  # the last digest a pass read
    lock.rmdir()
    assert world.engine.run_pass().result == "drift"
    assert world.alerts("error") == [("pass", "firing"), ("pass", "resolved")]
    assert len(world.alerts("drift")) == drifting  # still the same drift: not alerted again
