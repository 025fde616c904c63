"""The GitHub store under faults: a 502 mid-upload, rate limits, 500s and an answer that never comes.

Each recovers or stops with one line, and never loses the old asset nor leaves a half-made one."""

from __future__ import annotations

import re

import pytest

from release.errors import ReleaseError
from tests.fakes.github import FakeGithub
from tests.ports import free_ports
from tests.production.kit import (
    NEW,
    Artifact,
    MakeStore,
    intact,
    running_totals,
    uploads,
)


def test_502_mid_upload_cleans_the_half_asset_and_recovers(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.fail_uploads_midway = 2
    path, sha, size = artifact("Nexy.dmg", NEW)
    moved: list[int] = []
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size, progress=moved.append)
    assert result.transferred and uploads(github) == 3 and len(sleeps) == 2
    assert sum(1 for method, _ in github.requests if method == "DELETE") == 3  # two half-made, the old
    assets = github.assets("UpdateBeta")
    assert list(assets) == ["Nexy.dmg"] and assets["Nexy.dmg"].sha256 == sha
    # The bar went back before each retry, never past the size, and ends exactly full.
    totals = running_totals(moved)
    assert sum(1 for count in moved if count < 0) == 2
    assert max(totals) == size and totals[-1] == size and min(totals) >= 0


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
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float], notices: list[str]
) -> None:
    github.rate_limited = 2
    path, sha, size = artifact("Nexy.dmg", NEW)
    result = make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert result.transferred and len(sleeps) == 2
    assert all(wait >= 1.0 for wait in sleeps)  # the reset header, not a blind backoff
    assert len(notices) == 2 and all(
        re.fullmatch(
            r"GitHub rate limit \(HTTP 403\): waiting \d+ s, until \d\d:\d\d:\d\d UTC, then retrying", line
        )
        for line in notices
    )
    intact(github, "UpdateBeta")


def test_secondary_rate_limit_honours_retry_after(
    make_store: MakeStore, github: FakeGithub, sleeps: list[float], notices: list[str]
) -> None:
    github.secondary_limits, github.secondary_retry_after = 1, "7"
    assert make_store().release("UpdateBeta").tag == "UpdateBeta"
    assert sleeps == [7.0]
    assert re.fullmatch(
        r"GitHub secondary rate limit \(HTTP 403\): waiting 7 s, until \d\d:\d\d:\d\d UTC, then retrying",
        notices[0],
    )


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_without_retry_after_waits_a_minute(
    make_store: MakeStore, github: FakeGithub, sleeps: list[float], notices: list[str], status: int
) -> None:
    """GitHub's message, the quota not spent, no header: not a permission problem, and at least 60 s."""
    github.secondary_limits, github.secondary_status = 1, status
    assert make_store().release("UpdateBeta").tag == "UpdateBeta"
    assert sleeps == [60.0]
    assert len(notices) == 1 and notices[0].startswith(
        f"GitHub secondary rate limit (HTTP {status}): waiting 60 s"
    )


def test_secondary_rate_limit_waits_longer_each_time_and_stops_at_the_deadline(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float], notices: list[str]
) -> None:
    """60 s, then 120 s: the second wait would pass the store's deadline (100 s for a 10 s timeout),
    so it stops at once with one line saying when to come back, and nothing was uploaded."""
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.secondary_limits = 10
    path, sha, size = artifact("Nexy.dmg", NEW)
    with pytest.raises(ReleaseError) as caught:
        make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert sleeps == [60.0] and len(notices) == 1
    assert re.fullmatch(
        r"GitHub secondary rate limit \(HTTP 403\): it asks for 120 s, more than the 40 s left before the "
        r"deadline; run the task again after \d\d:\d\d:\d\d UTC",
        str(caught.value),
    )
    assert caught.value.code == 1 and uploads(github) == 0
    assert github.assets("UpdateBeta")["Nexy.dmg"].path.read_bytes() == b"old"


