"""Production-shaped targets on loopback: a sandbox whose store is the fake GitHub and whose VM is
reached through the fake Azure Run Command, for tasks run as a person runs them (``--target FILE``).

Rules:
- The sandbox (``release.sandbox.up``) provides what production has besides GitHub and Azure: the
  real reconciler daemon, the real TLS feeds and the VM tree. The fake ARM runs each Run Command
  script against that same VM tree, so the real reconciler CLI answers.
- The Azure credential is azure-identity's ``ManagedIdentityCredential`` reading the App Service
  variables (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``) the fake serves; TLS to the fake ARM is trusted
  through ``REQUESTS_CA_BUNDLE``, as the SDK documents. ``task_env`` builds that environment.
- Used by the production tests and by ``bench/publish.py``, so both measure the same thing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from release.outside.sandbox_layout import sandbox_paths
from schemas import Target

from .azure import FakeAzure, running_azure
from .github import FakeGithub, running_github

__all__ = ["TAGS", "production_target", "running_fakes", "task_env"]

TAGS = ("UpdateBeta", "AppBeta", "Update", "App")


@contextmanager
def running_fakes(target: Target, workdir: Path) -> Iterator[tuple[FakeGithub, FakeAzure]]:
    """Both fakes for the sandbox ``target``: its assets repository with the four fixed releases, its VM."""
    blobs = workdir / "github-blobs"
    blobs.mkdir(parents=True)
    github = FakeGithub(root=blobs, owner_repo=target.repositories.assets)
    for tag in TAGS:
        github.add_release(tag)
    azure = FakeAzure(vm_root=sandbox_paths(target).vm_root, env=dict(os.environ))
    azure.resource_group = target.release_target.azure.resource_group
    azure.vm_name = target.release_target.azure.vm_name
    with running_github(github), running_azure(azure, workdir / "tls"):
        yield github, azure


def production_target(
    sandbox_file: Path, sandbox_target: Target, github: FakeGithub, azure: FakeAzure, dest: Path
) -> Path:
    """Write ``dest``: the sandbox target with ``store: github`` and ``remote: azure`` on the fakes."""
    raw: Any = YAML(typ="safe").load(sandbox_file.read_text(encoding="utf-8"))
    download = github.base_url + "/{repo}/releases/download/{tag}/{name}"
    assets = sandbox_target.repositories.assets
    raw["name"] = "fake-production"
    raw["store"] = {"kind": "github", "api_url": github.base_url, "download_url": download, "timeout_s": 30}
    # The fakes answer at once: GitHub's pacing and a VM's 5 s between status looks would only wait.
    raw["store"]["pace_requests"] = False
    raw["release_target"]["update"] = {
        "dmg_url": download.format(repo=assets, tag="Update", name="Nexy.dmg"),
        "pkg_url": download.format(repo=assets, tag="App", name="Nexy.pkg"),
    }
    raw["remote"] = {
        "kind": "azure",
        "arm_url": azure.base_url,
        "credential": "managed_identity",
        "reconciler_cli": f"{sys.executable} -m reconciler",
        "reconciler_config": str(sandbox_paths(sandbox_target).reconciler_config),
        "deadline_s": 120,
        "polling_interval_s": 0.1,
    }
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with dest.open("w", encoding="utf-8") as handle:
        yaml.dump(raw, handle)
    return dest


def task_env(github: FakeGithub, azure: FakeAzure, **overrides: str | None) -> dict[str, str]:
    """This process's environment plus the credentials for both fakes; ``NAME=None`` removes one."""
    env = {
        **os.environ,
        "GITHUB_TOKEN": github.token,
        "AZURE_SUBSCRIPTION_ID": azure.subscription,
        "IDENTITY_ENDPOINT": f"{azure.base_url}/msi/token",
        "IDENTITY_HEADER": azure.identity_header,
        "REQUESTS_CA_BUNDLE": str(azure.ca_path),
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
