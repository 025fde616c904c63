"""The desired state is one unit: a SIGKILL of the real ``accept`` at each step leaves the old bundle
or the new one, an omitted field is refused, and an old-layout directory migrates whole."""

from __future__ import annotations

import json
import signal

import pytest

from reconciler.faults import KILL_AT_ENV
from schemas import dump_model

from .helpers import Daemon, Vm, apply, bundle, run_cli

pytestmark = pytest.mark.timeout(120)

A = bundle(stable="2.0.0.15", beta="2.0.0.16", gate=True)
B = bundle(stable="2.0.0.17", beta="2.0.0.18", gate=False)
# In the order write_bundle passes them; the bundle becomes visible between "written" and "renamed".
BEFORE_RENAME = ["accept:locked", "accept:partial", "accept:written"]
AFTER_RENAME = ["accept:renamed", "accept:cleaned"]


def _desired_digest(vm: Vm) -> str:
    proc = run_cli(vm, "diff", "--json")
    digest: str = json.loads(proc.stdout)["desired_digest"]
    return digest


@pytest.mark.parametrize("step", BEFORE_RENAME + AFTER_RENAME)
def test_sigkill_at_each_step_of_accept_leaves_old_or_new_bundle(vm: Vm, step: str) -> None:
    assert apply(vm, A) == 0
    proc = run_cli(vm, "accept", stdin=B.model_dump_json().encode(), env={KILL_AT_ENV: step})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert b"RESULT" not in proc.stdout
    expected = A if step in BEFORE_RENAME else B
    assert _desired_digest(vm) == expected.digest()
    assert run_cli(vm, "once").returncode == 0
    assert vm.runtime_matches(expected)  # stable, beta and gate all from one bundle, never mixed
    # The next accept finishes what the killed one started, and the sweep left no temp file behind.
    assert apply(vm, B) == 0 and vm.runtime_matches(B)
    assert [p.name for p in vm.desired.iterdir()] == ["bundle.json"]


@pytest.mark.parametrize("step", BEFORE_RENAME + AFTER_RENAME)
def test_sigkill_while_migrating_the_old_layout_leaves_it_whole(vm: Vm, step: str) -> None:
    vm.desired.mkdir(parents=True)
    for name, model in (
        ("manifest.json", A.stable),
        ("manifest_beta.json", A.beta),
        ("beta_gate.json", A.gate),
    ):
        (vm.desired / name).write_bytes(dump_model(model))  # type: ignore[arg-type]
    killed = run_cli(vm, "once", env={KILL_AT_ENV: step})
    assert killed.returncode == -signal.SIGKILL
    assert _desired_digest(vm) == A.digest()
    assert run_cli(vm, "once").returncode == 0
    assert vm.runtime_matches(A)
    assert [p.name for p in vm.desired.iterdir()] == ["bundle.json"]


def test_a_bundle_that_omits_a_field_changes_nothing(vm: Vm) -> None:
    assert apply(vm, A) == 0
    before = (vm.desired / "bundle.json").read_bytes()
    for payload in (b"{}", json.dumps({"gate": json.loads(B.model_dump_json())["gate"]}).encode()):
        proc = run_cli(vm, "accept", stdin=payload)
        assert proc.returncode == 2
        assert len(proc.stderr.splitlines()) == 1 and b"omits" in proc.stderr
        assert (vm.desired / "bundle.json").read_bytes() == before
    # An explicit null is the way to stop managing a resource.
    nulls = A.model_copy(update={"beta": None})
    proc = run_cli(vm, "accept", stdin=nulls.model_dump_json().encode())
    assert proc.returncode == 0 and json.loads(proc.stdout.split(b"RESULT ")[1])["changed"] == [
        "manifest_beta.json"
    ]


def test_the_daemon_migrates_an_old_layout_it_finds(vm: Vm) -> None:
    vm.desired.mkdir(parents=True)
    for name, model in (("manifest.json", A.stable), ("beta_gate.json", A.gate)):
        (vm.desired / name).write_bytes(dump_model(model))  # type: ignore[arg-type]
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        assert [p.name for p in vm.desired.iterdir()] == ["bundle.json"]
        committed = json.loads((vm.desired / "bundle.json").read_bytes())
        assert committed["beta"] is None and committed["stable"]["version"] == "2.0.0.15"
        assert '"event":"desired_migrated"' in daemon.log.read_text()
        status = vm.status()
        assert status is not None and status["resources"]["beta"]["sync"] == "absent"
        assert status["resources"]["stable"]["sync"] in ("in_sync", "healed")
    finally:
        assert daemon.stop() == 0