def test_a_forbidden_token_is_not_a_rate_limit(
    make_store: MakeStore, github: FakeGithub, sleeps: list[float]
) -> None:
    github.forbidden = 1
    with pytest.raises(ReleaseError) as caught:
        make_store().release("UpdateBeta")
    assert "the token needs contents: write on acme/Nexy_assets" in str(caught.value) and sleeps == []


def test_rate_limit_past_the_deadline_says_when_to_come_back(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.rate_limited = 1
    github.rate_reset_in = 3600
    with pytest.raises(ReleaseError, match=r"rate limit reached; it resets at \d\d:\d\d:\d\d UTC"):
        make_store().release("UpdateBeta")


def test_server_errors_are_retried_then_reported(
    make_store: MakeStore, github: FakeGithub, sleeps: list[float]
) -> None:
    github.server_errors = 3
    assert make_store().release("AppBeta").tag == "AppBeta"
    # Our retries only: one request per attempt, so PyGithub's own retry is really off.
    asked = [p for m, p in github.requests if p.endswith("/releases/tags/AppBeta")]
    assert len(asked) == 4 and len(sleeps) == 3
    github.server_errors = 100
    with pytest.raises(ReleaseError, match=r"GitHub kept failing while finding release AppBeta \(HTTP 500"):
        make_store().release("AppBeta")


def test_server_errors_during_a_replace_leave_the_old_asset(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("AppBeta", "Nexy.pkg", b"old installer")
    path, sha, size = artifact("Nexy.pkg", NEW)
    github.server_errors = 100
    with pytest.raises(ReleaseError, match=r"GitHub kept failing while (finding|replacing)"):
        make_store().upload("AppBeta", "Nexy.pkg", path, sha256=sha, size=size)
    assert github.assets("AppBeta")["Nexy.pkg"].path.read_bytes() == b"old installer"
    intact(github, "AppBeta")


@pytest.mark.timeout(60)
def test_an_upload_answer_that_never_comes_times_out_and_is_redone(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    """The uploads host gets our timeout (PyGithub gives it none); the asset that landed anyway is removed."""
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.stall_uploads, github.stall_s = 1, 4.0
    path, sha, size = artifact("Nexy.dmg", NEW)
    moved: list[int] = []
    store = make_store(timeout_s=1)
    result = store.upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size, progress=moved.append)
    assert result.transferred and uploads(github) == 2 and len(sleeps) == 1
    assets = github.assets("UpdateBeta")
    assert list(assets) == ["Nexy.dmg"] and assets["Nexy.dmg"].sha256 == sha
    assert running_totals(moved)[-1] == size and max(running_totals(moved)) == size


def test_an_upload_github_stored_wrongly_is_discarded_and_the_old_asset_kept(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    github.put_asset("UpdateBeta", "Nexy.dmg", b"old")
    github.corrupt_uploads = 1
    path, sha, size = artifact("Nexy.dmg", NEW)
    with pytest.raises(ReleaseError) as caught:
        make_store().upload("UpdateBeta", "Nexy.dmg", path, sha256=sha, size=size)
    assert caught.value.code == 1 and "the upload was discarded and the old asset kept; run again" in str(
        caught.value
    )
    assets = github.assets("UpdateBeta")
    assert list(assets) == ["Nexy.dmg"] and assets["Nexy.dmg"].path.read_bytes() == b"old"


def test_a_cdn_that_never_answers_is_one_line_after_the_retries(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact, sleeps: list[float]
) -> None:
    """The public URL is checked by the one verifier every store uses: when the CDN it redirects to
    answers nobody, that is retried like stale bytes, then said in one line, not taken for a mismatch."""
    github.put_asset("Update", "Nexy.dmg", NEW)
    _, sha, size = artifact("Nexy.dmg", NEW)
    (port,) = free_ports(1)
    github.cdn_url = f"http://127.0.0.1:{port}"
    with pytest.raises(ReleaseError) as caught:
        make_store().verify("Update", "Nexy.dmg", sha256=sha, size=size)
    assert re.fullmatch(
        r"cannot fetch http://127\.0\.0\.1:\d+/\S+/Update/Nexy\.dmg: ConnectError: .*", str(caught.value)
    )
    assert caught.value.code == 1 and len(sleeps) == 6
