"""Edge cases of the funnel found in review, each on a real sandbox with the real tasks.

The tests share one sandbox and run in order, like test_funnel: V1 is promoted, then V2 is promoted
and rolled back, then the rules around released versions, notes and the archive are exercised.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from release.outside.sandbox_layout import sandbox_paths
from schemas import Manifest, atomic_write

from ..conftest import run_inv
from .helpers import make_artifacts, one_json, snapshot

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]

MB = 1 << 20
V1, V2 = "2.0.0.15", "2.0.0.16"


def calls(box: Any) -> list[str]:
    return [call["method"] for call in box.remote_calls()]


def manifests(box: Any) -> Path:
    path: Path = box.root / "manifests"
    return path


def store_file(box: Any, tag: str, name: str) -> Path:
    path: Path = sandbox_paths(box.target).store_root / tag / name
    return path


def beta(box: Any) -> Manifest:
    return Manifest.model_validate_json((manifests(box) / "manifest_beta.json").read_bytes())


def test_a_notes_only_change_reaches_the_beta_manifest(sandbox: Any) -> None:
    sandbox.inv("bump", V1)
    make_artifacts(sandbox.root, MB, MB // 2, f"# Nexy {V1}\n\n- first\n")
    sandbox.inv("publish")
    first = beta(sandbox)
    inbox_notes = sandbox.root / "release_inbox" / "beta" / "LATEST_CHANGES.md"
    atomic_write(inbox_notes, f"# Nexy {V1}\n\n- first\n- typo fixed in the notes\n".encode())
    sandbox.inv("publish")
    second = beta(sandbox)
    assert second.fingerprint == first.fingerprint  # same bytes: the validation still holds
    # What clients read in the appcast is what was uploaded beside the dmg, not the old text.
    assert second.release_notes == inbox_notes.read_text()
    assert store_file(sandbox, "UpdateBeta", "LATEST_CHANGES.md").read_text() == second.release_notes
    sandbox.inv("staging.open")
    sandbox.inv("staging.validate")
    sandbox.inv("promote")
    stable = Manifest.model_validate_json((manifests(sandbox) / "manifest.json").read_bytes())
    assert stable.release_notes == store_file(sandbox, "Update", "LATEST_CHANGES.md").read_text()


def test_a_released_version_is_never_rebuilt_under_the_same_number(sandbox: Any) -> None:
    sandbox.inv("bump", V2)
    make_artifacts(sandbox.root, MB + 5, MB // 2, f"# Nexy {V2}\n\n- second\n")
    sandbox.inv("publish")
    sandbox.inv("staging.validate")
    sandbox.inv("promote")
    sandbox.inv("rollback", "--to", V1, "--yes")
    released = (manifests(sandbox) / f"manifest_{V2}.json").read_bytes()
    # A rebuild of V2 with other bytes: clients that already took V2 would never be offered it,
    # and rollback --to V2 would no longer restore what was released as V2.
    make_artifacts(sandbox.root, MB + 9, MB // 2, f"# Nexy {V2}\n\n- second, rebuilt\n")
    before, counted = snapshot(sandbox.root), len(calls(sandbox))
    done = sandbox.inv("publish", check=False)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert f"{V2} was already released" in line and "bump" in line
    assert snapshot(sandbox.root) == before and calls(sandbox)[counted:] == []
    assert (manifests(sandbox) / f"manifest_{V2}.json").read_bytes() == released


def test_promote_never_rewrites_the_history_of_a_released_version(sandbox: Any) -> None:
    """A beta manifest for a released version with other bytes (written before this rule, or by
    hand) must not overwrite that version's history, even when validated."""
    released = Manifest.model_validate_json((manifests(sandbox) / f"manifest_{V2}.json").read_bytes())
    rebuilt = Manifest.create(
        **(
            beta(sandbox).model_dump(exclude={"fingerprint"})
            | {"artifact": beta(sandbox).artifact.model_copy(update={"sha256": "ab" * 32}).model_dump()}
        )
    )
    assert rebuilt.version == V2 and rebuilt.fingerprint != released.fingerprint
    beta_file = manifests(sandbox) / "manifest_beta.json"
    saved = beta_file.read_bytes()
    atomic_write(beta_file, rebuilt.model_dump_json(indent=2).encode() + b"\n")
    try:
        before, counted = snapshot(sandbox.root), len(calls(sandbox))
        done = sandbox.inv("promote", "--force", "--reason", "review", check=False)
        assert done.returncode == 2, done.stderr
        assert f"{V2} was already released" in done.stderr.strip().splitlines()[-1]
        assert snapshot(sandbox.root) == before and calls(sandbox)[counted:] == []
    finally:
        atomic_write(beta_file, saved)


