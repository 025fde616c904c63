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
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FakeAsset", "FakeGithub", "FakeRelease"]

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass
class FakeAsset:
    id: int
    name: str
    path: Path
    size: int
    sha256: str
    state: str = "uploaded"
    label: str = ""


@dataclass
class FakeRelease:
    id: int
    tag: str
    draft: bool = False
    immutable: bool = False
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
    retry_after: int = 0
    server_errors: int = 0
    stale_cdn_reads: int = 0
    cut_downloads: int = 0
    corrupt_uploads: int = 0
    report_digests: bool = True
    requests: list[tuple[str, str]] = field(default_factory=list)
    base_url: str = ""
    stale: dict[tuple[str, str], Path] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_release(self, tag: str, *, draft: bool = False, immutable: bool = False) -> FakeRelease:
        release = FakeRelease(id=next(self.ids), tag=tag, draft=draft, immutable=immutable)
        self.releases[release.id] = release
        return release

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
            "label": asset.label or None,
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
            "name": release.tag,
            "body": "",
            "draft": release.draft,
            "prerelease": False,
            "immutable": release.immutable,
            "created_at": "2025-01-01T00:00:00Z",
            "published_at": None if release.draft else "2025-01-01T00:00:00Z",
            "assets": [self.asset_json(release, a) for a in release.assets.values()],
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
