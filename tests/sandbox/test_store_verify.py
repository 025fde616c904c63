"""LocalStore.verify fetches the public URL from the sandbox staging feed over TLS and hashes it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from release.errors import ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.outside.store.local import LocalStore
from release.sandbox.tls import ssl_context
from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(120)


def _publish(box: Sandbox, tmp_path: Path, tag: str, data: bytes) -> tuple[LocalStore, str, int]:
    store = LocalStore(box.target, verify_attempts=3, verify_wait_s=0.05)
    source = tmp_path / "artifact"
    source.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    store.upload(tag, "Nexy.dmg", source, sha256=digest, size=len(data))
    return store, digest, len(data)


def test_verify_hashes_what_the_public_url_serves(sandbox: Sandbox, tmp_path: Path) -> None:
    store, digest, size = _publish(sandbox, tmp_path, "UpdateBeta", os.urandom(2 << 20))
    assert store.verify("UpdateBeta", "Nexy.dmg", sha256=digest, size=size)
    assert not store.verify("UpdateBeta", "Nexy.dmg", sha256=hashlib.sha256(b"other").hexdigest(), size=size)
    assert not store.verify("UpdateBeta", "Missing.dmg", sha256=digest, size=size)  # 404 after retries


def test_verify_waits_out_stale_bytes(sandbox: Sandbox, tmp_path: Path) -> None:
    fresh = os.urandom(1 << 20)
    store, digest, size = _publish(sandbox, tmp_path, "Update", b"stale bytes the CDN still serves")
    asset = sandbox_paths(sandbox.target).store_root / "Update" / "Nexy.dmg"
    answers: list[int] = []

    def fresh_after_first_answer(response: httpx.Response) -> None:
        answers.append(response.status_code)
        if len(answers) == 1:
            tmp = asset.with_name(".fresh")
            tmp.write_bytes(fresh)
            tmp.replace(asset)

    hooks = {"response": [fresh_after_first_answer]}
    ca = ssl_context(sandbox_paths(sandbox.target).ca_bundle)
    with httpx.Client(verify=ca, event_hooks=hooks, timeout=10) as client:
        patient = LocalStore(sandbox.target, client=client, verify_attempts=4, verify_wait_s=0.05)
        assert patient.verify("Update", "Nexy.dmg", sha256=hashlib.sha256(fresh).hexdigest(), size=len(fresh))
    assert len(answers) == 2, "the first (stale) answer was retried exactly once"
    assert not store.verify("Update", "Nexy.dmg", sha256=digest, size=size)


def test_verify_refuses_a_server_its_ca_bundle_does_not_vouch_for(sandbox: Sandbox, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    _, digest, size = _publish(sandbox, tmp_path, "AppBeta", b"bytes")
    stranger = sandbox.target.model_copy(update={"ca_bundle": str(other_ca)})
    with pytest.raises(ReleaseError, match="cannot fetch") as caught:
        LocalStore(stranger, verify_attempts=2, verify_wait_s=0.01).verify(
            "AppBeta", "Nexy.dmg", sha256=digest, size=size
        )
    assert caught.value.code == 1
