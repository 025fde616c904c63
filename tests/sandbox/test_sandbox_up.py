"""The running sandbox: idempotent up, the status document, the seeded trees, TLS for real."""

from __future__ import annotations

import json
import ssl
import stat

import httpx
import pytest

from release.errors import ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import up
from release.sandbox.tls import ssl_context
from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(180)


def _pids(box: Sandbox) -> dict[str, int]:
    document = json.loads(box.inv("sandbox.status", "--json").stdout)
    return {name: process["pid"] for name, process in document["processes"].items()}


def test_status_json_names_every_process_its_url_and_that_it_is_alive(sandbox: Sandbox) -> None:
    document = json.loads(sandbox.inv("sandbox.status", "--json").stdout)
    assert set(document["processes"]) == {
        "reconciler",
        "production-feed",
        "staging-feed",
        "production-grpc",
        "staging-grpc",
    }
    assert document["all_alive"] is True
    processes = document["processes"]
    assert processes["production-feed"]["url"] == str(sandbox.target.endpoints.production.url).rstrip("/")
    assert processes["staging-feed"]["url"] == str(sandbox.target.endpoints.staging.url).rstrip("/")
    assert processes["reconciler"]["url"] is None
    grpc = sandbox.target.grpc
    assert grpc is not None
    assert processes["production-grpc"]["url"] == grpc.production.endpoint
    assert processes["staging-grpc"]["url"] == grpc.staging.endpoint
    for process in processes.values():
        assert process["alive"] is True
        assert isinstance(process["pid"], int)
        assert process["log"].startswith(str(sandbox.dir))
    assert document["ca_bundle"] == str(sandbox_paths(sandbox.target).ca_bundle)


def test_a_second_up_starts_nothing_and_remakes_nothing(sandbox: Sandbox) -> None:
    paths = sandbox_paths(sandbox.target)
    before = _pids(sandbox)
    ca = paths.ca_bundle.read_bytes()
    env_file = paths.vm_root / "config.env"
    env_before = (env_file.stat().st_ino, env_file.read_bytes())
    assert up(sandbox.target) == dict.fromkeys(before, "already running")
    again = sandbox.inv("sandbox.up")
    assert again.stdout.count("already running") == 5
    assert _pids(sandbox) == before
    assert paths.ca_bundle.read_bytes() == ca
    assert (env_file.stat().st_ino, env_file.read_bytes()) == env_before


def test_the_vm_tree_and_workspace_are_seeded_like_production(sandbox: Sandbox) -> None:
    paths = sandbox_paths(sandbox.target)
    env_file = paths.vm_root / "config.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lines = env_file.read_text().splitlines()
    assert "UPDATE_BETA_ENABLED=false" in lines
    assert any(line.startswith("GEMINI_API_KEY=placeholder") for line in lines)
    assert 'default_version: "2.0.0.14"' in (paths.vm_root / "server/config/unified_config.yaml").read_text()
    assert (paths.vm_root / "server/updates/manifests").is_dir()
    for tag in ("Update", "App", "UpdateBeta", "AppBeta"):
        assert (paths.store_root / tag).is_dir()
    # The seeded workspace matches every version file the target lists: bump can plan all of them.
    diff = sandbox.inv("bump", "2.0.0.15", "--dry-run").stdout
    for name in ("VERSION", "docs/RELEASE.md", "client/Info.plist", "client/pyproject.toml"):
        assert name in diff
    assert (paths.workspace / "VERSION").read_text().strip() == "2.0.0.14"


@pytest.mark.parametrize("endpoint", ["production", "staging"])
def test_the_feeds_speak_tls_that_only_the_sandbox_ca_vouches_for(sandbox: Sandbox, endpoint: str) -> None:
    url = str(getattr(sandbox.target.endpoints, endpoint).url).rstrip("/")
    trusted = ssl_context(sandbox_paths(sandbox.target).ca_bundle)
    with httpx.Client(verify=trusted, timeout=10) as client:
        assert client.get(f"{url}/health").status_code == 200
    with pytest.raises(httpx.HTTPError), httpx.Client(timeout=10) as client:
        client.get(url.replace("https://", "http://") + "/health")
    with pytest.raises(httpx.ConnectError) as caught, httpx.Client(timeout=10) as client:
        client.get(f"{url}/health")  # the public roots do not know our CA
    assert isinstance(
        caught.value.__context__, ssl.SSLCertVerificationError
    ) or "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_up_for_a_target_whose_ports_changed_says_to_restart(sandbox: Sandbox) -> None:
    moved = sandbox.target.model_copy(
        update={
            "endpoints": sandbox.target.endpoints.model_copy(
                update={"staging": sandbox.target.endpoints.production}
            )
        }
    )
    config = sandbox_paths(sandbox.target).reconciler_config.read_bytes()
    with pytest.raises(ReleaseError, match=r"runs with other arguments .* sandbox\.down"):
        up(moved)
    assert sandbox_paths(sandbox.target).reconciler_config.read_bytes() == config, (
        "refused, so nothing written"
    )
    assert json.loads(sandbox.inv("sandbox.status", "--json").stdout)["all_alive"] is True
