"""Replacing a GitHub release asset in place, and reading assets back, without ever losing one.

Rules:
- Order: clean leftovers of an interrupted run → skip if GitHub's digest already equals the local
  sha256 → upload under ``<name>.nexy-upload`` → check the size and digest GitHub reports → delete
  the old asset → rename the new one. Until the check passes, the old asset is untouched.
- A leftover temporary asset is deleted, except when the real asset is gone and the leftover holds
  exactly the wanted bytes (a run that stopped between delete and rename): then it is renamed.
- A failed upload attempt (a 502 mid-body, a timeout) leaves a half-made asset that makes the next
  attempt answer 422 ``already_exists``: it is deleted before every retry and after the last one.
- A server that reports no digest (older GitHub Enterprise) gets the new asset hashed by download.
- Progress is per transfer, not per attempt: a retry rewinds what the failed attempt reported.
- Every request is made inside a retry: PyGithub objects are lazy, so a handle is completed (its
  GET made) inside ``call``, never later outside it.
- The swap (delete the old asset, rename the new one) is paced like every write, as GitHub asks
  ("wait at least one second between each" POST, PATCH, PUT or DELETE: a burst of content-creating
  requests is what draws a secondary limit, whose Retry-After, often 60 s, would otherwise fall
  between the two). Between the two requests the fixed public URL answers 404: that window is
  the write spacing plus a round trip, is measured, and when a rate limit stretched it the output
  says for how long and from when. It is bounded by the retry deadline: a rename GitHub still
  refuses then is one line saying the URL answers 404 since when, and the next run renames the
  checked upload first (the leftover rule below).
- This module sees the store only through ``AssetApi`` (retries, the streaming client, the token,
  handles on an asset by id) and never imports it: the store calls in, finds the release, refuses
  an immutable one, and turns what is raised here (``_retry.ERRORS``) into its one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from github.GithubException import UnknownObjectException
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.store import _transfer
from release.outside.store._retry import ERRORS, RetryPolicy, call, describe, http_status
from release.outside.store.base import Asset, UploadResult
from release.outside.stream import Progress, download_to, hash_url

__all__ = ["TEMP_SUFFIX", "AssetApi", "asset_of", "download_asset", "replace_asset"]

TEMP_SUFFIX = ".nexy-upload"
# A 404 window longer than the write spacing (1 s) plus round trips: a limit held the rename back.
ANNOUNCE_AFTER_S = 5.0


@dataclass(frozen=True)
class AssetApi:
    """The little of the GitHub store that replacing and reading assets needs."""

    policy: RetryPolicy
    http: Callable[[], httpx.Client]  # the streaming client (uploads host, CDN)
    token: Callable[[], str]
    asset: Callable[[int], GitReleaseAsset]  # a lazy handle by id, paced like every write


def asset_of(asset: GitReleaseAsset) -> Asset:
    """Our ``Asset`` for a GitHub one: GitHub's ``digest`` is ``sha256:<hex>`` when it reports one."""
    digest = asset.digest
    sha256 = digest.split(":", 1)[1] if digest and digest.startswith("sha256:") else None
    return Asset(name=asset.name, size=asset.size, sha256=sha256, url=asset.browser_download_url)


def _already_exists(exc: BaseException) -> bool:
    if http_status(exc) != 422:
        return False
    if isinstance(exc, httpx.HTTPStatusError):
        return "already_exists" in exc.response.text
    return "already_exists" in str(getattr(exc, "data", ""))


def _matches(asset: GitReleaseAsset, sha256: str, size: int) -> bool:
    return asset.state == "uploaded" and asset.size == size and asset.digest == f"sha256:{sha256}"


def _assets(api: AssetApi, release: GitRelease) -> list[GitReleaseAsset]:
    return call(api.policy, lambda: list(release.get_assets()))


def _delete(api: AssetApi, asset: GitReleaseAsset) -> None:
    def attempt() -> None:
        try:
            asset.delete_asset()
        except UnknownObjectException:
            return  # an earlier attempt got through before its answer was lost

    call(api.policy, attempt)


def _rename(api: AssetApi, asset: GitReleaseAsset, name: str, label: str) -> GitReleaseAsset:
    return call(api.policy, lambda: asset.update_asset(name, label))


