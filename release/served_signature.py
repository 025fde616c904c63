"""The ``signature`` row of ``verify`` and ``staging.validate``: what a Sparkle client would check.

Rules:
- The bytes are downloaded from the public URL (the one clients use), to a temporary file, and
  verified as ``Autoupdate/SUSignatureVerifier.m`` does: Ed25519 over the whole file with the
  app's ``SUPublicEDKey`` (from the Info.plist the target names).
- The dmg is checked with the signature the feed serves on its enclosure (what a client gets), which
  must also be the manifest's; the pkg, which the feed does not list, with the manifest's. A feed
  with no item for the build fails the row: there is no served signature to check.
- A missing, malformed, wrong or stale signature fails the row naming the asset. An app without
  ``SUPublicEDKey`` passes only when the target does not require signing (Sparkle then falls back to
  Apple code signing, which it logs as deprecated).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from schemas import Artifact, CheckResult, Manifest, SparkleItem

from .errors import ReleaseError
from .hashing import HashingWriter
from .probes import fetch_appcast, stream_to
from .session import Session
from .signing import decode_public_key, plist_public_key, verify_file

__all__ = ["signature_row"]


def _row(ok: bool, detail: str) -> CheckResult:
    return CheckResult(name="signature", ok=ok, detail=detail[:300])


def _download(session: Session, url: str, dest: Path) -> str | None:
    try:
        with dest.open("wb") as handle:
            stream_to(session.http, url, HashingWriter(handle))
    except httpx.HTTPStatusError as exc:
        return f"{url}: HTTP {exc.response.status_code}"
    except httpx.HTTPError as exc:
        return f"{url}: {type(exc).__name__}"
    return None


def signature_row(session: Session, manifest: Manifest, appcast_url: str) -> CheckResult:
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
    _, items, _ = fetch_appcast(session.http, appcast_url)
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
    scratch = target.path(target.archive_dir) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        for artifact, served in checks:
            local = Path(folder) / artifact.name
            failed = _download(session, str(artifact.url), local)
            if failed is None:
                try:
                    failed = verify_file(key, served, local)
                except ReleaseError as exc:
                    failed = str(exc)
            if failed is not None:
                problems.append(f"{artifact.name}: {failed}")
    if problems:
        return _row(False, "; ".join(problems))
    names = f"{manifest.artifact.name}, {manifest.installer.name}"
    shown = plist.name if plist is not None else "Info.plist"
    return _row(True, f"{names}: served bytes verify with {shown} SUPublicEDKey {public.strip()}")
