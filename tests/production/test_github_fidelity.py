"""Where the GitHub store met GitHub's real behaviour only in production: downloads served from another
origin that must never see the token, a request right after an upload that must be retried like any
other, and the window in which the fixed public URL answers 404 during a replace."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

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


def test_the_fixed_url_answers_404_for_one_round_trip_at_most(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    """A first-time installer polling the fixed public URL while ``Nexy.pkg`` is replaced, with the
    store's real request pacing on: the delete and the rename go out back to back, so the poller
    meets at most the 404s of one round trip (PyGithub's one-second write spacing gave it dozens)."""
    github.put_asset("App", "Nexy.pkg", b"the previous installer")
    url = f"{github.base_url}/{github.owner_repo}/releases/download/App/Nexy.pkg"
    path, sha, size = artifact("Nexy.pkg", NEW)
    seen: list[int] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client() as client:
            while not done.is_set():
                seen.append(client.get(url).status_code)
                done.wait(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        make_store(pace_writes=True).upload("App", "Nexy.pkg", path, sha256=sha, size=size)
    finally:
        done.set()
        poller.join(10)
    # The order in which the fake answered: the delete, then the rename, and the poller's 404s between.
    order = [(m, p, status) for m, p, status in github.answers]
    deleted = next(i for i, (m, _, s) in enumerate(order) if m == "DELETE" and s == 204)
    renamed = next(i for i, (m, _, s) in enumerate(order) if m == "PATCH" and s == 200)
    between = order[deleted + 1 : renamed]
    assert [(m, s) for m, p, s in between if not p.endswith("/Nexy.pkg")] == []  # nothing else in between
    print(f"poller: {len(seen)} requests, {seen.count(404)} answered 404; {len(between)} answers between")
    assert seen.count(404) <= 2 and sum(1 for *_, s in between if s == 404) <= 2
    assert seen[0] == 302 and httpx.get(url).status_code == 302
    assert github.assets("App")["Nexy.pkg"].sha256 == sha
