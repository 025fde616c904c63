"""The target files load, and a broken target is one line naming the field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.parts.target import load_target
from schemas import Target
from tests.conftest import run_inv

REPO = Path(__file__).resolve().parents[2]


def test_production_is_the_rulebook_block() -> None:
    target = load_target("production", REPO)
    block = target.release_target
    assert (block.azure.resource_group, block.azure.vm_name) == ("NexyNewRG", "NexyNew")
    assert block.server.host == "nexy-prod-sergiy.canadacentral.cloudapp.azure.com"
    assert block.grpc.endpoint == "nexy-prod-sergiy.canadacentral.cloudapp.azure.com:443"
    assert block.grpc.tls is True
    assert str(block.update.dmg_url).endswith("Seregawpn/Nexy_production/releases/download/Update/Nexy.dmg")
    assert str(block.update.pkg_url).endswith("Seregawpn/Nexy_production/releases/download/App/Nexy.pkg")
    assert (target.repositories.code, target.repositories.assets) == (
        "Seregawpn/Nexy",
        "Seregawpn/Nexy_production",
    )
    assert (target.channels.stable.dmg_tag, target.channels.stable.pkg_tag) == ("Update", "App")
    assert (target.channels.beta.dmg_tag, target.channels.beta.pkg_tag) == ("UpdateBeta", "AppBeta")
    assert target.store.kind == "github" and target.remote.kind == "azure"
    assert target.endpoints.staging.secure and str(target.endpoints.staging.url).endswith(":4443/")


def test_sandbox_is_loopback_and_default() -> None:
    target = load_target("sandbox", REPO)
    assert target.store.kind == "local" and target.remote.kind == "local"
    for endpoint in (target.endpoints.production, target.endpoints.staging):
        assert endpoint.url.host == "127.0.0.1" and endpoint.secure
    assert target.path(target.workspace) == REPO / ".sandbox" / "app"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('version: "2.0.0.15"', 'version: "2.0.15"', "release_target.version"),
        ('code: "Seregawpn/Nexy"', 'code: "Seregawpn/Nexy_production"', "repositories"),
        ('dmg_tag: "UpdateBeta"', 'dmg_tag: "Update"', "channels"),
        ("releases/download/Update/Nexy.dmg", "releases/download/UpdateBeta/Nexy.dmg", "dmg_url"),
        ("kind: github", "kind: gitlab", "store"),
        ("tls: true", "tls: perhaps", "grpc.tls"),
    ],
)
def test_broken_target_names_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    text = (REPO / "targets" / "production.yaml").read_text()
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ReleaseError) as info:
        load_target(str(path), REPO)
    message = str(info.value)
    assert field in message and "\n" not in message and info.value.code == 2


def test_missing_and_malformed_target(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="does not exist"):
        load_target("nowhere", REPO)
    with pytest.raises(ReleaseError, match="not valid YAML"):
        load_target(str(_write(tmp_path, "name: [unclosed\n")), REPO)


@pytest.mark.parametrize(
    "task",
    [
        ["bump", "2.0.0.16"],
        ["preflight"],
        ["publish", "--channel", "beta"],
        ["promote"],
        ["verify"],
        ["status"],
        ["sync"],
        ["staging.open"],
        ["sandbox.up"],
    ],
)
def test_every_task_stops_on_a_broken_target(tmp_path: Path, task: list[str]) -> None:
    text = (REPO / "targets" / "sandbox.yaml").read_text().replace("tls: true", "tls: perhaps", 1)
    path = _write(tmp_path, text)
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_inv(*task, "--target", str(path), timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "release_target.grpc.tls" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_production_is_never_a_default(tmp_path: Path) -> None:
    done = run_inv("status", env={**os.environ, "INVOKE_NEXY_TARGET": "production"}, timeout=60)
    assert done.returncode == 2
    assert "must be named explicitly: pass --target production" in done.stderr


def test_grpc_endpoints_state_tls_for_each_port() -> None:
    target = load_target("production", REPO)
    assert target.grpc is not None
    production, staging = target.grpc.production, target.grpc.staging
    assert (production.endpoint, production.tls) == (
        target.release_target.grpc.endpoint,
        target.release_target.grpc.tls,
    )
    assert staging.endpoint.endswith(":4443") and staging.tls is True
    assert (target.grpc.service, target.grpc.deadline_s) == ("", 5.0)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            'staging: { endpoint: "nexy-prod-sergiy.canadacentral.cloudapp.azure.com:4443", tls: true }',
            'staging: { endpoint: "nexy-prod-sergiy.canadacentral.cloudapp.azure.com:4443" }',
            "grpc.staging.tls",
        ),
        (
            'production: { endpoint: "nexy-prod-sergiy.canadacentral.cloudapp.azure.com:443", tls: true }',
            'production: { endpoint: "nexy-prod-sergiy.canadacentral.cloudapp.azure.com:443", tls: false }',
            "is not release_target.grpc",
        ),
        ("deadline_s: 5", "deadline_s: 0", "grpc.deadline_s"),
    ],
)
def test_a_broken_grpc_block_names_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    text = (REPO / "targets" / "production.yaml").read_text()
    assert old in text
    with pytest.raises(ReleaseError) as info:
        load_target(str(_write(tmp_path, text.replace(old, new, 1))), REPO)
    assert field in str(info.value) and "\n" not in str(info.value) and info.value.code == 2


def test_every_target_file_names_the_exported_schema_for_editors() -> None:
    """The first line tells the YAML language server (VS Code's YAML extension and others) which
    JSON Schema to complete and check the file against: the one ``./inv schemas`` exports."""
    from ruamel.yaml import YAML

    from tasks.jsonschemas import DOCUMENTS, JSON_DIR

    exported = JSON_DIR / "target.schema.json"
    assert DOCUMENTS["target"] is Target and exported.is_file()
    properties = json.loads(exported.read_text(encoding="utf-8"))["properties"]
    files = sorted((REPO / "targets").glob("*.yaml"))
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/json/target.schema.json", path
        assert (path.parent / first.split("$schema=", 1)[1]).resolve() == exported
        assert set(YAML(typ="safe").load(path.read_text(encoding="utf-8"))) <= set(properties), path
        assert load_target(str(path), REPO).name == path.stem  # the comment changes nothing for the loader


@pytest.mark.parametrize(
    ("api_url", "refused"),
    [
        ("https://api.github.com", True),
        ("https://127.0.0.1:8443", False),
        ("https://[::1]:8443", False),
        ("https://localhost:8443", False),
        ("https://127.0.0.2:8443", False),
        ("https://10.0.0.1:8443", True),
    ],
)
def test_only_a_loopback_github_may_go_unpaced(tmp_path: Path, api_url: str, refused: bool) -> None:
    """Unpaced requests can trip GitHub's secondary rate limits: only the tests' loopback fake may."""
    text = (REPO / "targets" / "production.yaml").read_text()
    old = '  api_url: "https://api.github.com"\n'
    assert old in text
    path = _write(tmp_path, text.replace(old, f'  api_url: "{api_url}"\n  pace_requests: false\n', 1))
    if not refused:
        store = load_target(str(path), REPO).store
        assert store.kind == "github" and store.pace_requests is False
        return
    with pytest.raises(ReleaseError) as info:
        load_target(str(path), REPO)
    message = str(info.value)
    host = api_url.split("//", 1)[1].split(":", 1)[0]
    assert f"store.pace_requests false needs an api_url on loopback, not {host}" in message
    assert "\n" not in message and info.value.code == 2
