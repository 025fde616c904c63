"""Preflight's archive rows through the real ``publish`` on the sandbox: each bad inbox gives one
line per failed row, exit 1 or 2, and nothing is uploaded (the store and manifests unchanged)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from release.outside.sandbox_layout import sandbox_paths
from schemas import Channel

from .helpers import make_artifacts, one_json, snapshot, write_archives

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
V1, V2 = "2.0.0.15", "2.0.0.16"


def calls_of(box: Any) -> list[str]:
    return [call["method"] for call in box.remote_calls()]


def inbox(box: Any) -> Path:
    path: Path = box.root / "release_inbox" / "beta"
    return path


def refused(box: Any, *args: str, code: int = 1) -> dict[str, str]:
    """Run publish expecting a refusal that changes nothing; the failed rows by name."""
    store = sandbox_paths(box.target).store_root
    before, remote = snapshot(store), calls_of(box)
    done = box.inv("publish", *args, "--json", check=False)
    assert done.returncode == code, done.stderr
    assert snapshot(store) == before and calls_of(box) == remote
    if not done.stdout.strip():
        return {}
    rows = one_json(done.stdout).get("preflight", [])
    failed = {row["name"]: row["detail"] for row in rows if not row["ok"]}
    for detail in failed.values():
        assert "\n" not in detail
    return failed


def test_a_text_file_named_nexy_dmg_is_refused(sandbox: Any) -> None:
    sandbox.inv("bump", V1)
    make_artifacts(sandbox.root, MB, MB, f"# Nexy {V1}\n\n- first\n")
    (inbox(sandbox) / "Nexy.dmg").write_text("this is not a disk image\n")
    failed = refused(sandbox)
    assert "not a UDIF disk image" in failed["dmg contents"]
    assert failed["code signature"].startswith("not checked: Nexy.dmg")


def test_a_zip_named_dmg_and_a_truncated_pkg(sandbox: Any) -> None:
    make_artifacts(sandbox.root, MB, MB, f"# Nexy {V1}\n\n- first\n")
    with zipfile.ZipFile(inbox(sandbox) / "Nexy.dmg", "w") as archive:
        archive.writestr("Nexy.app/Contents/Info.plist", b"<plist/>" * 100)
    pkg = inbox(sandbox) / "Nexy.pkg"
    pkg.write_bytes(pkg.read_bytes()[:2000])
    failed = refused(sandbox)
    assert "a zip archive" in failed["dmg contents"]
    assert "truncated" in failed["pkg contents"]


def test_an_app_built_before_bump_with_the_wrong_key_and_feed(sandbox: Any) -> None:
    write_archives(
        sandbox.root,
        "2.0.0.14",
        MB,
        MB,
        SUPublicEDKey="A" * 43 + "=",
        SUFeedURL="https://old.example/appcast.xml",
    )
    (inbox(sandbox) / "LATEST_CHANGES.md").write_text("# Nexy 2.0.0.14\n\n- last time's notes\n")
    failed = refused(sandbox)
    assert "CFBundleVersion '2.0.0.14', expected 2.0.0.15" in failed["app version"]
    assert "rebuild" in failed["app version"]
    assert "the signing key's public key" in failed["app SUPublicEDKey"]
    assert f"expected {sandbox.target.appcast_url(Channel.STABLE)}" in failed["app SUFeedURL"]
    assert "PackageInfo version '2.0.0.14', expected 2.0.0.15" in failed["pkg version"]
    assert "release notes" in failed and "does not name 2.0.0.15" in failed["release notes"]


def test_stale_bytes_and_beta_rebuilds(sandbox: Any) -> None:
    make_artifacts(sandbox.root, MB, MB, f"# Nexy {V1}\n\n- first\n")
    sandbox.inv("publish")
    # New bytes under V1, already on beta: refused like after promote.
    make_artifacts(sandbox.root, MB, MB, f"# Nexy {V1}\n\n- first, rebuilt\n")
    refused(sandbox, code=2)
    # After bump, the inbox still holds the pkg beta has: the fresh bytes row, passing with --yes.
    sandbox.inv("bump", V2)
    make_artifacts(sandbox.root, MB, MB, f"# Nexy {V2}\n\n- second\n")
    beta_pkg = sandbox_paths(sandbox.target).store_root / "AppBeta" / "Nexy.pkg"
    (inbox(sandbox) / "Nexy.pkg").write_bytes(beta_pkg.read_bytes())
    failed = refused(sandbox)
    assert failed["fresh bytes"].startswith(f"Nexy.pkg is the same bytes as beta {V1}")
    assert "--yes" in failed["fresh bytes"]
    assert "fresh bytes" not in refused(sandbox, "--yes")