def test_rollback_checks_the_archived_bytes_before_touching_anything(sandbox: Any) -> None:
    v2 = Manifest.model_validate_json((manifests(sandbox) / f"manifest_{V2}.json").read_bytes())
    archive = sandbox.root / ".release-archive" / "objects"
    obj = archive / v2.installer.sha256
    saved = obj.read_bytes()
    os.chmod(obj, 0o644)
    obj.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))  # bit rot in the pkg only
    try:
        before, counted = snapshot(sandbox.root), len(calls(sandbox))
        done = sandbox.inv("rollback", "--to", V2, "--yes", check=False)
        assert done.returncode == 2, done.stderr
        assert "pkg" in done.stderr and "cannot roll back" in done.stderr
        # Nothing half done: the dmg was not swapped in while the pkg could not follow.
        assert snapshot(sandbox.root) == before and calls(sandbox)[counted:] == []
    finally:
        atomic_write(obj, saved)


def test_rollback_refuses_a_history_file_that_names_another_release(sandbox: Any) -> None:
    v1 = (manifests(sandbox) / f"manifest_{V1}.json").read_bytes()
    odd = manifests(sandbox) / "manifest_2.0.0.9.json"
    atomic_write(odd, v1)  # a hand copy: the file name says 2.0.0.9, the content V1
    try:
        before, counted = snapshot(sandbox.root), len(calls(sandbox))
        done = sandbox.inv("rollback", "--to", "2.0.0.9", "--yes", check=False)
        assert done.returncode == 2, done.stderr
        assert f"names {V1}" in done.stderr
        assert snapshot(sandbox.root) == before and calls(sandbox)[counted:] == []
    finally:
        odd.unlink()
    beta_copy = json.loads((manifests(sandbox) / "manifest_beta.json").read_text())
    beta_copy["version"] = beta_copy["build"] = "2.0.0.9"
    fake = Manifest.create(**{k: v for k, v in beta_copy.items() if k != "fingerprint"})
    atomic_write(odd, fake.model_dump_json(indent=2).encode() + b"\n")
    try:
        done = sandbox.inv("rollback", "--to", "2.0.0.9", "--yes", check=False)
        assert done.returncode == 2 and "not a stable release" in done.stderr, done.stderr
    finally:
        odd.unlink()
    assert one_json(sandbox.inv("status", "--json").stdout)["drift"] is False


def test_a_vm_that_does_not_answer_leaves_the_desired_state_saved_and_sync_recovers(sandbox: Any) -> None:
    config = sandbox_paths(sandbox.target).reconciler_config
    hidden = config.with_name("reconciler.yaml.away")
    gate = manifests(sandbox) / "beta_gate.json"
    was_open = json.loads(gate.read_text())["enabled"] if gate.exists() else False
    config.rename(hidden)  # the VM's CLI cannot start: the remote call fails
    try:
        done = sandbox.inv("staging.close" if was_open else "staging.open", check=False)
    finally:
        hidden.rename(config)
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert "run ./inv sync once the VM answers" in line
    assert json.loads(gate.read_text())["enabled"] is (not was_open)  # desired state kept
    sandbox.inv("sync")
    status = one_json(sandbox.inv("status", "--json").stdout)
    assert status["drift"] is False


@pytest.mark.parametrize("size", ["0", "-3", "abc"])
def test_demo_with_a_bad_size_stops_before_anything(sandbox_target: Any, size: str) -> None:
    target, target_file = sandbox_target
    root = target.path(".")
    before = snapshot(root)
    done = run_inv("demo", "--size-mb", size, "--target", str(target_file), timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--size-mb" in lines[0] and "Traceback" not in done.stderr
    assert snapshot(root) == before  # no sandbox started, no bump, no artifacts
