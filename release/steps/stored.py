"""What the store holds for a manifest's dmg and pkg, compared with the manifest (``status``, ``verify``).

Rules:
- Size and sha256 come from the store's own metadata where it has them: GitHub's asset ``digest``
  (``sha256:<hex>`` or null, on every asset uploaded since June 2025: GitHub changelog 2025-06-03
  "Releases now expose digests for release assets"; PyGithub's ``GitReleaseAsset.digest``,
  PyGithub/PyGithub#3324; read by ``store._replace.asset_of``), the sandbox store hashing its file
  (``release.outside.stream``, streamed). Only an asset whose store reports no digest (an older
  GitHub asset, an older GitHub Enterprise) has its public URL hashed instead, streamed, nothing kept.
- A mismatch names both sizes and both sha256s and the command that puts the manifest's bytes back
  (``fix``): a rollback to the same version re-uploads its archived bytes (promote would skip: same
  fingerprint; publish refuses a beta that already is stable).
- A store that cannot be asked is a row saying why, never an exception out of the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.errors import ReleaseError
from release.outside.probes import download_hash
from release.parts.session import Session
from schemas import Artifact, Channel, Manifest

__all__ = ["Stored", "fix", "short", "stored"]


def short(sha256: str | None, digits: int = 16) -> str:
    """A sha256 as tables show it: ``digits`` hex digits (enough to compare by eye, short enough to fit)."""
    return f"{sha256[:digits]}…" if sha256 else "unknown"


def fix(channel: Channel, version: str) -> str:
    """The command that uploads the manifest's own bytes again into the channel's fixed releases.

    A rollback to the very version re-uploads its archived bytes (hashed first) where the store's
    differ: it works whether or not the inbox still holds them, and, unlike publish, also once
    that version is stable (publish refuses a version not newer than stable)."""
    channel_flag = " --channel beta" if channel is Channel.BETA else ""
    return f"publish the archived bytes again: ./inv rollback{channel_flag} --to {version} --yes"


@dataclass(frozen=True)
class Stored:
    """One asset: what the manifest wants and what the store holds (``None``: could not tell)."""

    tag: str
    want: Artifact
    size: int | None
    sha256: str | None
    source: str  # "store metadata", "download", or why nothing is known

    @property
    def ok(self) -> bool:
        return self.size == self.want.size and self.sha256 == self.want.sha256

    def describe(self) -> str:
        where = f"{self.tag}/{self.want.name}"
        if self.size is None:
            return f"{where}: {self.source}"
        if self.ok:
            return f"{where}: {self.size} bytes, sha256 {short(self.sha256)}"
        return (
            f"{where} is {self.size} bytes, sha256 {short(self.sha256)}; the manifest says "
            f"{self.want.size} bytes, sha256 {short(self.want.sha256)}"
        )


def _one(session: Session, tag: str, want: Artifact) -> Stored:
    try:
        asset = session.store.release(tag).asset(want.name)
    except ReleaseError as exc:
        return Stored(tag, want, None, None, str(exc))
    if asset is None:
        return Stored(tag, want, None, None, "missing from the store")
    if asset.sha256 is not None or asset.size != want.size:
        return Stored(tag, want, asset.size, asset.sha256, "store metadata")
    # No digest from the store, and the size alone proves nothing: hash what clients download.
    sha256, size, detail = download_hash(session.http, asset.url)
    if sha256 is None:
        return Stored(tag, want, None, None, detail)
    return Stored(tag, want, size, sha256, "download")


def stored(session: Session, channel: Channel, manifest: Manifest) -> list[Stored]:
    """The dmg and the pkg of ``manifest`` as the channel's fixed releases hold them."""
    tags = session.target.channels.tags(channel)
    return [_one(session, tags.dmg_tag, manifest.artifact), _one(session, tags.pkg_tag, manifest.installer)]
