"""Fixtures for the production backends: the fake GitHub and Azure on loopback, and targets for them."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from release.outside.remote._staging import MAX_PARTS
from release.outside.remote.azure import AzureRemote
from release.outside.store.github import GithubStore
from schemas import Target
from tests.conftest import Sandbox
from tests.fakes.azure import FakeAzure, FakeCredential, running_azure
from tests.fakes.github import FakeGithub, running_github
from tests.fakes.production import TAGS, running_fakes

ASSETS = "acme/Nexy_assets"
CODE = "acme/Nexy"


def target_document(
    root: Path, github_url: str, arm_url: str = "https://127.0.0.1:1", **remote: Any
) -> dict[str, Any]:
    """A target whose store is the fake GitHub and whose remote is the fake ARM endpoint."""
    download = github_url + "/{repo}/releases/download/{tag}/{name}"
    return {
        "name": "fake-production",
        "root": str(root),
        "release_target": {
            "version": "2.0.0.15",
            "azure": {"resource_group": "NexyNewRG", "vm_name": "NexyNew"},
            "server": {"host": "127.0.0.1"},
            "grpc": {"endpoint": "127.0.0.1:8443", "tls": True},
            "update": {
                "dmg_url": download.format(repo=ASSETS, tag="Update", name="Nexy.dmg"),
                "pkg_url": download.format(repo=ASSETS, tag="App", name="Nexy.pkg"),
            },
        },
        "repositories": {"code": CODE, "assets": ASSETS},
        "channels": {
            "stable": {"dmg_tag": "Update", "pkg_tag": "App"},
            "beta": {"dmg_tag": "UpdateBeta", "pkg_tag": "AppBeta"},
        },
        "endpoints": {
            "production": {"url": "https://127.0.0.1:8443", "secure": True},
            "staging": {"url": "https://127.0.0.1:4443", "secure": True},
        },
        "store": {"kind": "github", "api_url": github_url, "download_url": download, "timeout_s": 10},
        "remote": {"kind": "azure", "arm_url": arm_url, "deadline_s": 60, **remote},
    }


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGithub]:
    blobs = tmp_path / "github-blobs"
    blobs.mkdir()
    fake = FakeGithub(root=blobs, owner_repo=ASSETS)
    for tag in TAGS:
        fake.add_release(tag)
    with running_github(fake):
        yield fake


@pytest.fixture
def fakes(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[FakeGithub, FakeAzure]]:
    """Both fakes wired to the module's sandbox (its VM tree, its assets repository)."""
    with running_fakes(sandbox.target, tmp_path / "fakes") as both:
        yield both


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def notices() -> list[str]:
    return []


@pytest.fixture
def make_store(
    tmp_path: Path, github: FakeGithub, sleeps: list[float], notices: list[str]
) -> Callable[..., GithubStore]:
    """A store on the fake GitHub whose backoff sleeps are recorded instead of slept: they advance a
    virtual clock, so a wait of minutes and the deadline it runs into take no time. The wait lines a
    person would see are recorded in ``notices``."""
    virtual = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        virtual[0] += seconds

    def make(token: str | None = "fake-token", pace_writes: bool = False, **overrides: Any) -> GithubStore:  # noqa: S107
        document = target_document(tmp_path, github.base_url)
        document["store"].update(overrides)
        return GithubStore(
            Target.model_validate(document),
            token=token,
            environ={},
            sleep=sleep,
            monotonic=lambda: virtual[0],
            notice=notices.append,
            pace_writes=pace_writes,
        )

    return make


@pytest.fixture
def artifact(tmp_path: Path) -> Callable[[str, bytes], tuple[Path, str, int]]:
    def make(name: str, data: bytes) -> tuple[Path, str, int]:
        path = tmp_path / "inbox" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path, hashlib.sha256(data).hexdigest(), len(data)

    return make


FIXTURE_VM = Path(__file__).resolve().parents[1] / "fixtures" / "vm"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


def make_vm_tree(root: Path, *, noisy: bool = False) -> tuple[Path, Path]:
    """A VM tree with the rulebook's files, a reconciler config, and the CLI installed at bin/.

    Returns (cli path, config path). ``noisy`` makes the CLI print 10 KB before its answer, so only
    Run Command's 4,096-byte tail comes back.
    """
    (root / "server/updates/manifests").mkdir(parents=True)
    (root / "server/config").mkdir(parents=True)
    shutil.copy(FIXTURE_VM / "unified_config.yaml", root / "server/config/unified_config.yaml")
    shutil.copy(FIXTURE_VM / "config.env", root / "config.env")
    os.chmod(root / "config.env", 0o600)
    config = root / "etc/reconciler.yaml"
    config.parent.mkdir()
    config.write_text(
        "mode: enforce\nlayout:\n  root: ..\ndesired_dir: ../../vm-state/desired\nstate_dir: ../../vm-state\n"
        "resync_seconds: 300\nrequired_env_keys: [GEMINI_API_KEY]\n"
    )
    cli = root / "opt/bin/nexy-reconciler"
    cli.parent.mkdir(parents=True)
    noise = "i=0; while [ $i -lt 200 ]; do echo 'diagnostic line padding the output ...........'; i=$((i+1)); done\n"
    cli.write_text(
        f'#!/bin/sh\n{noise if noisy else ""}exec {shlex.quote(sys.executable)} -m reconciler "$@"\n'
    )
    cli.chmod(0o755)
    return cli, config


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[FakeAzure]:
    fake = FakeAzure(vm_root=tmp_path / "vm")
    fake.vm_root.mkdir()
    with running_azure(fake, tmp_path / "tls"):
        yield fake


@pytest.fixture
def make_remote(tmp_path: Path, azure: FakeAzure, sleeps: list[float]) -> Callable[..., AzureRemote]:
    """An AzureRemote on the fake ARM, with an injected credential and recorded backoff sleeps."""

    def make(
        credential: Any = None,
        *,
        noisy: bool = False,
        environ: dict[str, str] | None = None,
        max_parts: int = MAX_PARTS,
        **remote: Any,
    ) -> AzureRemote:
        remote.setdefault("staging_dir", str(azure.vm_root.parent / "vm-stage"))
        if not (azure.vm_root / "etc").exists():
            cli, config = make_vm_tree(azure.vm_root, noisy=noisy)
            remote.setdefault("reconciler_cli", str(cli))
            remote.setdefault("reconciler_config", str(config))
        else:
            remote.setdefault("reconciler_cli", str(azure.vm_root / "opt/bin/nexy-reconciler"))
            remote.setdefault("reconciler_config", str(azure.vm_root / "etc/reconciler.yaml"))
        document = target_document(tmp_path, "http://127.0.0.1:1", azure.base_url, **remote)
        virtual = [0.0]  # backoff sleeps advance a virtual clock: deadlines pass without waiting

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            virtual[0] += seconds

        return AzureRemote(
            Target.model_validate(document),
            credential=credential or FakeCredential(),
            environ={"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION} if environ is None else environ,
            connection_verify=str(azure.ca_path),
            polling_interval_s=0.1,
            sleep=sleep,
            clock=lambda: virtual[0],
            max_parts=max_parts,
        )

    return make
