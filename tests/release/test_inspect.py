"""``./inv diff`` and ``./inv history`` on a real sandbox (the real reconciler CLI answers ``diff``).

The tests share one sandbox and run in order: a fresh checkout, then a published beta, then a
desired state the VM has not been sent, then a hand edit on the VM with the daemon stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import up
from release.sandbox.procs import stop
from schemas import RuntimeLayout, Target
from tests.conftest import Sandbox, run_inv

from .helpers import make_artifacts, one_json

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
VERSION = "2.0.0.16"


def _error_line(done: Any) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert lines and lines[-1].startswith("error: "), done.stderr
    return str(lines[-1])


def test_history_of_a_fresh_checkout_says_it_is_empty(sandbox: Sandbox) -> None:
    done = sandbox.inv("history")
    assert "has no entries yet" in done.stdout
    assert one_json(sandbox.inv("history", "--json").stdout)["entries"] == []


def test_history_refuses_a_limit_that_is_not_a_number(sandbox: Sandbox) -> None:
    done = sandbox.inv("history", "--limit", "ten", check=False)
    assert done.returncode == 2
    assert _error_line(done) == "error: --limit 'ten': use a whole number of entries (0 shows them all)"


def test_diff_after_a_publish_is_in_sync(sandbox: Sandbox) -> None:
    sandbox.inv("bump", VERSION)
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {VERSION}\n\n- first\n")
    sandbox.inv("publish", "--channel", "beta")
    sandbox.inv("staging.open", "--reason", "beta window")
    before = len(sandbox.remote_calls())
    planned = sandbox.inv("diff", "--dry-run")
    assert planned.stdout.startswith("plan: read manifests/, ask local reconciler (config ")
    assert len(sandbox.remote_calls()) == before  # a dry run names the call and makes none
    done = sandbox.inv("diff")
    assert len(sandbox.remote_calls()) == before + 1  # one call: the reconciler's own diff
    assert "in sync: nothing to do" in done.stdout
    document = one_json(sandbox.inv("diff", "--json").stdout)
    assert document["different"] is False and document["bundle"]["same"] is True
    assert document["plan"]["resources"]["beta"]["state"] == "in_sync"
    assert document["plan"]["resources"]["beta"]["expected"].startswith(f"version {VERSION} (")
    assert document["plan"]["resources"]["gate"]["found"] == "UPDATE_BETA_ENABLED=true"


def test_history_shows_when_who_what_version_result(sandbox: Sandbox) -> None:
    document = one_json(sandbox.inv("history", "--json").stdout)
    tasks = [(entry["task"], entry["result"]) for entry in document["entries"]]
    assert tasks == [("publish", "ok"), ("staging.open", "ok")]
    publish = document["entries"][0]
    assert publish["channel"] == "beta" and publish["version"] == VERSION and publish["who"]
    table = sandbox.inv("history").stdout
    assert "publish beta" in table and VERSION in table and "staging.open beta" in table
    assert max(len(line) for line in table.splitlines()) <= 80
    last = one_json(sandbox.inv("history", "--json", "--limit", "1").stdout)
    assert [entry["task"] for entry in last["entries"]] == ["staging.open"] and last["total"] == 2


def test_diff_names_a_desired_state_the_vm_was_not_sent(sandbox: Sandbox) -> None:
    gate = sandbox.root / "manifests" / "beta_gate.json"
    saved = gate.read_bytes()
    document = json.loads(saved)
    document["enabled"] = False
    gate.write_text(json.dumps(document, indent=2) + "\n")
    try:
        done = sandbox.inv("diff", check=False)
        assert done.returncode == 1
        assert _error_line(done) == "error: different: bundle (run ./inv sync to send manifests/)"
        assert "differs" in done.stdout and "gate closed" in done.stdout
    finally:
        gate.write_bytes(saved)
    sandbox.inv("diff")


def test_diff_names_the_field_a_hand_edit_changed_on_the_vm(sandbox: Sandbox) -> None:
    paths = sandbox_paths(sandbox.target)
    beta = RuntimeLayout(root=paths.vm_root).beta_manifest
    stop(paths.run_dir / "reconciler.pid")  # the daemon would heal the edit before diff sees it
    saved = beta.read_bytes()
    try:
        edited = json.loads(saved)
        edited["artifact"]["url"] = "https://example.com/other.dmg"
        beta.write_text(json.dumps(edited, indent=2) + "\n")
        done = sandbox.inv("diff", "--json", check=False)
        assert done.returncode == 1
        plan = one_json(done.stdout)["plan"]
        assert plan["resources"]["beta"]["state"] == "drifted"
        assert "artifact.url='https://example.com/other.dmg'" in plan["resources"]["beta"]["found"]
        assert plan["resources"]["beta"]["files"] == [str(beta)]
        assert _error_line(done) == "error: different: beta"
        assert beta.read_text() == json.dumps(edited, indent=2) + "\n"  # diff wrote nothing
    finally:
        beta.write_bytes(saved)
        up(sandbox.target)
    sandbox.inv("diff")


def test_history_names_a_line_that_is_not_an_entry(sandbox: Sandbox) -> None:
    journal = sandbox.root / "manifests" / "release_log.jsonl"
    saved = journal.read_bytes()
    journal.write_bytes(saved + b'{"at": "yesterday"}\n')
    try:
        done = sandbox.inv("history", check=False)
        assert done.returncode == 2
        assert _error_line(done).startswith(f"error: the journal {journal}, line 3: not a journal entry (")
    finally:
        journal.write_bytes(saved)


def test_diff_on_a_sandbox_never_started_says_how_to_start_it(sandbox_target: tuple[Target, Path]) -> None:
    _, target_file = sandbox_target
    done = run_inv("diff", "--target", str(target_file))
    assert done.returncode == 1
    line = _error_line(done)
    assert line.startswith("error: reconciler diff failed (exit 2): ")
    assert line.endswith("(is the sandbox up? ./inv sandbox.up starts it)")
    assert done.stdout == ""
