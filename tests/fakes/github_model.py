"""The fake GitHub's state: releases, assets, fault switches, and the documented JSON shapes.

Rules:
- Objects are shaped like GitHub's release and release-asset objects (``digest``, ``state``,
  ``size``, ``browser_download_url``, ``upload_url`` on the same host under ``/uploads``), so a wrong
  shape fails inside the real PyGithub client, as it would in production.
- Only ``owner_repo`` (the assets repository) exists; anything else answers 404 and stays in the log.
- Fault switches are plain counters on the instance (each fault consumes one); see ``tests.fakes.github``
  for what each does on the wire.
- Everything the tests assert on is readable: ``assets(tag)``, the ``requests`` log (method, path),
  ``writes()`` (every request that could change something).
- Immutability is GitHub's (docs.github.com/en/code-security/concepts/supply-chain-security/
  immutable-releases, and the 422 quoted in community discussion #178351): the repository setting
  (``immutable_releases``) applies to releases published while it is on, and turning it off leaves
  them immutable; deleting an immutable release burns its tag, which no release can use again.
- Shapes come from recordings (``tests/fixtures/recorded/github``): a JSON error has ``message`` and
  ``documentation_url``; every API answer carries the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FakeAsset", "FakeGithub", "FakeRelease", "TagBurned"]

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
# The message of a secondary limit as GitHub words it (PyGithub tests/Requester.py lists it).
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
DOCS = "https://docs.github.com/rest"


class TagBurned(ValueError):
    """Publishing under the tag of a deleted immutable release: GitHub's 422, as a person meets it."""

    def __init__(self, tag: str) -> None:
        self.body = {
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "Release",
                    "code": "custom",
                    "field": "tag_name",
                    "message": "tag_name was used by an immutable release",
                }
            ],
            "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
            "status": "422",
        }
        super().__init__(f"{tag}: tag_name was used by an immutable release")


@dataclass
class FakeAsset:
    id: int
    name: str
    path: Path
    size: int
    sha256: str
    state: str = "uploaded"
    label: str | None = None


@dataclass
class FakeRelease:
    id: int
    tag: str
    draft: bool = False
    immutable: bool = False
    name: str | None = None  # None: GitHub shows the tag
    body: str = ""
    prerelease: bool = False
    assets: dict[int, FakeAsset] = field(default_factory=dict)


