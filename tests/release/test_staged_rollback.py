"""A staged rollback on beta, and the gRPC rows of staging.validate and verify, on a real sandbox.

The tests in this module share one sandbox and run in order: a beta (V0) overtaken by a stable
release (V1), then two betas (V2, V3), then beta is rolled back to V2 while stable must not move by
a single byte.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from release.errors import ReleaseError
from release.outside.probes import fetch_appcast
from release.outside.sandbox_layout import sandbox_paths
from release.parts.artifacts import archived_beta
from release.parts.journal import read_entries
from release.sandbox.service import grpc_status_file
from release.sandbox.tls import ssl_context
from schemas import Manifest, RuntimeLayout, atomic_write

from .helpers import make_artifacts, one_json, poll, sandbox_target, sha256, snapshot

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
V0, V1, V2, V3 = "2.0.0.15", "2.0.0.16", "2.0.0.17", "2.0.0.18"


def calls(box: Any) -> list[str]:
    return [call["method"] for call in box.remote_calls()]


def manifests(box: Any) -> Path:
    path: Path = box.root / "manifests"
    return path


def beta_manifest(box: Any) -> Manifest:
    return Manifest.model_validate_json((manifests(box) / "manifest_beta.json").read_bytes())


def publish(box: Any, version: str, size: int) -> Manifest:
    box.inv("bump", version)
    make_artifacts(box.root, size, MB, f"# Nexy {version}\n\n- notes for {version}\n")
    box.inv("publish", "--channel", "beta")
    manifest = beta_manifest(box)
    assert manifest.version == version
    return manifest


def stable_state(box: Any) -> dict[str, str]:
    """sha256 of every stable asset, the repo's stable pair and the VM's stable runtime pair."""
    paths = sandbox_paths(box.target)
    files = [path for tag in ("Update", "App") for path in sorted((paths.store_root / tag).iterdir())]
    files += [*sorted(manifests(box).glob("manifest_2*.json")), manifests(box) / "manifest.json"]
    runtime = RuntimeLayout(root=paths.vm_root)
    files += [runtime.stable_manifest, runtime.versioned_manifest(V1)]
    assert all(path.is_file() for path in files)
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def beta_feed(box: Any) -> list[tuple[str, str]]:
    url = str(box.target.endpoints.staging.url).rstrip("/") + "/updates/appcast-beta.xml"
    with httpx.Client(verify=ssl_context(sandbox_paths(box.target).ca_bundle)) as client:
        code, items, detail = fetch_appcast(client, url)
    assert code == 200, detail
    return [(item.short_version, item.version) for item in items]


def validation_once_grpc_is(box: Any, ok: bool) -> dict[str, Any]:
    """``staging.validate --json``'s document, polled until its exit and its grpc row say ``ok``: the
    stub re-reads its status file every 0.2 s (grpcstub.POLL_S), later on a busy machine."""
    last: list[dict[str, Any]] = []

    def settled() -> bool:
        done = box.inv("staging.validate", "--json", check=False)
        last[:] = [one_json(done.stdout)]
        rows = {c["name"]: c for c in last[0]["checks"]}
        return (done.returncode == 0) is ok and rows["grpc"]["ok"] is ok

    poll(settled, 30, f"staging.validate {'passing' if ok else 'failing'} on the grpc row")
    return last[0]


def test_validate_needs_the_staging_grpc_row(sandbox: Any) -> None:
    publish(sandbox, V0, 2 * MB + 1)
    publish(sandbox, V1, 2 * MB)
    sandbox.inv("staging.open")
    status_file = grpc_status_file(sandbox_paths(sandbox.target), "staging-grpc")
    endpoint = sandbox.target.grpc.staging.endpoint
    atomic_write(status_file, b"NOT_SERVING\n")
    try:
        validation_once_grpc_is(sandbox, ok=False)
        done = sandbox.inv("staging.validate", check=False)
        failed = done.stderr.strip().splitlines()[-1]
        assert failed == (
            f"error: staging validation failed: grpc: staging {endpoint} (TLS): the server is NOT_SERVING"
        )
    finally:
        status_file.unlink()
    document = validation_once_grpc_is(sandbox, ok=True)
    rows = {c["name"]: c for c in document["checks"]}
    assert document["ok"] is True and rows["grpc"]["ok"] is True
    assert rows["grpc"]["detail"] == f"staging {endpoint} (TLS): the server is SERVING"


def test_verify_has_the_grpc_row_of_each_channel(sandbox: Any) -> None:
    sandbox.inv("promote")
    grpc = sandbox.target.grpc
    for args, which, endpoint in (
        ((), "production", grpc.production.endpoint),
        (("--channel", "beta"), "staging", grpc.staging.endpoint),
    ):
        rows = {c["name"]: c for c in one_json(sandbox.inv("verify", *args, "--json").stdout)["checks"]}
        assert rows["grpc"] == {
            "name": "grpc",
            "ok": True,
            "detail": f"{which} {endpoint} (TLS): the server is SERVING",
            "skipped": False,
        }
        plan = sandbox.inv("verify", *args, "--dry-run", "--json")
        assert f"Health/Check (the whole server) on {endpoint} (TLS)" in one_json(plan.stdout)["grpc"]
        assert f"on {endpoint} (TLS), deadline 5s" in plan.stderr


def test_validate_dry_run_names_the_grpc_endpoint(sandbox: Any) -> None:
    before = snapshot(sandbox.root)
    plan = sandbox.inv("staging.validate", "--dry-run")
    endpoint = sandbox.target.grpc.staging.endpoint
    assert (
        f"plan: grpc staging: grpc.health.v1.Health/Check (the whole server) on {endpoint} (TLS)"
        in plan.stdout
    )
    assert snapshot(sandbox.root) == before


def test_two_betas_are_recorded_in_the_archive(sandbox: Any) -> None:
    second = publish(sandbox, V2, 2 * MB + 3)
    third = publish(sandbox, V3, 2 * MB + 5)
    assert archived_beta(sandbox.target, V2) == second
    assert archived_beta(sandbox.target, V3) == third
    assert beta_feed(sandbox)[0] == (V3, V3)


def test_a_beta_rollback_dry_run_changes_nothing(sandbox: Any) -> None:
    before, counted = snapshot(sandbox.root), len(calls(sandbox))
    done = sandbox.inv("rollback", "--channel", "beta", "--to", V2, "--yes", "--dry-run", "--json")
    plan = one_json(done.stdout)
    assert plan["dry_run"] is True and (plan["channel"], plan["from"], plan["version"]) == ("beta", V3, V2)
    assert "Sparkle never downgrades" in done.stderr and "dry run: nothing was changed" in done.stderr
    assert snapshot(sandbox.root) == before and calls(sandbox)[counted:] == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--to", "2.0.0.99", "--yes"),
            "2.0.0.99 was never published to beta; beta versions in the archive: ",
        ),
        (("--to", V2), f"rollback replaces what beta clients are offered with {V2}; rerun with --yes"),
        (("--to", "2.0.16", "--yes"), "2.0.16"),
        (
            ("--to", V0, "--yes"),
            f"{V0} is older than stable {V1}: beta clients would be offered stable instead",
        ),
    ],
)
def test_a_beta_rollback_that_cannot_run_is_one_line_and_changes_nothing(
    sandbox: Any, args: tuple[str, ...], says: str
) -> None:
    before, counted = snapshot(sandbox.root), len(calls(sandbox))
    entries = len(read_entries(sandbox.target))
    done = sandbox.inv("rollback", "--channel", "beta", *args, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert snapshot(sandbox.root) == before and calls(sandbox)[counted:] == []
    assert len(read_entries(sandbox.target)) == entries


def test_the_never_published_refusal_lists_the_beta_history(sandbox: Any) -> None:
    done = sandbox.inv("rollback", "--channel", "beta", "--to", "2.0.0.99", "--yes", check=False)
    assert f"beta versions in the archive: {V0}, {V1}, {V2}, {V3}" in done.stderr


def test_a_history_record_that_names_another_release_is_refused(sandbox: Any) -> None:
    history = sandbox.root / ".release-archive" / "beta"
    planted = history / "manifest_2.0.0.19.json"
    planted.write_bytes((history / f"manifest_{V2}.json").read_bytes())
    try:
        before = snapshot(sandbox.root)
        done = sandbox.inv("rollback", "--channel", "beta", "--to", "2.0.0.19", "--yes", check=False)
        assert done.returncode == 2
        assert "the beta history of 2.0.0.19 is not a beta release of it" in done.stderr
        assert snapshot(sandbox.root) == before
    finally:
        planted.unlink()


def test_a_beta_rollback_leaves_stable_byte_identical(sandbox: Any) -> None:
    stable_before = stable_state(sandbox)
    entries = len(read_entries(sandbox.target))
    target_v2 = archived_beta(sandbox.target, V2)
    assert target_v2 is not None
    counted = len(calls(sandbox))
    dry = one_json(sandbox.inv("rollback", "--channel", "beta", "--to", V2, "--dry-run", "--json").stdout)
    modes = {action["key"]: action["mode"] for action in dry["plan"]}
    # V3 is recorded already (publish records every beta), so only the assets and the manifest move.
    assert modes == {"history": "skip", "upload:dmg": "do", "upload:pkg": "do", "upload:notes": "do"} | {
        "write": "do",
        "sync": "do",
        "wait": "do",
    }
    done = sandbox.inv("rollback", "--channel", "beta", "--to", V2, "--yes", "--json")
    document = one_json(done.stdout)
    assert document["plan"] == dry["plan"]  # the run executes the dry run's plan (issue 19.3)
    assert document["ok"] is True and (document["from"], document["version"]) == (V3, V2)
    assert "Sparkle never downgrades: beta clients" in done.stderr and "roll forward" in done.stderr
    assert calls(sandbox)[counted:] == ["accept"]

    assert stable_state(sandbox) == stable_before
    assert beta_manifest(sandbox) == target_v2
    store = sandbox_paths(sandbox.target).store_root
    assert sha256(store / "UpdateBeta" / "Nexy.dmg") == target_v2.artifact.sha256
    assert sha256(store / "AppBeta" / "Nexy.pkg") == target_v2.installer.sha256
    assert (store / "UpdateBeta" / "LATEST_CHANGES.md").read_text() == target_v2.release_notes
    runtime = RuntimeLayout(root=sandbox_paths(sandbox.target).vm_root)
    assert Manifest.model_validate_json(runtime.beta_manifest.read_bytes()) == target_v2
    assert beta_feed(sandbox) == [(V2, V2), (V1, V1)]  # the gate is open: the beta appcast offers V2

    journal = read_entries(sandbox.target)[entries:]
    assert len(journal) == 1
    line = journal[0]
    assert (line.task, line.result, line.channel, line.version) == ("rollback", "ok", "beta", V2)
    assert line.fingerprint == target_v2.fingerprint and f"rollback from {V3}" in line.detail


def test_after_a_beta_rollback_promote_needs_a_new_validation_and_v3_can_return(sandbox: Any) -> None:
    refused = sandbox.inv("promote", check=False)
    assert refused.returncode == 1 and "staging.validate" in refused.stderr
    sandbox.inv("rollback", "--channel", "beta", "--to", V3, "--yes")
    assert beta_manifest(sandbox) == archived_beta(sandbox.target, V3)
    assert beta_feed(sandbox)[0] == (V3, V3)


@pytest.mark.parametrize(
    ("content", "said"), [(b"{not json", "not valid JSON (line 1)"), (b'{"version": 7}', "version")]
)
def test_a_damaged_beta_history_entry_is_one_line_naming_it(
    tmp_path: Path, content: bytes, said: str
) -> None:
    target = sandbox_target(tmp_path)
    history = target.path(target.archive_dir) / "beta"
    history.mkdir(parents=True)
    atomic_write(history / "manifest_2.0.0.9.json", content)
    with pytest.raises(ReleaseError) as caught:
        archived_beta(target, "2.0.0.9")
    message = str(caught.value)
    assert said in message and message.endswith("; the beta history is damaged") and "\n" not in message
    assert archived_beta(target, "2.0.0.8") is None
