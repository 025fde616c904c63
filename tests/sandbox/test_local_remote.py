"""LocalRemote drives the real reconciler CLI; every call is counted in remote_calls.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.outside.remote.local import LocalRemote
from release.outside.sandbox_layout import sandbox_paths
from release.sandbox.procs import read_pid_file
from schemas import BetaGate, Bundle, PlanDocument, utcnow
from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(180)


def test_status_is_one_call_naming_env_keys_only(sandbox: Sandbox) -> None:
    remote = LocalRemote(sandbox.target)
    before = len(sandbox.remote_calls())
    status = remote.status()
    calls = sandbox.remote_calls()
    assert len(calls) == before + 1
    assert calls[-1]["method"] == "status"
    reconciler = read_pid_file(sandbox_paths(sandbox.target).run_dir / "reconciler.pid")
    assert reconciler is not None
    assert status.pid == reconciler.pid
    assert status.env_keys == {"GEMINI_API_KEY": True}
    assert "placeholder" not in status.model_dump_json()


def test_accept_opens_the_gate_runs_the_staging_action_and_converges(sandbox: Sandbox) -> None:
    remote = LocalRemote(sandbox.target)
    paths = sandbox_paths(sandbox.target)
    before = len(sandbox.remote_calls())
    bundle = Bundle(gate=BetaGate(enabled=True, updated_at=utcnow(), reason="sandbox test"))
    result = remote.accept(bundle, wait_s=60)
    assert result.ok, result
    assert result.desired_digest == bundle.digest()
    assert result.converged is True
    assert [call["method"] for call in sandbox.remote_calls()[before:]] == ["accept"]
    assert "UPDATE_BETA_ENABLED=true" in (paths.vm_root / "config.env").read_text().splitlines()
    staging = read_pid_file(paths.run_dir / "staging-feed.pid")
    assert staging is not None
    actions = [json.loads(line) for line in paths.actions_log.read_text().splitlines()]
    assert actions[-1]["signalled"] == staging.pid, "the gate action reloads the running staging feed"
    assert remote.status().gate is True
    plan = remote.diff()
    assert isinstance(plan, PlanDocument) and plan.resources["gate"].state == "in_sync"
    assert [call["method"] for call in sandbox.remote_calls()[before:]] == ["accept", "status", "diff"]


def test_a_failing_reconciler_is_one_line_naming_its_last_stderr_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    broken = sandbox.target.model_copy(
        update={
            "remote": sandbox.target.remote.model_copy(
                update={"reconciler_config": str(tmp_path / "nope.yaml")}
            )
        }
    )
    remote = LocalRemote(broken, calls_log=tmp_path / "calls.jsonl")
    with pytest.raises(ReleaseError, match=r"reconciler status failed \(exit 2\): .*nope\.yaml") as caught:
        remote.status()
    assert caught.value.code == 1
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 1


def test_a_missing_python_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    remote = LocalRemote(sandbox.target, python=[str(tmp_path / "no-python")], calls_log=tmp_path / "c.jsonl")
    with pytest.raises(ReleaseError, match="cannot run the reconciler"):
        remote.diff()
