"""The GitHub store, driven through the real PyGithub client against the fake GitHub on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.store.github import GithubStore
from schemas import Target
from tests.fakes.github import FakeGithub
from tests.production.conftest import target_document

Artifact = Callable[[str, bytes], tuple[Path, str, int]]
MakeStore = Callable[..., GithubStore]
NEW = b"new dmg bytes " * 5000


def _names(github: FakeGithub, tag: str) -> list[str]:
    return sorted(github.assets(tag))


def _uploads(github: FakeGithub) -> int:
    return sum(1 for method, path in github.requests if method == "POST" and path.startswith("/uploads/"))


def _no_creation(github: FakeGithub) -> None:
    creating = [p for m, p in github.requests if m == "POST" and not p.startswith("/uploads/")]
    assert creating == []  # never a release, tag or ref


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
    _no_creation(github)


def test_same_digest_is_a_skip_without_upload(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("AppBeta", "Nexy.pkg", NEW)
    path, sha, size = artifact("Nexy.pkg", NEW)
    result = make_store().upload("AppBeta", "Nexy.pkg", path, sha256=sha, size=size)
    assert not result.transferred and result.asset.sha256 == sha
    assert _uploads(github) == 0


def test_leftover_temporary_asset_is_cleaned_first(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.put_asset("UpdateBeta", "Nexy.dmg.nexy-upload", b"half of something else")
    path, sha, size = artifact("Nexy.dmg", NEW)
    make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert _names(github, "UpdateBeta") == ["Nexy.dmg"]
    assert github.assets("UpdateBeta")["Nexy.dmg"].sha256 == sha


def test_interrupted_rename_is_finished_without_reupload(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg.nexy-upload", NEW)  # a run stopped between delete and rename
    path, sha, size = artifact("Nexy.dmg", NEW)
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert result.asset.name == "Nexy.dmg" and _uploads(github) == 0
    assert _names(github, "UpdateBeta") == ["Nexy.dmg"]


def test_502_mid_upload_cleans_the_half_asset_and_recovers(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.fail_uploads_midway = 2
    path, sha, size = artifact("Nexy.dmg", NEW)
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert result.transferred and _uploads(github) == 3 and len(sleeps) == 2
    assert sum(1 for method, _ in github.requests if method == "DELETE") == 3  # two half-made, the old
    assets = github.assets("UpdateBeta")
    assert list(assets) == ["Nexy.dmg"] and assets["Nexy.dmg"].sha256 == sha


def test_502_every_time_stops_with_one_line_and_keeps_the_old_asset(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.fail_uploads_midway = 100
    path, sha, size = artifact("Nexy.dmg", NEW)
    with pytest.raises(ReleaseError) as caught:
        make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    message = str(caught.value)
    assert "\n" not in message and "Nexy.dmg" in message and "run again" in message
    assert caught.value.code == 1
    assets = github.assets("UpdateBeta")
    assert list(assets) == ["Nexy.dmg"] and assets["Nexy.dmg"].path.read_bytes() == b"old"


def test_rate_limit_waits_for_the_reset_then_recovers(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    github.rate_limited = 2
    path, sha, size = artifact("Nexy.dmg", NEW)
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert result.transferred and len(sleeps) == 2
    assert all(wait >= 1.0 for wait in sleeps)  # the reset header, not a blind backoff


def test_secondary_rate_limit_honours_retry_after(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    github.retry_after = 1
    assert make_store().release("UpdateBeta").tag == "UpdateBeta"
    assert sleeps == [1.0]


def test_rate_limit_past_the_deadline_says_when_to_come_back(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.rate_limited = 1
    github.rate_reset_in = 3600
    with pytest.raises(ReleaseError, match=r"rate limit reached; it resets at \d\d:\d\d:\d\d UTC"):
        make_store().release("UpdateBeta")


def test_server_errors_are_retried_then_reported(make_store: MakeStore, github: FakeGithub) -> None:
    github.server_errors = 3
    assert make_store().release("AppBeta").tag == "AppBeta"
    github.server_errors = 100
    with pytest.raises(ReleaseError, match=r"GitHub kept failing while finding release AppBeta \(HTTP 500"):
        make_store().release("AppBeta")


def test_immutable_release_stops_before_any_write(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.release("Update").immutable = True
    store = make_store()
    assert store.release("Update").immutable
    path, sha, size = artifact("Nexy.dmg", NEW)
    with pytest.raises(ReleaseError, match=r"release Update is immutable, so Nexy\.dmg cannot be replaced"):
        store.upload("Update", "Nexy.dmg", path, sha256=sha, size=size)
    assert _uploads(github) == 0


def test_missing_and_draft_releases_say_what_to_do(make_store: MakeStore, github: FakeGithub) -> None:
    github.add_release("Nightly", draft=True)
    store = make_store()
    with pytest.raises(ReleaseError, match="release Gone not found in acme/Nexy_assets: create and publish"):
        store.release("Gone")
    with pytest.raises(ReleaseError, match="release Nightly in acme/Nexy_assets is a draft"):
        store.release("Nightly")
    _no_creation(github)


def test_missing_and_rejected_tokens_are_one_line(make_store: MakeStore, github: FakeGithub) -> None:
    with pytest.raises(ReleaseError, match=r"no GitHub token: set \$GITHUB_TOKEN"):
        make_store(token=None).check_access()
    with pytest.raises(ReleaseError) as caught:
        make_store(token="wrong-secret").check_access()
    assert "GitHub rejected the token" in str(caught.value) and "wrong-secret" not in str(caught.value)
    assert make_store().check_access() == "GitHub token accepted for acme/Nexy_assets"
    github.push = False
    with pytest.raises(ReleaseError, match="can read acme/Nexy_assets but not write"):
        make_store().check_access()


def test_token_file_from_the_target(tmp_path: Path, github: FakeGithub) -> None:
    (tmp_path / "gh-token").write_text("fake-token\n")
    document = target_document(tmp_path, github.base_url)
    document["store"]["token_file"] = "gh-token"
    store = GithubStore(Target.model_validate(document), environ={}, pace_writes=False)
    assert store.check_access().startswith("GitHub token accepted")


def test_code_repository_is_never_written(tmp_path: Path, github: FakeGithub) -> None:
    document = target_document(tmp_path, github.base_url)
    document["repositories"]["assets"] = "ACME/nexy"  # the code repository in other letters
    document["release_target"]["update"] = {
        "dmg_url": f"{github.base_url}/ACME/nexy/releases/download/Update/Nexy.dmg",
        "pkg_url": f"{github.base_url}/ACME/nexy/releases/download/App/Nexy.pkg",
    }
    store = GithubStore(Target.model_validate(document), token="fake-token", environ={})
    with pytest.raises(ReleaseError, match="the assets repository is the code repository"):
        store.release("UpdateBeta")
    assert github.requests == []


def test_download_streams_and_hashes(make_store: MakeStore, github: FakeGithub, tmp_path: Path) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", NEW)
    moved: list[int] = []
    dest = tmp_path / "archive" / "Nexy.dmg"
    digest = make_store().download("UpdateBeta", "Nexy.dmg", dest, progress=moved.append)
    assert dest.read_bytes() == NEW and sum(moved) == len(NEW)
    assert digest == github.assets("UpdateBeta")["Nexy.dmg"].sha256
    assert [p.name for p in dest.parent.iterdir()] == ["Nexy.dmg"]  # no temporary file left


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
