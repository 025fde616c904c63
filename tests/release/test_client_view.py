"""verify and staging.validate judge a feed by the item Sparkle offers, not by its first item.

A real sandbox: a beta release is published and the gate opened; then the VM is made to serve a
beta feed whose first item is still the release (2.0.0.16) but requires macOS 99, next to a stable
item (2.0.0.15) that clients on the oldest macOS the feed serves can install. A Sparkle client is
offered 2.0.0.15, so both tasks must fail, naming it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.parts.session import ssl_context
from release.sandbox import up
from release.sandbox.procs import stop
from schemas import Channel, Manifest, RuntimeLayout, atomic_write, compute_fingerprint, parse_appcast
from schemas.version import compare_versions

from .helpers import make_artifacts, one_json, poll

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
SEED, OTHER, RELEASE = "2.0.0.14", "2.0.0.15", "2.0.0.16"
OFFERED = f"a client older than every release (on macOS 13.0) is offered {OTHER} build {OTHER}, not {RELEASE} build {RELEASE}"


def _row(done: Any, name: str) -> dict[str, Any]:
    rows = {row["name"]: row for row in one_json(done.stdout)["checks"]}
    row: dict[str, Any] = rows[name]
    return row


def _served_beta_versions(sandbox: Any) -> list[str]:
    url = str(sandbox.target.endpoints.staging.url).rstrip("/") + "/updates/appcast-beta.xml"
    with httpx.Client(verify=ssl_context(sandbox.target)) as client:
        response = client.get(url)
    response.raise_for_status()
    return [item.version for item in parse_appcast(response.content, feed_url=url)]


def test_a_feed_whose_first_item_is_the_release_but_whose_offer_is_another_fails(sandbox: Any) -> None:
    sandbox.inv("bump", RELEASE)
    make_artifacts(sandbox.root, MB, MB, f"# Nexy {RELEASE}\n\n- faster\n")
    sandbox.inv("publish", "--channel", "beta")
    sandbox.inv("staging.open")
    # Before: the client (no earlier release, the feed's oldest macOS) is offered the release.
    passing = sandbox.inv("verify", "--channel", "beta", "--json", check=False)
    appcast = _row(passing, "appcast")
    assert appcast["ok"] is True, appcast
    assert (
        f"a client older than every release (on macOS 13.0) is offered {RELEASE} build {RELEASE}"
        in appcast["detail"]
    )

    paths = sandbox_paths(sandbox.target)
    runtime = RuntimeLayout(root=paths.vm_root)
    stop(paths.run_dir / "reconciler.pid")  # the hand edits below must stay put
    try:
        beta = json.loads(runtime.beta_manifest.read_bytes())
        atomic_write(runtime.beta_manifest, json.dumps(beta | {"minimum_system_version": "99.0"}).encode())
        older = Manifest.model_validate(beta).model_copy(
            update={
                "version": OTHER,
                "build": OTHER,
                "channel": Channel.STABLE,
                "fingerprint": compute_fingerprint(
                    OTHER, OTHER, beta["artifact"]["sha256"], beta["installer"]["sha256"]
                ),
            }
        )
        Manifest.model_validate(older.model_dump())  # still a valid manifest
        atomic_write(runtime.versioned_manifest(OTHER), older.model_dump_json().encode())
        config = runtime.unified_config_path.read_bytes()
        assert config.count(SEED.encode()) == 2  # default_version and default_build
        atomic_write(runtime.unified_config_path, config.replace(SEED.encode(), OTHER.encode()))

        def served() -> bool:
            return _served_beta_versions(sandbox) == [RELEASE, OTHER]

        poll(served, 30, "the staging feed serving the edited files")
        # The feed's first item is the release: a first-item check would pass.
        assert compare_versions(_served_beta_versions(sandbox)[0], RELEASE) == 0

        failing = sandbox.inv("verify", "--channel", "beta", "--json", check=False)
        assert failing.returncode == 1
        appcast = _row(failing, "appcast")
        assert appcast["ok"] is False and appcast["detail"] == f"appcast-beta.xml: {OFFERED}"
        assert "appcast" in failing.stderr

        validated = sandbox.inv("staging.validate", "--json", check=False)
        assert validated.returncode == 1
        row = _row(validated, "beta appcast")
        assert row["ok"] is False and row["detail"] == OFFERED
        assert "beta appcast" in validated.stderr.strip().splitlines()[-1]
    finally:
        up(sandbox.target)
