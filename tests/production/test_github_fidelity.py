"""Where the GitHub store met GitHub's real behaviour only in production: downloads served from another
origin that must never see the token, a request right after an upload that must be retried like any
other, and the window in which the fixed public URL answers 404 during a replace."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from release.errors import ReleaseError
from tests.fakes.github import FakeGithub, running_github
from tests.production.kit import NEW, Artifact, MakeStore, intact, names

pytestmark = pytest.mark.timeout(120)


def test_downloads_come_from_another_origin_without_the_token(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, tmp_path: Path
) -> None:
    """The API answers 302 to the CDN origin (another port); the store follows it without the token,
    for the archive download, the digest check by download and the public URL alike."""
    github.put_asset("UpdateBeta", "Nexy.dmg", NEW)
    store = make_store()
    sha = store.download("UpdateBeta", "Nexy.dmg", tmp_path / "Nexy.dmg")
    assert store.verify("UpdateBeta", "Nexy.dmg", sha256=sha, size=len(NEW))
    github.report_digests = False  # the new asset is then hashed by download, through the redirect
    path, new_sha, size = artifact("Nexy.dmg", NEW + b"!")
    assert store.upload("UpdateBeta", "Nexy.dmg", path, sha256=new_sha, size=size).transferred
    cdn = [p for m, p in github.requests if p.startswith(("/blob/", "/cdn/"))]
    assert len(cdn) >= 3 and github.leaked_auth == []
    redirect = httpx.get(store.release("UpdateBeta").assets[0].url)
    assert (
        redirect.status_code == 302
        and httpx.URL(redirect.headers["Location"]).port != httpx.URL(github.base_url).port
    )


def test_a_token_sent_to_the_cdn_fails_the_test(tmp_path: Path) -> None:
    """The guard itself: a client that carries the token across the redirect is caught."""
    fake = FakeGithub(root=tmp_path, owner_repo="acme/assets")
    fake.add_release("Update")
    fake.put_asset("Update", "Nexy.dmg", b"bytes")
    asset = next(iter(fake.release("Update").assets))
    headers = {"Authorization": f"Bearer {fake.token}", "Accept": "application/octet-stream"}
    answers: list[int] = []

    def careless_download() -> None:
        with running_github(fake):
            hop = httpx.get(f"{fake.base_url}/repos/acme/assets/releases/assets/{asset}", headers=headers)
            answers.append(httpx.get(hop.headers["Location"], headers=headers).status_code)

    with pytest.raises(AssertionError, match="the token reached the CDN origin"):
        careless_download()
    assert answers == [400] and fake.leaked_auth == [f"/blob/{asset}"]


def test_the_read_right_after_the_upload_is_retried(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    """A 500 on reading the new asset back is retried (a lazy PyGithub handle made its GET later,
    outside any retry, and left the ``.nexy-upload`` asset behind)."""
    github.put_asset("AppBeta", "Nexy.pkg", b"old")
    github.asset_get_errors = 1
    path, sha, size = artifact("Nexy.pkg", NEW)
    assert make_store().upload("AppBeta", "Nexy.pkg", path, sha256=sha, size=size).transferred
    assert github.asset_get_errors == 0 and len(sleeps) == 1
    assert names(github, "AppBeta") == ["Nexy.pkg"] and github.assets("AppBeta")["Nexy.pkg"].sha256 == sha
    intact(github, "AppBeta")


def test_the_swap_is_paced_and_the_fixed_url_404s_only_between_delete_and_rename(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, notices: list[str]
) -> None:
    """A first-time installer polling the fixed public URL while ``Nexy.pkg`` is replaced, with the
    store's real request pacing on: the delete and the rename are a second apart, as GitHub asks of
    content-creating requests, nothing else goes out between them, and the poller meets 404s only
    in that window; a window this short is not announced."""
    github.put_asset("App", "Nexy.pkg", b"the previous installer")
    url = f"{github.base_url}/{github.owner_repo}/releases/download/App/Nexy.pkg"
    path, sha, size = artifact("Nexy.pkg", NEW)
    seen: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client() as client:
            while not done.is_set():
                status = client.get(url).status_code
                seen.append((time.monotonic(), status))
                done.wait(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        make_store(pace_writes=True).upload("App", "Nexy.pkg", path, sha256=sha, size=size)
    finally:
        done.set()
        poller.join(10)
    order = github.answers
    deleted = next(i for i, (m, _, s) in enumerate(order) if m == "DELETE" and s == 204)
    renamed = next(i for i, (m, _, s) in enumerate(order) if m == "PATCH" and s == 200)
    between = order[deleted + 1 : renamed]
    assert [(m, s) for m, p, s in between if not p.endswith("/Nexy.pkg")] == []  # nothing else in between
    assert github.write_times["PATCH"] - github.write_times["DELETE"] >= 0.9  # PyGithub's 1 s write spacing
    missing = [at for at, status in seen if status == 404]
    print(f"poller: {len(seen)} requests, {len(missing)} answered 404")
    assert seen[0][1] == 302 and httpx.get(url).status_code == 302
    assert github.assets("App")["Nexy.pkg"].sha256 == sha and notices == []


def test_a_secondary_limit_on_the_rename_is_waited_out_and_the_404_window_reported(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, notices: list[str], sleeps: list[float]
) -> None:
    """GitHub answers the rename with a secondary limit (Retry-After 61): the fixed URL stays 404 for
    exactly that wait on the store's clock, no longer, and the output says so with the times."""
    github.put_asset("App", "Nexy.pkg", b"the previous installer")
    github.secondary_limits, github.secondary_retry_after, github.secondary_method = 1, "61", "PATCH"
    path, sha, size = artifact("Nexy.pkg", NEW)
    assert make_store().upload("App", "Nexy.pkg", path, sha256=sha, size=size).transferred
    assert sleeps == [61.0]
    assert notices[0].startswith("GitHub secondary rate limit (HTTP 403): waiting 61 s")
    assert re.fullmatch(
        r"the fixed URL of Nexy\.pkg in release App answered 404 for 61 s "
        r"\(\d\d:\d\d:\d\d UTC to \d\d:\d\d:\d\d UTC\): GitHub held the rename back",
        notices[1],
    )
    assert github.assets("App")["Nexy.pkg"].sha256 == sha


def test_a_rename_refused_past_the_deadline_says_since_when_and_the_next_run_heals(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, notices: list[str]
) -> None:
    github.put_asset("App", "Nexy.pkg", b"the previous installer")
    github.secondary_limits, github.secondary_retry_after, github.secondary_method = 1, "3600", "PATCH"
    path, sha, size = artifact("Nexy.pkg", NEW)
    with pytest.raises(ReleaseError) as caught:
        make_store().upload("App", "Nexy.pkg", path, sha256=sha, size=size)
    assert re.fullmatch(
        r"the fixed URL of Nexy\.pkg in release App answers 404 since \d\d:\d\d:\d\d UTC: the old asset is "
        r"deleted and the rename did not go through \(GitHub secondary rate limit \(HTTP 403\): it asks for "
        r"3600 s, .*\); run again: it renames the checked upload first",
        str(caught.value),
    )
    assert names(github, "App") == ["Nexy.pkg.nexy-upload"]
    assert make_store().upload("App", "Nexy.pkg", path, sha256=sha, size=size).transferred
    assert names(github, "App") == ["Nexy.pkg"] and github.assets("App")["Nexy.pkg"].sha256 == sha
