"""The ``Store`` protocol: fixed releases whose assets are replaced in place.

Rules every backend keeps:
- Fixed releases are found by tag and never created; no backend creates a tag or a branch.
  A missing, draft or immutable release is a ``ReleaseError`` (exit 2) saying what to do.
- ``upload`` replaces an asset in place: the new bytes go under a temporary name, are checked by
  size and sha256, and only then take the real name. An asset whose sha256 already matches is
  skipped (``UploadResult.transferred`` is False). Leftover temporary assets are cleaned first.
- Transfers stream in chunks: memory stays flat whatever the artifact size. ``progress`` gets the
  number of bytes moved by each chunk.
- ``set_notes`` writes the release's body (GitHub's release description) and nothing else: never
  the tag, the name or the assets; the same text already there is a skip (False), told by one read.
- ``verify`` fetches the public URL and hashes it, retrying while a CDN may serve old bytes
  (``stream.verify_public``, the same check for every backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from release.outside.stream import Progress

__all__ = ["Asset", "FixedRelease", "Progress", "Store", "UploadResult"]


@dataclass(frozen=True)
class Asset:
    name: str
    size: int
    sha256: str | None  # None when the backend does not report a digest
    url: str  # the public download URL clients use


@dataclass(frozen=True)
class FixedRelease:
    tag: str
    immutable: bool
    assets: tuple[Asset, ...]
    body: str | None = None  # the release's description ("" when empty); None when not read

    def asset(self, name: str) -> Asset | None:
        return next((a for a in self.assets if a.name == name), None)


@dataclass(frozen=True)
class UploadResult:
    asset: Asset
    transferred: bool


class Store(Protocol):
    def describe(self) -> str:
        """One line naming where assets go (for plans and tables); never a secret."""

    def check_access(self) -> str:
        """Raise ReleaseError if credentials are missing or rejected; else say who we are."""

    def release(self, tag: str) -> FixedRelease:
        """The fixed release for ``tag``; ReleaseError if missing, draft or immutable-and-needed."""

    def upload(
        self, tag: str, name: str, source: Path, *, sha256: str, size: int, progress: Progress | None = None
    ) -> UploadResult:
        """Replace ``name`` in release ``tag`` with ``source`` (skip if the sha256 already matches)."""

    def download(self, tag: str, name: str, dest: Path, *, progress: Progress | None = None) -> str:
        """Stream the asset to ``dest`` (atomically) and return its sha256."""

    def set_notes(self, tag: str, text: str) -> bool:
        """Make ``text`` the body of release ``tag``; False (nothing written) when it already is."""

    def verify(self, tag: str, name: str, *, sha256: str, size: int) -> bool:
        """True when the public URL serves exactly these bytes (with retries for a stale CDN);
        ReleaseError when it still cannot be reached after them."""
