"""The whole funnel on a real sandbox: beta → staging.validate → promote, and every rule on the way.

The tests in this module share one sandbox and run in order: each one starts from the state the
previous one left (as a release engineer's week would).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.outside.store.local import BODY_FILE
from release.parts.journal import read_entries, workstation_lock
from release.sandbox import up
from release.sandbox.procs import stop
from schemas import Manifest, RuntimeLayout

from .helpers import make_artifacts, one_json, poll, sha256, snapshot

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
V1, V2 = "2.0.0.15", "2.0.0.16"
GITHUB = "ghp" + "_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
GOOGLE = "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"


def calls(box: Any) -> list[str]:
    return [call["method"] for call in box.remote_calls()]


def store_file(box: Any, tag: str, name: str) -> Path:
    path: Path = sandbox_paths(box.target).store_root / tag / name
    return path


def manifests(box: Any) -> Path:
    path: Path = box.root / "manifests"
    return path


def test_publish_stable_is_refused_naming_the_funnel(sandbox: Any) -> None:
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {V1}\n\n- first\n")
    before, remote_before = snapshot(sandbox.root), calls(sandbox)
    done = sandbox.inv("publish", "--channel", "stable", check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "beta → staging.validate → promote" in lines[0]
    assert snapshot(sandbox.root) == before and calls(sandbox) == remote_before


def test_planted_secrets_stop_publish(sandbox: Any) -> None:
    sandbox.inv("bump", V1)
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {V1}\n\n- first\ndebug token {GITHUB}\n")
    planted = manifests(sandbox) / "notes_draft.json"
    planted.write_text(json.dumps({"GEMINI_API_KEY": GOOGLE}, indent=2) + "\n")
    try:
        before = snapshot(sandbox.root)
        done = sandbox.inv("publish", check=False)
        assert done.returncode == 1
        assert "LATEST_CHANGES.md:4 (GitHub Token)" in done.stderr + done.stdout
        assert "notes_draft.json:2 (Google API Key)" in done.stderr + done.stdout
        assert GITHUB not in done.stdout + done.stderr and GOOGLE not in done.stdout + done.stderr
        assert snapshot(sandbox.root) == before
        assert not store_file(sandbox, "UpdateBeta", "Nexy.dmg").exists()
    finally:
        planted.unlink()
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {V1}\n\n- first\n")


def test_preflight_names_each_failed_item_and_never_a_value(sandbox: Any) -> None:
    config_env = RuntimeLayout(root=sandbox_paths(sandbox.target).vm_root).config_env_path
    saved = config_env.read_bytes()
    value = re.search(rb"^GEMINI_API_KEY=(.+)$", saved, re.MULTILINE)
    assert value is not None
    _restore(config_env, re.sub(rb"^GEMINI_API_KEY=.*\n", b"", saved, flags=re.MULTILINE))
    try:
        done = sandbox.inv("preflight", "--channel", "stable", "--json", check=False)
    finally:
        _restore(config_env, saved)
    assert done.returncode == 1
    failed = {c["name"]: c["detail"] for c in one_json(done.stdout)["checks"] if not c["ok"]}
    assert set(failed) == {"inbox artifacts", "VM env keys", "archives"}
    assert "missing GEMINI_API_KEY" in failed["VM env keys"]
    line = done.stderr.strip().splitlines()[-1]
    assert (
        line.startswith("error: preflight failed: ") and "inbox artifacts" in line and "VM env keys" in line
    )
    assert value.group(1).decode() not in done.stdout + done.stderr
    assert one_json(sandbox.inv("preflight", "--channel", "beta", "--json").stdout)["ok"] is True


def test_publish_dry_run_plans_every_upload_and_changes_nothing(sandbox: Any) -> None:
    before, remote_before = snapshot(sandbox.root), calls(sandbox)
    done = sandbox.inv("publish", "--dry-run", "--json")
    plan = one_json(done.stdout)
    assert plan["dry_run"] is True and plan["version"] == V1
    assert [(u["tag"], u["name"], u["action"]) for u in plan["uploads"]] == [
        ("UpdateBeta", "Nexy.dmg", "upload"),
        ("AppBeta", "Nexy.pkg", "upload"),
        ("UpdateBeta", "LATEST_CHANGES.md", "upload"),
    ]
    assert "plan: write manifest_beta.json" in done.stderr and "dry run: nothing was changed" in done.stderr
    assert snapshot(sandbox.root) == before and calls(sandbox) == remote_before
    assert not store_file(sandbox, "UpdateBeta", "Nexy.dmg").exists()


def test_publish_beta_validate_promote_with_one_remote_call_each(sandbox: Any) -> None:
    counted = len(calls(sandbox))
    document = one_json(sandbox.inv("publish", "--channel", "beta", "--json").stdout)
    assert document["ok"] and document["version"] == V1
    assert calls(sandbox)[counted:] == ["accept"]
    beta = Manifest.model_validate_json((manifests(sandbox) / "manifest_beta.json").read_bytes())
    assert sha256(store_file(sandbox, "UpdateBeta", "Nexy.dmg")) == beta.artifact.sha256

    refused = sandbox.inv("promote", check=False)
    assert refused.returncode == 1 and "staging.validate" in refused.stderr
    assert not (manifests(sandbox) / "manifest.json").exists()

    counted = len(calls(sandbox))
    assert one_json(sandbox.inv("staging.open", "--json").stdout)["ok"] is True
    assert calls(sandbox)[counted:] == ["accept"]
    assert one_json(sandbox.inv("staging.validate", "--json").stdout)["ok"] is True
    validation = json.loads((manifests(sandbox) / "validation_beta.json").read_text())
    assert validation["ok"] and validation["fingerprint"] == beta.fingerprint
    assert any(c["name"].startswith("TLS") and c["ok"] for c in validation["checks"])

    counted = len(calls(sandbox))
    first = sandbox.inv("promote")
    assert calls(sandbox)[counted:] == ["accept"]
    assert "copied UpdateBeta/Nexy.dmg → Update/Nexy.dmg" in first.stdout
    stable_dmg = store_file(sandbox, "Update", "Nexy.dmg")
    inode = stable_dmg.stat().st_ino
    assert sha256(stable_dmg) == beta.artifact.sha256
    pair = manifests(sandbox) / "manifest.json", manifests(sandbox) / f"manifest_{V1}.json"
    assert pair[0].read_bytes() == pair[1].read_bytes()
    stable = Manifest.model_validate_json(pair[0].read_bytes())
    assert str(stable.artifact.url) == str(sandbox.target.release_target.update.dmg_url)
    assert stable.fingerprint == beta.fingerprint

    second = sandbox.inv("promote", "--json")
    assert one_json(second.stdout)["skip"] is True
    assert stable_dmg.stat().st_ino == inode  # nothing was transferred the second time

    sandbox.inv("verify")
    counted = len(calls(sandbox))
    status = one_json(sandbox.inv("status", "--json").stdout)
    assert calls(sandbox)[counted:] == ["status"]
    assert status["drift"] is False
    results = [(e.task, e.result) for e in read_entries(sandbox.target)]
    assert results[-3:] == [("staging.validate", "ok"), ("promote", "ok"), ("promote", "skip")]


def test_force_without_a_reason_is_bad_input_even_when_validation_passed(sandbox: Any) -> None:
    before, counted = snapshot(sandbox.root), len(calls(sandbox))
    done = sandbox.inv("promote", "--force", check=False)
    assert done.returncode == 2 and "--force needs --reason" in done.stderr
    alone = sandbox.inv("promote", "--reason", "why not", check=False)
    assert alone.returncode == 2 and "--reason goes with --force" in alone.stderr
    assert snapshot(sandbox.root) == before
    assert calls(sandbox)[counted:] == []


def test_second_state_changing_task_is_refused_cleanly(sandbox: Any) -> None:
    before = snapshot(sandbox.root)
    with workstation_lock(sandbox.target, "publish"):
        done = sandbox.inv("publish", check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: another release task is running (publish")
    assert snapshot(sandbox.root) == before


def test_republished_beta_needs_a_new_validation(sandbox: Any) -> None:
    sandbox.inv("bump", V2)
    make_artifacts(sandbox.root, 2 * MB + 17, MB, f"# Nexy {V2}\n\n- second\n")
    sandbox.inv("publish")
    refused = sandbox.inv("promote", check=False)
    assert refused.returncode == 1 and "beta is now" in refused.stderr
    forced = sandbox.inv("promote", "--force", check=False)
    assert forced.returncode == 2 and "--reason" in forced.stderr
    sandbox.inv("staging.validate")


DRY_RUNS = (
    ("publish",),
    ("promote",),
    ("rollback", "--to", V1, "--yes"),
    ("staging.open",),
    ("staging.close",),
    ("staging.validate",),
    ("sync",),
    ("verify",),
    ("verify", "--channel", "beta"),
    ("status",),
    ("preflight",),
    ("preflight", "--channel", "stable"),
)


@pytest.mark.parametrize("task", DRY_RUNS, ids=[" ".join(t) for t in DRY_RUNS])
def test_every_dry_run_changes_nothing(sandbox: Any, task: tuple[str, ...]) -> None:
    before, counted = snapshot(sandbox.root), len(calls(sandbox))
    done = sandbox.inv(*task, "--dry-run", "--json", check=False)
    document = one_json(done.stdout)
    assert snapshot(sandbox.root) == before
    if task[0] == "preflight":
        # Read-only whatever the flag: it asks the VM for its env key names, and may find problems.
        assert done.returncode in (0, 1) and calls(sandbox)[counted:] == ["status"]
        assert {c["name"] for c in document["checks"]} >= {"VM env keys", "secret scan"}
    else:
        assert done.returncode == 0, done.stderr
        assert document["dry_run"] is True
        assert calls(sandbox)[counted:] == [], "a dry run must not call the VM"
    if task[0] == "verify":
        # The plan lists exactly the rows the real run shows: beta has no repo pair.
        assert ("repo pair" in document["checks"]) is (task[1:] != ("--channel", "beta"))


def test_bump_dry_run_prints_the_diff_and_changes_nothing(sandbox: Any) -> None:
    before = snapshot(sandbox.root)
    done = sandbox.inv("bump", "2.0.0.99", "--dry-run")
    assert "+2.0.0.99" in done.stdout and "nothing was written" in done.stdout
    assert snapshot(sandbox.root) == before


def _modes(document: dict[str, Any]) -> dict[str, str]:
    return {action["key"]: action["mode"] for action in document["plan"]}


def test_promote_dry_run_is_the_real_run_skip_for_skip(sandbox: Any) -> None:
    """A promote that stopped after its first copy: the dry run and the run both skip that copy
    (issue 19.3: the dry run planned it, the run skipped it)."""
    shutil.copyfile(store_file(sandbox, "UpdateBeta", "Nexy.dmg"), store_file(sandbox, "Update", "Nexy.dmg"))
    before, counted = snapshot(sandbox.root), len(calls(sandbox))
    planned = sandbox.inv("promote", "--dry-run", "--json")
    assert snapshot(sandbox.root) == before and len(calls(sandbox)) == counted
    dry = one_json(planned.stdout)
    assert _modes(dry) == {
        "copy:dmg": "skip",
        "copy:pkg": "do",
        "copy:notes": "do",
        "body": "do",
        "write": "do",
        "signatures": "note",
        "controls": "note",
        "sync": "do",
        "wait": "do",
    }
    assert (
        "plan: skip: copy UpdateBeta/Nexy.dmg → Update/Nexy.dmg (Update/Nexy.dmg already holds"
        in planned.stderr
    )
    done = one_json(sandbox.inv("promote", "--json").stdout)
    assert done["plan"] == dry["plan"] and done["steps"] == dry["steps"]
    assert [line.split()[0] for line in done["transfers"]] == ["skipped", "copied", "copied"]
    assert json.loads((manifests(sandbox) / "manifest.json").read_text())["version"] == V2


def test_promote_then_rollback_restores_the_older_release(sandbox: Any) -> None:
    v1 = Manifest.model_validate_json((manifests(sandbox) / f"manifest_{V1}.json").read_bytes())
    assert json.loads((manifests(sandbox) / "manifest.json").read_text())["version"] == V2
    assert json.loads((manifests(sandbox) / "manifest.json").read_text())["version"] == V2
    refused = sandbox.inv("rollback", "--to", V1, check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    body = store_file(sandbox, "Update", BODY_FILE)
    assert body.read_text() == f"# Nexy {V2}\n\n- second\n"  # promote V2 wrote it
    counted = len(calls(sandbox))
    dry = one_json(sandbox.inv("rollback", "--to", V1, "--dry-run", "--json").stdout)
    assert _modes(dry) == {"upload:dmg": "do", "upload:pkg": "do", "upload:notes": "do", "body": "do"} | {
        "write": "do",
        "sync": "do",
        "wait": "do",
    }
    assert f"write the body of release Update from the release notes of {V1}" in dry["steps"]
    assert body.read_text() == f"# Nexy {V2}\n\n- second\n"  # the dry run changed nothing
    done = sandbox.inv("rollback", "--to", V1, "--yes", "--json")
    assert calls(sandbox)[counted:] == ["accept"]
    document = one_json(done.stdout)
    assert document["plan"] == dry["plan"]  # the notes upload included (issue 19.3)
    assert document["ok"] is True and (document["from"], document["version"]) == (V2, V1)
    assert "Sparkle never downgrades" in done.stderr and "roll forward" in done.stderr
    assert (manifests(sandbox) / "manifest.json").read_bytes() == (
        manifests(sandbox) / f"manifest_{V1}.json"
    ).read_bytes()
    assert sha256(store_file(sandbox, "Update", "Nexy.dmg")) == v1.artifact.sha256
    assert sha256(store_file(sandbox, "App", "Nexy.pkg")) == v1.installer.sha256
    # The stable release's page describes what it serves again: V1's notes, from its manifest.
    assert body.read_text() == v1.release_notes == f"# Nexy {V1}\n\n- first\n"
    assert document["body"] == f"wrote the body of release Update from the release notes of {V1}"
    runtime = RuntimeLayout(root=sandbox_paths(sandbox.target).vm_root)
    assert json.loads(runtime.stable_manifest.read_text())["version"] == V1
    sandbox.inv("verify")
    assert read_entries(sandbox.target)[-1].task == "rollback"
    # Rolled back to what stable already is: a no-op that says so and changes nothing (issue 19.4).
    before = {k: v for k, v in snapshot(sandbox.root).items() if "release_log" not in k}
    noop = one_json(sandbox.inv("rollback", "--to", V1, "--dry-run", "--json").stdout)
    assert set(_modes(noop).values()) == {"skip", "do"} and {
        key for key, mode in _modes(noop).items() if mode == "do"
    } == {"sync", "wait"}
    assert _modes(noop)["body"] == "skip"
    again = sandbox.inv("rollback", "--to", V1, "--yes")
    assert again.stdout.strip().splitlines()[-1] == f"nothing changed (stable already is {V1})"
    last = read_entries(sandbox.target)[-1]
    assert (last.task, last.result) == ("rollback", "skip") and "nothing changed" in last.detail
    assert {k: v for k, v in snapshot(sandbox.root).items() if "release_log" not in k} == before


def _verify_fails(sandbox: Any, name: str) -> None:
    def failed() -> bool:
        done = sandbox.inv("verify", "--json", check=False)
        if done.returncode != 1:
            return False
        checks = {c["name"]: c["ok"] for c in one_json(done.stdout)["checks"]}
        return checks[name] is False and name in done.stderr

    poll(failed, 30, f"verify failing on {name!r}")


def _restore(path: Path, data: bytes) -> None:
    from schemas import atomic_write

    atomic_write(path, data)


def test_each_broken_definition_of_done_item_fails_verify(sandbox: Any) -> None:
    sandbox.inv("verify")
    dmg = store_file(sandbox, "Update", "Nexy.dmg")
    original = dmg.read_bytes()
    _restore(dmg, bytes(len(original)))
    _verify_fails(sandbox, "assets")
    _restore(dmg, original)

    stable = manifests(sandbox) / "manifest.json"
    versioned = manifests(sandbox) / f"manifest_{V1}.json"
    saved = stable.read_bytes(), versioned.read_bytes()
    moved = json.loads(saved[0])
    moved["artifact"]["url"] = str(moved["artifact"]["url"]).replace("/Update/", "/UpdateBeta/")
    for path in (stable, versioned):
        _restore(path, (json.dumps(moved, indent=2) + "\n").encode())
    _verify_fails(sandbox, "fixed URL")
    _restore(stable, saved[0])
    _restore(
        versioned, (json.dumps(json.loads(saved[1]) | {"release_notes": "edited"}, indent=2) + "\n").encode()
    )
    _verify_fails(sandbox, "repo pair")
    _restore(versioned, saved[1])
    sandbox.inv("verify")

    paths = sandbox_paths(sandbox.target)
    runtime = RuntimeLayout(root=paths.vm_root)
    stop(paths.run_dir / "reconciler.pid")  # hand edits below must stay put long enough to be seen
    try:
        older_config = lambda d: d.replace(V1.encode(), b"2.0.0.3")  # noqa: E731
        for path, edit, name in (
            (runtime.stable_manifest, lambda d: d.replace(b'"size": ', b'"size": 1'), "VM pair"),
            (runtime.unified_config_path, older_config, "/updates/health"),
            (runtime.versioned_manifest(V1), lambda d: d.replace(b'"size": ', b'"size": 1', 1), "appcast"),
            (runtime.config_env_path, _flip_gate, "beta gate"),
        ):
            saved_vm = path.read_bytes()
            changed = edit(saved_vm)
            assert changed != saved_vm, f"the edit for {name} changed nothing"
            _restore(path, changed)
            _verify_fails(sandbox, name)
            if name == "beta gate":
                _status_drifts(sandbox, "beta gate")
            _restore(path, saved_vm)
        # A valid, newer stable release served by hand: /health then names a version nobody released.
        newer = runtime.versioned_manifest(V2)
        had_newer = newer.read_bytes() if newer.exists() else None
        config = runtime.unified_config_path.read_bytes()
        _restore(newer, (manifests(sandbox) / f"manifest_{V2}.json").read_bytes())
        _restore(runtime.unified_config_path, config.replace(V1.encode(), V2.encode()))
        _verify_fails(sandbox, "/health")
        _restore(runtime.unified_config_path, config)
        if had_newer is None:
            newer.unlink()
        else:
            _restore(newer, had_newer)
    finally:
        up(sandbox.target)
    poll(lambda: sandbox.inv("verify", check=False).returncode == 0, 60, "verify passing again")


def _status_drifts(sandbox: Any, item: str) -> None:
    done = sandbox.inv("status", "--json", check=False)
    document = one_json(done.stdout)
    drifted = [row["item"] for row in document["rows"] if row["drift"]]
    assert done.returncode == 1 and document["drift"] is True and item in drifted, document
    assert done.stderr.strip().splitlines()[-1].startswith("error: drift: ") and item in done.stderr


def _flip_gate(data: bytes) -> bytes:
    def flip(match: re.Match[bytes]) -> bytes:
        return b"UPDATE_BETA_ENABLED=" + (b"false" if match.group(1) == b"true" else b"true")

    return re.sub(rb"^UPDATE_BETA_ENABLED=(true|false)$", flip, data, count=1, flags=re.MULTILINE)


def test_staging_close_gates_the_beta_feed_and_status_agrees(sandbox: Any) -> None:
    counted = len(calls(sandbox))
    assert one_json(sandbox.inv("staging.close", "--json").stdout)["ok"] is True
    assert calls(sandbox)[counted:] == ["accept"]
    rows = {row["item"]: row for row in one_json(sandbox.inv("status", "--json").stdout)["rows"]}
    assert (
        rows["beta gate"]["desired"]
        == rows["beta gate"]["runtime"]
        == rows["beta gate"]["served"]
        == "closed"
    )
    counted = len(calls(sandbox))
    document = one_json(sandbox.inv("sync", "--json").stdout)
    assert calls(sandbox)[counted:] == ["accept"]
    assert document["ok"] is True and document["changed"] == []
    tasks = [(entry.task, entry.result) for entry in read_entries(sandbox.target)]
    assert tasks.count(("staging.close", "ok")) == 1 and tasks.count(("rollback", "ok")) == 1


def test_a_failed_validation_blocks_promote_until_forced_with_a_reason(sandbox: Any) -> None:
    beta = Manifest.model_validate_json((manifests(sandbox) / "manifest_beta.json").read_bytes())
    done = sandbox.inv("staging.validate", "--json", check=False)
    assert done.returncode == 1
    assert "beta appcast: 404: the beta gate is closed" in done.stderr.strip().splitlines()[-1]
    recorded = json.loads((manifests(sandbox) / "validation_beta.json").read_text())
    assert recorded["ok"] is False and recorded["fingerprint"] == beta.fingerprint
    document = one_json(done.stdout)
    assert document["ok"] is False
    # One cause, one failed row: the closed gate; nothing is downloaded for a feed that serves no one.
    failed = [c["name"] for c in document["checks"] if not c["ok"] and not c["skipped"]]
    assert failed == ["beta appcast"], document["checks"]
    skipped = {c["name"]: c["detail"] for c in document["checks"] if c["skipped"]}
    assert skipped == dict.fromkeys(
        ["download Nexy.dmg", "download Nexy.pkg", "signature"],
        "skipped: the beta gate is closed (no beta appcast)",
    )

    refused = sandbox.inv("promote", check=False)
    assert refused.returncode == 1 and f"the last validation of {V2} failed" in refused.stderr
    forced = sandbox.inv("promote", "--force", "--reason", "hotfix approved by the owner")
    assert f"promoted: stable is {V2}" in forced.stdout
    last = read_entries(sandbox.target)[-1]
    assert (last.task, last.result, last.version) == ("promote", "forced", V2)
    assert "hotfix approved by the owner" in last.detail
    assert sha256(store_file(sandbox, "Update", "Nexy.dmg")) == beta.artifact.sha256


def test_promote_after_a_rollback_restores_the_released_manifest_unchanged(sandbox: Any) -> None:
    released = manifests(sandbox) / f"manifest_{V2}.json"
    history = released.read_bytes()
    sandbox.inv("rollback", "--to", V1, "--yes")
    before = snapshot(sandbox.root)
    refused = sandbox.inv("promote", "--critical", "--force", "--reason", "roll forward", check=False)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert f"{V2} was released with update controls" in line and "not rewritten" in line
    assert snapshot(sandbox.root) == before
    done = sandbox.inv("promote", "--force", "--reason", "roll forward")
    assert f"promoted: stable is {V2}" in done.stdout
    assert released.read_bytes() == history
    assert (manifests(sandbox) / "manifest.json").read_bytes() == history
