"""The ``signature`` row of ``verify`` and ``staging.validate``: what a Sparkle client would check.

Rules:
- The bytes are downloaded from the public URL (the one clients use), to a temporary file, and
  verified as ``Autoupdate/SUSignatureVerifier.m`` does: Ed25519 over the whole file with the
  app's ``SUPublicEDKey`` (from the Info.plist the target names). Each asset is downloaded once:
  ``downloads`` streams it into the file while hashing it, so ``staging.validate`` checks the
  sha256 (its ``download`` rows) and the signature of the same bytes.
- The dmg is checked with the signature the feed serves on its enclosure (what a client gets), which
  must also be the manifest's; the pkg, which the feed does not list, with the manifest's. A feed
  with no item for the build fails the row: there is no served signature to check.
- A missing, malformed, wrong or stale signature fails the row naming the asset. An app without
  ``SUPublicEDKey`` passes only when the target does not require signing (Sparkle then falls back to
  Apple code signing, which it logs as deprecated).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from release.errors import ReleaseError
from release.outside.probes import download_hash
from release.parts.session import Session
from release.parts.signing import decode_public_key, plist_public_key, verify_file
from schemas import Artifact, CheckResult, Manifest, SparkleItem

__all__ = ["Download", "Feed", "downloads", "signature_row"]

Feed = tuple[int | None, list[SparkleItem], str]
"""What ``probes.fetch_appcast`` returns: (status code or None, items, detail)."""


@dataclass(frozen=True)
class Download:
    """One asset as served: the file it was streamed into, its sha256 (None when the download
    failed, ``detail`` then says why) and size."""

    artifact: Artifact
    path: Path
    sha256: str | None
    size: int
    detail: str


@contextmanager
def downloads(session: Session, manifest: Manifest, *, progress: bool = False) -> Iterator[list[Download]]:
    """Download the manifest's dmg and pkg from their public URLs into a scratch folder (removed on exit)."""
    target = session.target
    scratch = target.path(target.archive_dir) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        done = []
        for artifact in (manifest.artifact, manifest.installer):
            local = Path(folder) / artifact.name
            url = str(artifact.url)
            with local.open("wb") as handle:
                if progress:
                    with session.progress(f"download {artifact.name}", artifact.size) as advance:
                        sha256, size, detail = download_hash(session.http, url, advance, handle)
                else:
                    sha256, size, detail = download_hash(session.http, url, into=handle)
            done.append(Download(artifact, local, sha256, size, detail))
        yield done


def _row(ok: bool, detail: str) -> CheckResult:
    return CheckResult(name="signature", ok=ok, detail=detail[:300])


def signature_row(
    session: Session, manifest: Manifest, feed: Feed, files: Sequence[Download] | None = None
) -> CheckResult:
    """The row for ``manifest`` as ``feed`` serves it; ``files`` are the downloads already made
    (``downloads``), else the assets are downloaded here when there is a key to check them with."""
    target = session.target
    try:
        plist, public = plist_public_key(target)
    except ReleaseError as exc:
        return _row(False, str(exc))
    required = target.signing is not None and target.signing.required
    if public is None:
        if required:
            return _row(False, "the app's Info.plist has no SUPublicEDKey but the target requires signing")
        return _row(True, "not checked: the app has no SUPublicEDKey (Sparkle falls back to code signing)")
    key = decode_public_key(public)
    if key is None:
        return _row(
            False, f"SUPublicEDKey {public.strip()!r} is not base64 of 32 bytes: Sparkle rejects every update"
        )
    if files is None:
        with downloads(session, manifest) as made:
            return signature_row(session, manifest, feed, made)
    _, items, _ = feed
    item: SparkleItem | None = next((i for i in items if i.version == manifest.build), None)
    problems = []
    checks: list[tuple[Artifact, str | None]] = [(manifest.installer, manifest.installer.ed_signature)]
    if item is None:
        # Checking the manifest's signature instead would pass without looking at what clients get.
        problems.append(f"{manifest.artifact.name}: feed serves no item for build {manifest.build}")
    else:
        if item.ed_signature != manifest.artifact.ed_signature:
            problems.append(f"{manifest.artifact.name}: the feed's sparkle:edSignature is not the manifest's")
        checks.insert(0, (manifest.artifact, item.ed_signature))
    by_name = {download.artifact.name: download for download in files}
    for artifact, served in checks:
        download = by_name[artifact.name]
        failed = download.detail if download.sha256 is None else None
        if failed is None:
            try:
                failed = verify_file(key, served, download.path)
            except ReleaseError as exc:
                failed = str(exc)
        if failed is not None:
            problems.append(f"{artifact.name}: {failed}")
    if problems:
        return _row(False, "; ".join(problems))
    names = f"{manifest.artifact.name}, {manifest.installer.name}"
    shown = plist.name if plist is not None else "Info.plist"
    return _row(True, f"{names}: served bytes verify with {shown} SUPublicEDKey {public.strip()}")
