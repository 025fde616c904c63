"""staging.validate's rows (``release.steps.checks``): what a beta client would see on staging.

Rules:
- ``beta appcast``: version, short version, enclosure length and URL equal the beta manifest (a
  404 is the closed gate, one failed row); ``staging /health``; ``staging /updates/health``: the
  beta manifest's version and dmg sha256 (``FeedHealth.serves``).
- ``download <asset>``: both assets downloaded over HTTPS once (``Subject.files``) and hashed
  against the manifest; skipped, with ``signature``, while the gate is closed (nothing to download
  for: no beta client is served) or an endpoint they read is silent (``fetched_cause``).
- ``TLS <side>``: a real TLS handshake on each endpoint the target marks secure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from release.outside.probes import get_health, origin, tls_handshake
from release.parts.client_view import offered_release
from release.parts.session import ssl_context
from release.steps.checks.row import check
from release.steps.checks.subject import Subject
from release.steps.served_signature import Download
from schemas import Channel, CheckResult, FeedHealth, ServerHealth
from schemas.target import Endpoint

Side = Literal["production", "staging"]

__all__ = [
    "Side",
    "appcast",
    "download_names",
    "downloads",
    "fetched",
    "fetched_cause",
    "health",
    "staging",
    "tls",
    "tls_applies",
    "tls_needs",
    "updates_health",
]


def staging(subject: Subject) -> tuple[str, ...]:
    return (subject.base,)


def fetched(subject: Subject) -> tuple[str, ...]:
    """What the download and signature rows read: the staging feed and both asset URLs."""
    beta = subject.manifest
    return (subject.base, str(beta.artifact.url), str(beta.installer.url))


def fetched_cause(subject: Subject) -> str:
    """Why nothing is downloaded: staging silent, the gate closed (a closed gate serves no beta
    client, and the signature row checks the served item, which is not there either), or a silent
    asset URL."""
    if subject.reach.silent(staging(subject)):
        return f"{origin(subject.base)} did not answer"
    if subject.feed[0] == 404:
        return "the beta gate is closed (no beta appcast)"
    silent = subject.reach.silent(fetched(subject)[1:])
    return f"{', '.join(silent)} did not answer" if silent else ""


def appcast(subject: Subject) -> CheckResult:
    beta = subject.manifest
    code, items, detail = subject.feed
    if code == 404:
        return check("beta appcast", False, "404: the beta gate is closed; run ./inv staging.open")
    # Judged as a Sparkle client chooses (release/parts/client_view.py), not by the feed's first item.
    item, offered = offered_release(subject.target, beta, items) if detail == "ok" else (None, detail)
    if item is None:
        return check("beta appcast", False, offered)
    problems = []
    if item.short_version != beta.version:
        problems.append(f"shortVersionString {item.short_version} != {beta.version}")
    if item.length != beta.artifact.size:
        problems.append(f"length {item.length} != {beta.artifact.size}")
    if item.url != str(beta.artifact.url):
        problems.append(f"url {item.url} != {beta.artifact.url}")
    # The URL equals the manifest's (checked above); its tag/name keeps the row readable at 80 columns.
    named = "/".join(str(beta.artifact.url).rsplit("/", 2)[-2:])
    ok_detail = f"{offered}, length {item.length}, url …/{named}"
    return CheckResult(name="beta appcast", ok=not problems, detail="; ".join(problems) or ok_detail)


def health(subject: Subject) -> CheckResult:
    document, detail = get_health(subject.session.http, f"{subject.base}/health", ServerHealth)
    return CheckResult(
        name="staging /health",
        ok=document is not None,
        detail=f"status {document.status}" if document else detail,
    )


def updates_health(subject: Subject) -> CheckResult:
    """Staging serves the beta manifest (``FeedHealth.serves``: version and dmg sha256)."""
    updates, detail = get_health(subject.session.http, f"{subject.base}/updates/health", FeedHealth)
    if updates is None:
        return CheckResult(name="staging /updates/health", ok=False, detail=detail)
    return CheckResult(
        name="staging /updates/health",
        ok=updates.serves(Channel.BETA, subject.manifest),
        detail=f"beta {updates.version(Channel.BETA)}, status {updates.status}",
    )


def download_names(subject: Subject) -> tuple[str, ...]:
    beta = subject.manifest
    return tuple(f"download {artifact.name}" for artifact in (beta.artifact, beta.installer))


def _download(download: Download) -> CheckResult:
    artifact, sha256, size = download.artifact, download.sha256, download.size
    ok = sha256 == artifact.sha256 and size == artifact.size
    shown = f"{size} bytes, sha256 {sha256[:12]}…" if sha256 else download.detail
    return CheckResult(name=f"download {artifact.name}", ok=ok, detail=shown)


def downloads(subject: Subject) -> list[CheckResult]:
    return [_download(file) for file in subject.files]


def _endpoint(subject: Subject, side: Side) -> Endpoint:
    endpoints = subject.target.endpoints
    return endpoints.production if side == "production" else endpoints.staging


def tls_applies(side: Side) -> Callable[[Subject], bool]:
    return lambda subject: _endpoint(subject, side).secure


def tls_needs(side: Side) -> Callable[[Subject], tuple[str, ...]]:
    return lambda subject: (str(_endpoint(subject, side).url),)


def tls(side: Side) -> Callable[[Subject], CheckResult]:
    def handshake(subject: Subject) -> CheckResult:
        ok, detail = tls_handshake(str(_endpoint(subject, side).url), ssl_context(subject.target))
        return CheckResult(name=f"TLS {side}", ok=ok, detail=detail)

    return handshake
