"""``vm.install`` through the fake ARM server: the artifact staged in parts, the script run by the
fake's ``/bin/sh`` as Run Command runs it, and its RESULT line read back.

The install goes into an image tree (``root``), so nothing of this machine's /opt or /etc is touched
and the systemd steps answer ``skip (image tree)``; the dependencies come from this venv (no index).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from release.outside.remote._staging import SAFE_SCRIPT_BYTES
from release.outside.remote.azure import AzureRemote
from release.parts.session import Session
from release.steps.vm import vm_install
from schemas import Target
from tests.conftest import REPO
from tests.fakes.azure import FakeAzure, FakeCredential
from tests.production.conftest import SUBSCRIPTION, target_document

pytestmark = pytest.mark.timeout(600)


def _session(tmp_path: Path, azure: FakeAzure) -> Session:
    document = target_document(
        tmp_path,
        "http://127.0.0.1:1",
        azure.base_url,
        staging_dir=str(tmp_path / "vm-stage"),
        reconciler_cli="/opt/nexy-release/.venv/bin/nexy-reconciler",
        reconciler_config="/etc/nexy-reconciler/config.yaml",
    )
    target = Target.model_validate(document)
    remote = AzureRemote(
        target,
        credential=FakeCredential(),
        environ={"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION},
        connection_verify=str(azure.ca_path),
        polling_interval_s=0.1,
    )
    return Session(target, "vm.install", json=True, _remote=remote)


def test_install_is_staged_sent_and_answered(tmp_path: Path, azure: FakeAzure) -> None:
    image = tmp_path / "image"
    deps = f"link:{sysconfig.get_path('purelib')}"
    report = vm_install(_session(tmp_path, azure), mode="install", source=REPO, root=str(image), deps=deps)

    assert report["ok"] is True
    assert report["action"] == "installed"
    assert report["steps"]["user"] == "skip (image tree)"
    stages = [script for script in azure.scripts if "nexy-release: stage part" in script]
    installs = [script for script in azure.scripts if "nexy-release: vm.install" in script]
    assert len(stages) >= 2 and len(installs) == 1
    assert max(azure.script_sizes) <= SAFE_SCRIPT_BYTES
    opt = image / "opt" / "nexy-release"
    assert (opt / "current").readlink() == Path(str(report["build"]))
    config = image / "etc" / "nexy-reconciler" / "config.yaml"
    assert "https://127.0.0.1:8443" in config.read_text()
    assert not (image / "etc" / "nexy-reconciler" / "env").exists(), "the secrets file is made only as root"
    assert "GEMINI_API_KEY=" not in "".join(azure.scripts)

    again = vm_install(_session(tmp_path, azure), mode="install", source=REPO, root=str(image), deps=deps)
    assert (again["ok"], again["action"]) == (True, "skip")
