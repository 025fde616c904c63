"""``diff`` and ``doctor`` against the production fakes: the real Azure SDK's Run Command carries the
reconciler's own ``diff`` (one call), and the doctor says where each credential is read from
without ever printing one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Sandbox
from tests.fakes.azure import FakeAzure
from tests.fakes.github import FakeGithub
from tests.fakes.production import production_target, task_env
from tests.production.kit import inv
from tests.release.helpers import one_json

pytestmark = pytest.mark.timeout(300)
Fakes = tuple[FakeGithub, FakeAzure]


def _target(sandbox: Sandbox, fakes: Fakes) -> Path:
    github, azure = fakes
    return production_target(sandbox.target_file, sandbox.target, github, azure, sandbox.root / "fakes.yaml")


def test_diff_is_one_run_command(sandbox: Sandbox, fakes: Fakes) -> None:
    github, azure = fakes
    done = inv(_target(sandbox, fakes), task_env(github, azure), "diff", "--json")
    document = one_json(done.stdout)
    assert document["different"] is False and document["bundle"]["same"] is True
    assert set(document["plan"]["resources"]) == {"stable", "legacy", "beta", "config_version", "gate"}
    assert azure.posts == 1 and github.requests == []


def test_diff_with_the_vm_unreachable_is_one_line(sandbox: Sandbox, fakes: Fakes) -> None:
    github, azure = fakes
    done = inv(
        _target(sandbox, fakes), task_env(github, azure, AZURE_SUBSCRIPTION_ID=None), "diff", check=False
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: no Azure subscription: set $AZURE_SUBSCRIPTION_ID"


def test_doctor_says_set_or_missing_and_where_never_the_value(sandbox: Sandbox, fakes: Fakes) -> None:
    github, azure = fakes
    target = _target(sandbox, fakes)
    done = inv(target, task_env(github, azure), "doctor", "--json")
    rows = {row["name"]: row for row in one_json(done.stdout)["rows"]}
    assert rows["store credential"]["found"] == "GitHub token set (read from $GITHUB_TOKEN)"
    assert rows["Azure subscription"]["found"] == "set (read from $AZURE_SUBSCRIPTION_ID)"
    assert rows["Azure credential (managed_identity)"]["found"] == "managed identity: $IDENTITY_ENDPOINT set"
    assert rows["GitHub API"]["ok"] and rows["Azure ARM"]["ok"]
    assert not any(name.startswith("port ") for name in rows)  # ports are the sandbox's question
    shown = done.stdout + done.stderr + inv(target, task_env(github, azure), "doctor").stdout
    assert github.token not in shown and azure.subscription not in shown
    missing = inv(target, task_env(github, azure, GITHUB_TOKEN=None), "doctor", "--json", check=False)
    assert missing.returncode == 1
    row = {row["name"]: row for row in json.loads(missing.stdout)["rows"]}["store credential"]
    assert row["ok"] is False and row["found"] == "GitHub token missing ($GITHUB_TOKEN)"
    assert row["fix"].startswith("no GitHub token: set $GITHUB_TOKEN")
    assert missing.stderr.strip() == "error: doctor: store credential failed (see the fix column)"
    assert github.requests == [] and azure.posts == 0
