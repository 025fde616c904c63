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
- ``verify_public`` hashes the public URL with no token, retrying while a CDN serves older bytes.
- Progress is per transfer, not per attempt: a retry rewinds what the failed attempt reported.
- Every request is made inside a retry: PyGithub objects are lazy, so a handle is completed (its
  GET made) inside ``call``, never later outside it.
- The swap (delete the old asset, rename the new one) goes out back to back on unpaced handles:
  between the two requests the fixed public URL answers 404, so that window is one round trip.
- An immutable release can never have its assets replaced, and deleting it burns its tag for good
  (GitHub, "Immutable releases": docs.github.com/en/code-security/concepts/supply-chain-security/
  immutable-releases): the message says so and what the operator can do instead.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from github.GithubException import GithubException, UnknownObjectException
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset
from tenacity import Retrying, retry_if_exception, retry_if_result, stop_after_attempt, wait_exponential

from ..errors import CHECK_FAILED, ReleaseError
from . import _transfer
from ._immutable import immutable_message
from ._retry import call, http_status, is_transient
from .base import Progress, UploadResult

if TYPE_CHECKING:
    from .github import GithubStore

__all__ = ["TEMP_SUFFIX", "download_asset", "replace_asset", "verify_public"]

TEMP_SUFFIX = ".nexy-upload"
_ERRORS = (GithubException, httpx.HTTPError, OSError)


def _already_exists(exc: BaseException) -> bool:
    if http_status(exc) != 422:
        return False
    if isinstance(exc, httpx.HTTPStatusError):
        return "already_exists" in exc.response.text
    return "already_exists" in str(getattr(exc, "data", ""))


def _matches(asset: GitReleaseAsset, sha256: str, size: int) -> bool:
    return asset.state == "uploaded" and asset.size == size and asset.digest == f"sha256:{sha256}"


def _assets(store: GithubStore, release: GitRelease) -> list[GitReleaseAsset]:
    return call(store.policy(), lambda: list(release.get_assets()))


def _delete(store: GithubStore, asset: GitReleaseAsset) -> None:
    def attempt() -> None:
        try:
            asset.delete_asset()
        except UnknownObjectException:
            return  # an earlier attempt got through before its answer was lost

    call(store.policy(), attempt)


def _rename(store: GithubStore, asset: GitReleaseAsset, name: str, label: str) -> GitReleaseAsset:
    return call(store.policy(), lambda: asset.update_asset(name, label))


def _swap(
    store: GithubStore, current: GitReleaseAsset | None, new: GitReleaseAsset, name: str, label: str
) -> GitReleaseAsset:
    """Delete ``current`` and give ``new`` its name, back to back (PyGithub's write spacing would
    leave the fixed URL answering 404 for a whole second in between)."""
    if current is not None:
        _delete(store, store.unpaced_asset(current.id))
    return _rename(store, store.unpaced_asset(new.id), name, label)


def _delete_temps(store: GithubStore, release: GitRelease, temp_name: str) -> None:
    """Best effort between attempts: if GitHub is still failing, the next attempt's 422 retries."""
    with contextlib.suppress(*_ERRORS):
        for leftover in _assets(store, release):
            if leftover.name == temp_name:
                _delete(store, leftover)


def _digest_of(store: GithubStore, asset: GitReleaseAsset) -> str | None:
    if asset.digest:
        return asset.digest
    headers = _transfer.api_headers(store.token(), accept="application/octet-stream")
    sha256, _ = call(store.policy(), lambda: _transfer.hash_url(store.http(), asset.url, headers))
    return f"sha256:{sha256}"


def replace_asset(
    store: GithubStore,
    tag: str,
    name: str,
    source: Path,
    *,
    sha256: str,
    size: int,
    progress: Progress | None = None,
) -> UploadResult:
    release = store.git_release(tag)
    if release.immutable:
        raise ReleaseError(f"{name} cannot be uploaded: {immutable_message(store.assets_repo(), [tag])}")
    temp_name = name + TEMP_SUFFIX
    try:
        existing = {a.name: a for a in _assets(store, release)}
        current, leftover = existing.get(name), existing.get(temp_name)
        if leftover is not None:
            if current is None and _matches(leftover, sha256, size):
                return UploadResult(
                    store.to_asset(_rename(store, leftover, name, leftover.label or "")), True
                )
            _delete(store, leftover)
        if current is not None and _matches(current, sha256, size):
            return UploadResult(store.to_asset(current), False)
        new = _upload_checked(store, release, temp_name, source, sha256=sha256, size=size, progress=progress)
        final = _swap(store, current, new, name, (current.label if current is not None else "") or "")
    except _ERRORS as exc:
        raise store.fail(f"replacing {name} in release {tag}", exc) from None
    return UploadResult(store.to_asset(final), True)


def _upload_checked(
    store: GithubStore,
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
            store.http(), release.upload_url, store.token(), temp_name, source, size, moved
        )
        return int(document["id"])

    try:
        asset_id = call(
            store.policy(),
            attempt,
            retry_also=_already_exists,
            before_retry=lambda: _delete_temps(store, release, temp_name),
        )
    except _ERRORS:
        _delete_temps(store, release, temp_name)
        raise
    new = call(store.policy(), lambda: store.repo().get_release_asset(asset_id).complete())
    reported = _digest_of(store, new)
    if new.state != "uploaded" or new.size != size or reported != f"sha256:{sha256}":
        _delete(store, new)
        raise ReleaseError(
            f"GitHub holds {new.size} bytes ({reported}) for the upload of {source.name}, expected {size} "
            f"bytes (sha256:{sha256}): the upload was discarded and the old asset kept; run again",
            CHECK_FAILED,
        )
    return new


def download_asset(
    store: GithubStore, tag: str, name: str, dest: Path, *, progress: Progress | None = None
) -> str:
    release = store.git_release(tag)
    try:
        found = [a for a in _assets(store, release) if a.name == name and a.state == "uploaded"]
        if not found:
            raise ReleaseError(f"release {tag} has no asset {name}", CHECK_FAILED)
        headers = _transfer.api_headers(store.token(), accept="application/octet-stream")
        moved = _transfer.AttemptProgress(progress)

        def attempt() -> tuple[str, int]:
            moved.rewind()
            return _transfer.download_to(store.http(), found[0].url, dest, headers, moved)

        sha256, _ = call(store.policy(), attempt)
    except _ERRORS as exc:
        raise store.fail(f"downloading {name} from release {tag}", exc) from None
    return sha256


def verify_public(store: GithubStore, url: str, *, sha256: str, size: int, attempts: int = 7) -> bool:
    """True once ``url`` serves exactly these bytes; False if it still does not after the retries."""

    def fetch() -> bool:
        return _transfer.hash_url(store.http(), url) == (sha256, size)

    def worth_retrying(exc: BaseException) -> bool:
        return is_transient(exc) or http_status(exc) == 404

    retrying: Retrying = Retrying(
        retry=retry_if_result(lambda ok: not ok) | retry_if_exception(worth_retrying),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=2, max=30),
        sleep=store.policy().sleep,
        retry_error_callback=lambda state: False,
    )
    try:
        return bool(retrying(fetch))
    except _ERRORS:
        return False
