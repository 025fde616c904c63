"""The GitHub store's happy paths through the real PyGithub client against the fake GitHub: replacing an
asset in place (or skipping it), finishing an interrupted run, streaming downloads, verifying the CDN."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import ReleaseError
from tests.fakes.github import FakeGithub
from tests.production.kit import (
    NEW,
    Artifact,
    MakeStore,
    assert_only_asset_writes,
    names,
    running_totals,
    uploads,
)


def test_upload_replaces_in_place_and_keeps_the_label(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    old = github.put_asset("UpdateBeta", "Nexy.dmg", b"old bytes")
    old.label = "Nexy (beta)"
    path, sha, size = artifact("Nexy.dmg", NEW)
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert result.transferred and result.asset.sha256 == sha and result.asset.size == size
    assert result.asset.url == f"{github.base_url}/acme/Nexy_assets/releases/download/UpdateBeta/Nexy.dmg"
    assets = github.assets("UpdateBeta")
    assert list(assets) == ["Nexy.dmg"]
    assert assets["Nexy.dmg"].sha256 == sha and assets["Nexy.dmg"].label == "Nexy (beta)"
    assert assets["Nexy.dmg"].path.read_bytes() == NEW
    assert_only_asset_writes(github)


def test_same_digest_is_a_skip_without_upload(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("AppBeta", "Nexy.pkg", NEW)
    path, sha, size = artifact("Nexy.pkg", NEW)
    result = make_store().upload("AppBeta", "Nexy.pkg", path, sha256=sha, size=size)
    assert not result.transferred and result.asset.sha256 == sha
    assert uploads(github) == 0


def test_leftover_temporary_asset_is_cleaned_first(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.put_asset("UpdateBeta", "Nexy.dmg.nexy-upload", b"half of something else")
    path, sha, size = artifact("Nexy.dmg", NEW)
    make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert names(github, "UpdateBeta") == ["Nexy.dmg"]
    assert github.assets("UpdateBeta")["Nexy.dmg"].sha256 == sha


def test_interrupted_rename_is_finished_without_reupload(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg.nexy-upload", NEW)  # a run stopped between delete and rename
    path, sha, size = artifact("Nexy.dmg", NEW)
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert result.asset.name == "Nexy.dmg" and uploads(github) == 0
    assert names(github, "UpdateBeta") == ["Nexy.dmg"]


def test_download_streams_and_hashes(make_store: MakeStore, github: FakeGithub, tmp_path: Path) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", NEW)
    moved: list[int] = []
    dest = tmp_path / "archive" / "Nexy.dmg"
    digest = make_store().download("UpdateBeta", "Nexy.dmg", dest, progress=moved.append)
    assert dest.read_bytes() == NEW and sum(moved) == len(NEW)
    assert digest == github.assets("UpdateBeta")["Nexy.dmg"].sha256
    assert [p.name for p in dest.parent.iterdir()] == ["Nexy.dmg"]  # no temporary file left


def test_a_download_cut_midway_is_retried_and_its_progress_rewound(
    make_store: MakeStore, github: FakeGithub, tmp_path: Path, sleeps: list[float]
) -> None:
    big = NEW * 60  # several 1 MiB chunks, so the cut attempt has reported some before it fails
    github.put_asset("UpdateBeta", "Nexy.dmg", big)
    github.cut_downloads = 1
    moved: list[int] = []
    dest = tmp_path / "archive" / "Nexy.dmg"
    digest = make_store().download("UpdateBeta", "Nexy.dmg", dest, progress=moved.append)
    assert digest == github.assets("UpdateBeta")["Nexy.dmg"].sha256 and dest.read_bytes() == big
    assert len(sleeps) == 1 and sum(1 for count in moved if count < 0) == 1
    assert running_totals(moved)[-1] == len(big) and max(running_totals(moved)) == len(big)
    assert [p.name for p in dest.parent.iterdir()] == ["Nexy.dmg"]  # the cut attempt left no part file


def test_verify_retries_while_the_cdn_is_stale(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    github.put_asset("Update", "Nexy.dmg", b"old")
    store = make_store()
    path, sha, size = artifact("Nexy.dmg", NEW)
    store.upload("Update", "Nexy.dmg", path, sha256=sha, size=size)
    github.stale_cdn_reads = 2
    sleeps.clear()
    assert store.verify("Update", "Nexy.dmg", sha256=sha, size=size)
    assert len(sleeps) == 2
    github.stale_cdn_reads = 100
    assert not store.verify("Update", "Nexy.dmg", sha256=sha, size=size)


def test_without_digests_the_new_asset_is_hashed_by_download(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    """An older GitHub Enterprise reports no ``digest``: the check downloads the temporary asset instead."""
    github.report_digests = False
    github.put_asset("AppBeta", "Nexy.pkg", b"old")
    path, sha, size = artifact("Nexy.pkg", NEW)
    result = make_store().upload("AppBeta", "Nexy.pkg", path, sha256=sha, size=size)
    assert result.transferred and result.asset.sha256 is None
    assert github.assets("AppBeta")["Nexy.pkg"].path.read_bytes() == NEW
    read_back = [p for m, p in github.requests if m == "GET" and p.startswith("/blob/")]
    assert read_back  # the temporary asset was hashed by download
    github.corrupt_uploads = 1
    with pytest.raises(ReleaseError, match="the upload was discarded and the old asset kept"):
        make_store().upload("AppBeta", "Nexy.pkg", path, sha256=sha, size=size)
    assert list(github.assets("AppBeta")) == ["Nexy.pkg"]


def test_set_notes_writes_the_body_only_and_skips_the_same_text(
    make_store: MakeStore, github: FakeGithub
) -> None:
    release = github.release("Update")
    release.prerelease = True  # kept: only the body may change
    notes = "# Nexy 2.0.0.16\n\n- Faster wake word.\n"
    store = make_store()
    assert store.set_notes("Update", notes) is True
    assert (release.tag, release.body, release.prerelease) == ("Update", notes, True)
    assert github.writes() == [("PATCH", f"/repos/{github.owner_repo}/releases/{release.id}")]
    assert_only_asset_writes(github)

    before = len(github.requests)
    assert make_store().set_notes("Update", notes) is False
    # One GET tells: the release by its tag, whose body already is the text; no PATCH.
    assert github.requests[before:] == [("GET", f"/repos/{github.owner_repo}/releases/tags/Update")]