@dataclass
class FakeGithub:
    root: Path
    owner_repo: str = "acme/assets"
    token: str = "fake-token"
    push: bool = True
    releases: dict[int, FakeRelease] = field(default_factory=dict)
    # fault switches: how many of the next matching requests fail
    fail_uploads_midway: int = 0
    stall_uploads: int = 0
    stall_s: float = 3.0
    rate_limited: int = 0
    rate_reset_in: int = 1
    secondary_limits: int = 0
    secondary_status: int = 403
    secondary_retry_after: str | None = None
    # Only requests of this method meet the secondary limits (None: any), e.g. "PATCH", the rename.
    secondary_method: str | None = None
    forbidden: int = 0
    asset_get_errors: int = 0
    server_errors: int = 0
    stale_cdn_reads: int = 0
    cut_downloads: int = 0
    corrupt_uploads: int = 0
    report_digests: bool = True
    # the repository's "Enable release immutability" setting
    immutable_releases: bool = False
    burned_tags: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # (the release as it was: tag, name, body; what the PATCH sent) of every release edit
    release_edits: list[tuple[tuple[str, str | None, str], dict[str, Any]]] = field(default_factory=list)
    # (method, path, status) of every answer, in the order they were sent
    answers: list[tuple[str, str, int]] = field(default_factory=list)
    # when (time.monotonic) the last successful write of each method was answered
    write_times: dict[str, float] = field(default_factory=dict)
    # paths the CDN origin was asked for with an Authorization header: must stay empty
    leaked_auth: list[str] = field(default_factory=list)
    remaining: int = 5000
    base_url: str = ""
    cdn_url: str = ""
    stale: dict[tuple[str, str], Path] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add_release(self, tag: str, *, draft: bool = False, immutable: bool | None = None) -> FakeRelease:
        """A release made by hand; published ones are immutable when the setting is on (or if told)."""
        if tag in self.burned_tags:
            raise TagBurned(tag)
        locked = (self.immutable_releases if immutable is None else immutable) and not draft
        release = FakeRelease(id=next(self.ids), tag=tag, draft=draft, immutable=locked)
        self.releases[release.id] = release
        return release

    def publish(self, tag: str) -> FakeRelease:
        """Publish the draft ``tag`` by hand: it locks if the setting is on at that moment."""
        release = self.release(tag)
        release.draft = False
        release.immutable = release.immutable or self.immutable_releases
        return release

    def delete_release(self, tag: str) -> None:
        """Delete ``tag``'s release by hand; an immutable one takes its tag with it for good."""
        release = self.release(tag)
        del self.releases[release.id]
        if release.immutable:
            self.burned_tags.add(tag)

    def release(self, tag: str) -> FakeRelease:
        return next(r for r in self.releases.values() if r.tag == tag)

    def assets(self, tag: str) -> dict[str, FakeAsset]:
        return {a.name: a for a in self.release(tag).assets.values()}

    def put_asset(self, tag: str, name: str, data: bytes) -> FakeAsset:
        path = self.root / f"blob-{next(self.ids)}"
        path.write_bytes(data)
        asset = FakeAsset(next(self.ids), name, path, len(data), hashlib.sha256(data).hexdigest())
        self.release(tag).assets[asset.id] = asset
        return asset

    def find_asset(self, asset_id: int) -> tuple[FakeRelease, FakeAsset] | None:
        for release in self.releases.values():
            if asset_id in release.assets:
                return release, release.assets[asset_id]
        return None

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method in WRITE_METHODS]

    # -- documented shapes --------------------------------------------------------------------

    def api(self, path: str) -> str:
        return f"{self.base_url}/repos/{self.owner_repo}{path}"

    def asset_json(self, release: FakeRelease, asset: FakeAsset) -> dict[str, Any]:
        return {
            "url": self.api(f"/releases/assets/{asset.id}"),
            "browser_download_url": f"{self.base_url}/{self.owner_repo}/releases/download/{release.tag}/{asset.name}",
            "id": asset.id,
            "node_id": f"RA_{asset.id}",
            "name": asset.name,
            "label": asset.label,
            "state": asset.state,
            "content_type": "application/octet-stream",
            "size": asset.size,
            "digest": f"sha256:{asset.sha256}" if asset.state == "uploaded" and self.report_digests else None,
            "download_count": 0,
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "uploader": None,
        }

    def release_json(self, release: FakeRelease) -> dict[str, Any]:
        return {
            "url": self.api(f"/releases/{release.id}"),
            "html_url": f"{self.base_url}/{self.owner_repo}/releases/tag/{release.tag}",
            "assets_url": self.api(f"/releases/{release.id}/assets"),
            "upload_url": f"{self.base_url}/uploads/repos/{self.owner_repo}/releases/{release.id}/assets{{?name,label}}",
            "id": release.id,
            "node_id": f"RE_{release.id}",
            "tag_name": release.tag,
            "target_commitish": "main",
            "name": release.name if release.name is not None else release.tag,
            "body": release.body,
            "draft": release.draft,
            "prerelease": release.prerelease,
            "immutable": release.immutable,
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "published_at": None if release.draft else "2025-01-01T00:00:00Z",
            "assets": [self.asset_json(release, a) for a in release.assets.values()],
            "tarball_url": self.api(f"/tarball/{release.tag}"),
            "zipball_url": self.api(f"/zipball/{release.tag}"),
        }

    def repo_json(self) -> dict[str, Any]:
        return {
            "id": 1,
            "name": self.owner_repo.split("/")[1],
            "full_name": self.owner_repo,
            "url": self.api(""),
            "permissions": {"admin": False, "push": self.push, "pull": True},
            "private": False,
        }
