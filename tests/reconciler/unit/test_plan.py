"""Planning, in process: a plan of a real VM tree for each case a resource can be in (missing,
drifted, in sync, unmanaged, in error), and applying its writes makes the next plan in sync."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.config import Config, load_config
from reconciler.desired import Desired
from reconciler.plan import Plan, apply_write, compute_plan
from schemas import dump_model

from ..helpers import Vm, bundle, make_manifest, make_vm
from .conftest import desired_of


def _states(plan: Plan) -> dict[str, str]:
    return {r.name: r.state for r in plan.resources}


def _apply_all(plan: Plan) -> None:
    for resource in plan.resources:
        for write in resource.writes:
            apply_write(write)


def test_missing_runtime_files_are_drift_with_the_writes_that_create_them(vm: Vm, config: Config) -> None:
    b = bundle(stable="2.0.0.15", beta="2.0.0.16", gate=True)
    plan = compute_plan(desired_of(b), config)
    assert _states(plan) == {
        "stable": "drift",
        "legacy": "drift",
        "beta": "drift",
        "config_version": "drift",
        "gate": "drift",
    }
    assert not plan.in_sync
    by = {r.name: r for r in plan.resources}
    assert b.stable is not None and b.beta is not None
    stable = dump_model(b.stable)
    # The versioned file before manifest.json, which must never name a version whose file is missing.
    assert [(w.path, w.data) for w in by["stable"].writes] == [
        (vm.manifests / "manifest_2.0.0.15.json", stable),
        (vm.manifests / "manifest.json", stable),
    ]
    assert by["stable"].found == "manifest_2.0.0.15.json missing; manifest.json missing"
    assert [w.path for w in by["beta"].writes] == [vm.manifests / "manifest_beta.json"]
    assert by["config_version"].expected == "default_version 2.0.0.15, default_build 2.0.0.15"
    assert by["config_version"].found == "default_version 2.0.0.14, default_build 2.0.0.14"
    assert by["gate"].found == "UPDATE_BETA_ENABLED=false"
    assert by["gate"].writes[0].gate is not None  # edited in place, never replaced
    assert by["gate"].writes[0].mode == 0o600


def test_applying_a_plan_leaves_nothing_to_do_and_planning_only_reads(vm: Vm, config: Config) -> None:
    b = bundle()
    desired = desired_of(b)
    _apply_all(compute_plan(desired, config))
    assert vm.runtime_matches(b)
    before = {p: p.read_bytes() for p in vm.root.rglob("*") if p.is_file()}
    first, second = compute_plan(desired, config), compute_plan(desired, config)
    assert set(_states(first).values()) == {"in_sync"}
    assert first.in_sync and not first.has_error
    assert all(not r.writes for r in first.resources)
    assert first == second
    assert {p: p.read_bytes() for p in vm.root.rglob("*") if p.is_file()} == before


def test_a_hand_edit_is_drift_of_that_resource_only_and_names_the_field(vm: Vm, config: Config) -> None:
    b = bundle()
    desired = desired_of(b)
    _apply_all(compute_plan(desired, config))
    beta = vm.manifests / "manifest_beta.json"
    beta.write_text(beta.read_text().replace("Release 2.0.0.16", "Hand edit"))
    plan = compute_plan(desired, config)
    assert _states(plan)["beta"] == "drift"
    assert [s for n, s in _states(plan).items() if n != "beta"] == ["in_sync"] * 4
    drifted = {r.name: r for r in plan.resources}["beta"]
    assert "release_notes='Hand edit'" in drifted.found
    assert drifted.detail().startswith(f"expected {drifted.expected}; found manifest_beta.json version")
    assert b.beta is not None
    assert [(w.path, w.data) for w in drifted.writes] == [(beta, dump_model(b.beta))]


def test_null_desired_fields_leave_their_resources_unmanaged(vm: Vm, config: Config) -> None:
    (vm.manifests / "manifest.json").write_text("not ours to delete")
    plan = compute_plan(Desired(), config)
    assert set(_states(plan).values()) == {"unmanaged"}
    assert plan.in_sync  # unmanaged is settled: nothing to write
    found = {r.name: r.found for r in plan.resources}
    assert found["stable"] == "no desired manifest.json"
    assert found["beta"] == "no desired manifest_beta.json"
    assert found["gate"] == "no desired beta_gate.json"
    assert all(not r.writes for r in plan.resources)


def test_a_vm_without_the_legacy_copy_leaves_it_unmanaged(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, legacy=False)
    plan = compute_plan(desired_of(bundle()), load_config(vm.config))
    legacy = {r.name: r for r in plan.resources}["legacy"]
    assert (legacy.state, legacy.found, legacy.writes) == ("unmanaged", "no legacy copy on this VM", ())


def test_an_invalid_desired_field_blocks_only_the_resources_it_drives(vm: Vm, config: Config) -> None:
    b = bundle()
    desired = Desired(stable=b.stable, beta=None, gate=b.gate, errors={"beta": "manifest_beta.json: bad"})
    plan = compute_plan(desired, config)
    beta = {r.name: r for r in plan.resources}["beta"]
    assert (beta.state, beta.from_desired, beta.writes) == ("error", True, ())
    assert beta.found == "desired manifest_beta.json: bad"
    assert _states(plan)["stable"] == "drift"
    # An invalid bundle blocks every resource.
    whole = compute_plan(Desired(errors={"bundle": "bundle.json: not JSON"}), config)
    assert all(r.state == "error" and r.from_desired for r in whole.resources)
    assert plan.digest.startswith("invalid:")


def test_an_unreadable_runtime_file_is_that_resources_error_only(vm: Vm, config: Config) -> None:
    b = bundle()
    _apply_all(compute_plan(desired_of(b), config))
    beta = vm.manifests / "manifest_beta.json"
    beta.unlink()
    os.symlink("/etc/hostname", beta)
    plan = compute_plan(desired_of(b), config)
    broken = {r.name: r for r in plan.resources}["beta"]
    assert broken.state == "error" and not broken.from_desired and broken.writes == ()
    assert str(beta) in broken.found
    assert plan.has_error
    assert [s for n, s in _states(plan).items() if n != "beta"] == ["in_sync"] * 4


def test_a_config_version_file_that_is_gone_is_an_error_never_rebuilt(vm: Vm, config: Config) -> None:
    vm.unified.unlink()
    plan = compute_plan(desired_of(bundle()), config)
    version = {r.name: r for r in plan.resources}["config_version"]
    assert (version.state, version.found, version.writes) == ("error", "unified_config.yaml missing", ())


def test_a_new_stable_version_writes_a_new_versioned_file(vm: Vm, config: Config) -> None:
    b = bundle(stable="2.0.0.15")
    _apply_all(compute_plan(desired_of(b), config))
    newer = b.model_copy(update={"stable": make_manifest("2.0.0.17")})
    plan = compute_plan(desired_of(newer), config)
    stable = {r.name: r for r in plan.resources}["stable"]
    assert [w.path.name for w in stable.writes] == ["manifest_2.0.0.17.json", "manifest.json"]
    assert _states(plan)["legacy"] == "drift" and _states(plan)["config_version"] == "drift"