def _swap(
    api: AssetApi,
    release: GitRelease,
    current: GitReleaseAsset | None,
    new: GitReleaseAsset,
    name: str,
    label: str,
) -> GitReleaseAsset:
    """Delete ``current`` and give ``new`` its name, paced like every write; between the two the
    fixed URL answers 404, and that window is measured (announced when a limit stretched it)."""
    if current is None:
        return _rename(api, api.asset(new.id), name, label)
    _delete(api, api.asset(current.id))
    gone, gone_at = api.policy.monotonic(), api.policy.wall()
    try:
        renamed = _rename(api, api.asset(new.id), name, label)
    except (ReleaseError, *ERRORS) as exc:
        # A ReleaseError here is the retry's own line (a rate limit asking past the deadline).
        why = str(exc) if isinstance(exc, ReleaseError) else describe(exc)
        raise ReleaseError(
            f"the fixed URL of {name} in release {release.tag_name} answers 404 since {_clock(gone_at)}: the old "
            f"asset is deleted and the rename did not go through ({why}); run again: it renames the checked "
            "upload first",
            CHECK_FAILED,
        ) from None
    window = api.policy.monotonic() - gone
    if window > ANNOUNCE_AFTER_S and api.policy.notice is not None:
        api.policy.notice(
            f"the fixed URL of {name} in release {release.tag_name} answered 404 for {window:.0f} s "
            f"({_clock(gone_at)} to {_clock(gone_at + window)}): GitHub held the rename back"
        )
    return renamed


def _clock(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%H:%M:%S UTC")


def _delete_temps(api: AssetApi, release: GitRelease, temp_name: str) -> None:
    """Best effort between attempts: if GitHub is still failing, the next attempt's 422 retries."""
    with contextlib.suppress(*ERRORS):
        for leftover in _assets(api, release):
            if leftover.name == temp_name:
                _delete(api, leftover)


def _digest_of(api: AssetApi, asset: GitReleaseAsset) -> str | None:
    if asset.digest:
        return asset.digest
    headers = _transfer.api_headers(api.token(), accept="application/octet-stream")
    sha256, _ = call(api.policy, lambda: hash_url(api.http(), asset.url, headers))
    return f"sha256:{sha256}"


def replace_asset(
    api: AssetApi,
    release: GitRelease,
    name: str,
    source: Path,
    *,
    sha256: str,
    size: int,
    progress: Progress | None = None,
) -> UploadResult:
    """Replace ``name`` in ``release`` (found and checked mutable by the store) with ``source``."""
    temp_name = name + TEMP_SUFFIX
    existing = {a.name: a for a in _assets(api, release)}
    current, leftover = existing.get(name), existing.get(temp_name)
    if leftover is not None:
        if current is None and _matches(leftover, sha256, size):
            return UploadResult(asset_of(_rename(api, leftover, name, leftover.label or "")), True)
        _delete(api, leftover)
    if current is not None and _matches(current, sha256, size):
        return UploadResult(asset_of(current), False)
    new = _upload_checked(api, release, temp_name, source, sha256=sha256, size=size, progress=progress)
    final = _swap(api, release, current, new, name, (current.label if current is not None else "") or "")
    return UploadResult(asset_of(final), True)


def _upload_checked(
    api: AssetApi,
    release: GitRelease,
    temp_name: str,
    source: Path,
    *,
    sha256: str,
    size: int,
    progress: Progress | None,
) -> GitReleaseAsset:
    moved = _transfer.AttemptProgress(progress)

    def attempt() -> int:
        moved.rewind()
        document = _transfer.upload_asset(
            api.http(), release.upload_url, api.token(), temp_name, source, size, moved
        )
        return int(document["id"])

    try:
        asset_id = call(
            api.policy,
            attempt,
            retry_also=_already_exists,
            before_retry=lambda: _delete_temps(api, release, temp_name),
        )
    except ERRORS:
        _delete_temps(api, release, temp_name)
        raise
    new = call(api.policy, lambda: api.asset(asset_id).complete())
    reported = _digest_of(api, new)
    if new.state != "uploaded" or new.size != size or reported != f"sha256:{sha256}":
        _delete(api, new)
        raise ReleaseError(
            f"GitHub holds {new.size} bytes ({reported}) for the upload of {source.name}, expected {size} "
            f"bytes (sha256:{sha256}): the upload was discarded and the old asset kept; run again",
            CHECK_FAILED,
        )
    return new


def download_asset(
    api: AssetApi, release: GitRelease, name: str, dest: Path, *, progress: Progress | None = None
) -> str:
    """Stream asset ``name`` of ``release`` into ``dest`` (atomically); its sha256."""
    found = [a for a in _assets(api, release) if a.name == name and a.state == "uploaded"]
    if not found:
        raise ReleaseError(f"release {release.tag_name} has no asset {name}", CHECK_FAILED)
    headers = _transfer.api_headers(api.token(), accept="application/octet-stream")
    moved = _transfer.AttemptProgress(progress)

    def attempt() -> tuple[str, int]:
        moved.rewind()
        return download_to(api.http(), found[0].url, dest, headers, moved)

    sha256, _ = call(api.policy, attempt)
    return sha256
