"""A whole release through the production backends: publish beta → staging → promote → verify.

The tasks run as a person runs them (``python -m invoke ... --target FILE`` in a subprocess). The
target names ``store: github`` (the fake GitHub) and ``remote: azure`` (the fake ARM), and the fake
ARM runs each Run Command script against the sandbox's VM tree, where the real reconciler daemon and
the real feeds (started by the ``sandbox`` fixture) serve what the release changed. The Azure
credential is azure-identity's ManagedIdentityCredential reading the App Service environment
variables; TLS to the fake ARM is trusted through ``REQUESTS_CA_BUNDLE``, as the SDK documents.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from release.sandbox.layout import sandbox_paths
from tests.conftest import REPO, Sandbox
from tests.fakes.azure import FakeAzure, running_azure
from tests.fakes.github import FakeGithub, running_github

pytestmark = pytest.mark.timeout(600)
VERSION = "2.0.0.15"


@pytest.fixture
def fakes(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[FakeGithub, FakeAzure]]:
    blobs = tmp_path / "github-blobs"
    blobs.mkdir()
    github = FakeGithub(root=blobs, owner_repo=sandbox.target.repositories.assets)
    for tag in ("UpdateBeta", "AppBeta", "Update", "App"):
        github.add_release(tag)
    azure = FakeAzure(vm_root=sandbox_paths(sandbox.target).vm_root, env=dict(os.environ))
    azure.resource_group = sandbox.target.release_target.azure.resource_group
    azure.vm_name = sandbox.target.release_target.azure.vm_name
    with running_github(github), running_azure(azure, tmp_path / "tls"):
        yield github, azure


def _production_target(sandbox: Sandbox, github: FakeGithub, azure: FakeAzure) -> Path:
    raw: Any = YAML(typ="safe").load(sandbox.target_file.read_text(encoding="utf-8"))
    download = github.base_url + "/{repo}/releases/download/{tag}/{name}"
    assets = sandbox.target.repositories.assets
    raw["name"] = "fake-production"
    raw["store"] = {"kind": "github", "api_url": github.base_url, "download_url": download, "timeout_s": 30}
    raw["release_target"]["update"] = {
        "dmg_url": download.format(repo=assets, tag="Update", name="Nexy.dmg"),
        "pkg_url": download.format(repo=assets, tag="App", name="Nexy.pkg"),
    }
    raw["remote"] = {
        "kind": "azure",
        "arm_url": azure.base_url,
        "credential": "managed_identity",
        "reconciler_cli": f"{sys.executable} -m reconciler",
        "reconciler_config": str(sandbox_paths(sandbox.target).reconciler_config),
        "deadline_s": 120,
    }
    path = sandbox.root / "fake-production.yaml"
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(raw, handle)
    return path


def _inv(sandbox: Sandbox, target: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "invoke", "-r", str(REPO), *args, "--target", str(target)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, cwd=sandbox.root, env=env, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"inv {' '.join(args)} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done


def test_release_through_github_and_run_command(
    sandbox: Sandbox, fakes: tuple[FakeGithub, FakeAzure]
) -> None:
    github, azure = fakes
    target = _production_target(sandbox, github, azure)
    env = {
        **os.environ,
        "GITHUB_TOKEN": github.token,
        "AZURE_SUBSCRIPTION_ID": azure.subscription,
        "IDENTITY_ENDPOINT": f"{azure.base_url}/msi/token",
        "IDENTITY_HEADER": azure.identity_header,
        "REQUESTS_CA_BUNDLE": str(azure.ca_path),
    }
    inbox = sandbox.root / "release_inbox" / "beta"
    dmg, pkg = os.urandom(3 << 20), os.urandom(2 << 20)
    (inbox / "Nexy.dmg").write_bytes(dmg)
    (inbox / "Nexy.pkg").write_bytes(pkg)
    (inbox / "LATEST_CHANGES.md").write_text(f"# Nexy {VERSION}\n\n- Faster wake word.\n")

    _inv(sandbox, target, env, "bump", VERSION)
    posts = azure.posts
    _inv(sandbox, target, env, "publish", "--channel", "beta")
    assert azure.posts - posts == 1  # publish makes exactly one Run Command call
    beta = github.assets("UpdateBeta")["Nexy.dmg"]
    assert beta.sha256 == hashlib.sha256(dmg).hexdigest()
    assert github.assets("AppBeta")["Nexy.pkg"].sha256 == hashlib.sha256(pkg).hexdigest()

    _inv(sandbox, target, env, "staging.open", "--reason", "e2e beta window")
    _inv(sandbox, target, env, "staging.validate")
    _inv(sandbox, target, env, "promote")
    _inv(sandbox, target, env, "verify")

    stable = github.assets("Update")
    assert stable["Nexy.dmg"].sha256 == hashlib.sha256(dmg).hexdigest()
    assert github.assets("App")["Nexy.pkg"].sha256 == hashlib.sha256(pkg).hexdigest()
    for tag in ("UpdateBeta", "AppBeta", "Update", "App"):
        assert not [name for name in github.assets(tag) if name.endswith(".nexy-upload")]
    assert not [p for m, p in github.requests if m == "POST" and not p.startswith("/uploads/")]
    runtime = sandbox_paths(sandbox.target).vm_root / "server/updates/manifests"
    assert (runtime / "manifest.json").read_bytes() == (runtime / f"manifest_{VERSION}.json").read_bytes()
    assert github.base_url in (runtime / "manifest.json").read_text()
