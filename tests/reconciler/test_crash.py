"""Crash safety: SIGKILL at random moments while the desired state flips between two releases."""

from __future__ import annotations

import json
import random
import time

import pytest

from reconciler.desired import write_bundle
from reconciler.lock import vm_lock
from reconciler.yamledit import read_update_version
from schemas import Bundle, dump_model

from .helpers import FIXTURES, Daemon, Vm, bundle, wait_for

KILLS = 50
A = bundle(stable="2.0.0.15", beta="2.0.0.16", gate=True)
B = bundle(stable="2.0.0.17", beta="2.0.0.18", gate=False)


def _check_whole(vm: Vm) -> None:
    """Every runtime file parses and is wholly one release's content (or the untouched original)."""
    stable_choices = {dump_model(b.stable) for b in (A, B)}  # type: ignore[arg-type]
    beta_choices = {dump_model(b.beta) for b in (A, B)}  # type: ignore[arg-type]
    for path in [vm.manifests / "manifest.json", vm.legacy, *vm.manifests.glob("manifest_2*.json")]:
        if path.exists() and path.read_bytes() != b"{}\n":
            assert path.read_bytes() in stable_choices, path
            json.loads(path.read_bytes())
    beta = vm.manifests / "manifest_beta.json"
    assert not beta.exists() or beta.read_bytes() in beta_choices
    assert read_update_version(vm.unified.read_bytes()) in {
        ("2.0.0.14",) * 2,
        ("2.0.0.15",) * 2,
        ("2.0.0.17",) * 2,
    }
    fixture_env = (FIXTURES / "config.env").read_bytes()
    assert vm.env.read_bytes() in {
        fixture_env,
        fixture_env.replace(b"BETA_ENABLED=false\n", b"BETA_ENABLED=true\n"),
    }
    assert vm.env.stat().st_mode & 0o777 == 0o600


def _flip(vm: Vm, b: Bundle) -> None:
    vm.desired.mkdir(parents=True, exist_ok=True)
    with vm_lock(vm.state / "lock"):
        write_bundle(vm.desired, b)


@pytest.mark.timeout(240)
def test_sigkill_at_random_moments_never_leaves_a_torn_file(vm: Vm) -> None:
    rng = random.Random(1234)
    daemon = Daemon(vm)
    mid_write = 0
    for kill in range(KILLS):
        daemon.wait_ready()
        target = A if kill % 2 == 0 else B
        _flip(vm, target)
        time.sleep(rng.uniform(0.0, 0.02))
        if not vm.runtime_matches(target):
            mid_write += 1
        daemon.kill()
        _check_whole(vm)
        daemon = Daemon(vm)  # the restart (systemd's Restart=on-failure)
        if kill % 10 == 9:
            wait_for(lambda t=target: vm.runtime_matches(t), 30, "convergence after restart")
    try:
        daemon.wait_ready()
        wait_for(lambda: vm.runtime_matches(B), 30, "final convergence")
        _check_whole(vm)
        visible = {p.name for p in vm.manifests.iterdir() if not p.name.startswith(".")}
        # The restart swept the temp files a kill left between create and rename.
        leftovers = [
            p for d in (vm.manifests, vm.root, vm.desired, vm.unified.parent) for p in d.glob(".*.tmp")
        ]
        assert leftovers == []
        assert visible == {
            "manifest.json",
            "manifest_beta.json",
            "manifest_2.0.0.15.json",
            "manifest_2.0.0.17.json",
        }
    finally:
        assert daemon.stop() == 0
    assert mid_write > 0, "no kill landed before convergence; the test did not exercise a crash"
