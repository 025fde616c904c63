"""``staging.open`` / ``staging.close`` / ``staging.validate``: the beta gate (docs/rules.md#r8) and step B of the funnel (docs/rules.md#r2).

Rules:
- open/close write ``manifests/beta_gate.json`` and sync once; the reconciler flips
  ``UPDATE_BETA_ENABLED`` on the VM and runs the staging action. Then the staging feed is polled
  until the beta appcast answers as the gate says (200 open, 404 closed).
- A gate already as asked, on a VM that already has it (the sync changed nothing), is a no-op:
  it says "nothing changed (the beta gate is already open)" and is journaled ``skip``.
- validate asks first whether staging, the asset URLs and the gRPC endpoint answer at all (the
  ``reachable`` row; a silent one is that row alone, the rows that need it are skipped naming it),
  then the beta gate (the beta appcast; closed is one failed row, and nothing is downloaded: the
  download and signature rows are skipped naming the closed gate), then what a beta client would
  see on staging: ``/health``, ``/updates/health`` (the beta
  manifest's version and dmg sha256, ``FeedHealth.serves``), the beta appcast (version, short version, enclosure length and URL equal the manifest),
  both assets downloaded over HTTPS and hashed against the manifest, and a real TLS handshake on
  every endpoint the target marks secure, the ``signature`` row (the served bytes verify against
  the app's ``SUPublicEDKey``, ``release.steps.served_signature``) and the ``grpc`` row (``Health/Check``
  on the staging gRPC endpoint, ``release.outside.grpcsmoke``: validation cannot pass without it). The
  result is written to ``validation_beta.json`` bound to the beta fingerprint, pass or fail, and a
  failure is exit 1 naming each failed check.
"""

from __future__ import annotations

from typing import Any

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.grpcsmoke import check_row as grpc_row
from release.outside.grpcsmoke import endpoint_of
from release.outside.grpcsmoke import plan_line as grpc_plan
from release.outside.probes import (
    Reach,
    down_fix,
    fetch_appcast,
    get_health,
    origin,
    tls_handshake,
    wait_until,
)
from release.parts.client_view import offered_release
from release.parts.desired import gate_path, read_beta, read_gate, validation_path, write
from release.parts.session import Session, ssl_context
from release.steps import flow
from release.steps.flow import base_url, beta_appcast_url, dry_run_done, sync, sync_step
from release.steps.served_signature import Download, Feed, downloads, signature_row
from schemas import BetaGate, Channel, CheckResult, FeedHealth, Manifest, ServerHealth, Target, Validation

__all__ = ["set_gate", "validate"]

GATE_WAIT_S = 60.0


def _beta_url(session: Session) -> str:
    return beta_appcast_url(session.target)


def set_gate(
    session: Session, enabled: bool, reason: str = "", wait_s: float = flow.SYNC_WAIT_S
) -> dict[str, Any]:
    target = session.target
    current = read_gate(target)
    word = "open" if enabled else "closed"
    steps = [
        f"{'keep' if current and current.enabled == enabled else 'write'} {gate_path(target).name}: {word}",
        sync_step(session),
        f"wait until {_beta_url(session)} answers {200 if enabled else 404}",
    ]
    report: dict[str, Any] = {"gate": enabled, "steps": steps, "dry_run": session.dry_run}
    if session.dry_run:
        return dry_run_done(session, steps, report)
    with session.change() as change:
        change.channel = Channel.BETA
        change.details.append(f"gate {word}")
        same = current is not None and current.enabled == enabled
        if not same:
            write(gate_path(target), BetaGate(enabled=enabled, updated_at=session.clock(), reason=reason))
            session.say(f"wrote {gate_path(target).name}: beta gate {word}")
        synced = sync(session, wait_s)
        want = 200 if enabled else 404

        def check() -> tuple[bool, str]:
            code, _, detail = fetch_appcast(session.http, _beta_url(session))
            return code == want, detail

        ok, detail = wait_until(check, GATE_WAIT_S)
        if not ok:
            raise ReleaseError(f"{_beta_url(session)} still answers {detail}, not {want}", CHECK_FAILED)
        # A gate already as asked, on a VM that already had it, is a no-op and must read as one.
        noop = same and not synced.changed
        if noop:
            change.result = "skip"
            change.details.append(f"nothing changed (the beta gate is already {word})")
    if noop:
        session.say(f"nothing changed (the beta gate is already {word}; {_beta_url(session)} answers {want})")
    else:
        session.say(f"beta gate {word}: {_beta_url(session)} answers {want}")
    session.emit(report | {"ok": True})
    return report


def _appcast(session: Session, beta: Manifest, feed: Feed) -> CheckResult:
    code, items, detail = feed
    if code == 404:
        return CheckResult(
            name="beta appcast", ok=False, detail="404: the beta gate is closed; run ./inv staging.open"
        )
    # Judged as a Sparkle client chooses (release/parts/client_view.py), not by the feed's first item.
    item, offered = offered_release(session.target, beta, items) if detail == "ok" else (None, detail)
    if item is None:
        return CheckResult(name="beta appcast", ok=False, detail=offered[:300])
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


def _download(download: Download) -> CheckResult:
    artifact, sha256, size = download.artifact, download.sha256, download.size
    ok = sha256 == artifact.sha256 and size == artifact.size
    shown = f"{size} bytes, sha256 {sha256[:12]}…" if sha256 else download.detail
    return CheckResult(name=f"download {artifact.name}", ok=ok, detail=shown)


def _skip(name: str, cause: str) -> CheckResult:
    return CheckResult(name=name, ok=False, skipped=True, detail=f"skipped: {cause}")


def _reachable(session: Session, beta: Manifest, staging: str) -> tuple[CheckResult, dict[str, str]]:
    """The first row: does every endpoint validation reads answer at all? (and which did not)"""
    target = session.target
    urls = [staging, str(beta.artifact.url), str(beta.installer.url)]
    urls += [str(e.url) for e in (target.endpoints.production, target.endpoints.staging) if e.secure]
    grpc = endpoint_of(target, "staging")
    urls += [grpc.endpoint] if grpc is not None else []
    silent = Reach(session.http).silent(urls)
    if not silent:
        return CheckResult(name="reachable", ok=True, detail="every endpoint validation reads answers"), {}
    detail = f"{', '.join(silent)} did not answer: {down_fix(target)}"
    return CheckResult(name="reachable", ok=False, detail=detail[:300]), silent


def _health(session: Session, staging: str) -> CheckResult:
    health, detail = get_health(session.http, f"{staging}/health", ServerHealth)
    return CheckResult(
        name="staging /health", ok=health is not None, detail=f"status {health.status}" if health else detail
    )


def _updates_health(session: Session, beta: Manifest, staging: str) -> CheckResult:
    """Staging serves the beta manifest (``FeedHealth.serves``: version and dmg sha256)."""
    updates, detail = get_health(session.http, f"{staging}/updates/health", FeedHealth)
    if updates is None:
        return CheckResult(name="staging /updates/health", ok=False, detail=detail)
    return CheckResult(
        name="staging /updates/health",
        ok=updates.serves(Channel.BETA, beta),
        detail=f"beta {updates.version(Channel.BETA)}, status {updates.status}",
    )


def _checks(session: Session, beta: Manifest, staging: str) -> list[CheckResult]:
    """Every row, each asked only when what it needs answers: the gate before any download (a closed
    gate fails one row, not three), a silent endpoint in the ``reachable`` row alone."""
    target = session.target
    reachable, silent = _reachable(session, beta, staging)
    checks = [reachable]
    if origin(staging) in silent:
        cause = f"{origin(staging)} did not answer"
        names = ["beta appcast", "staging /health", "staging /updates/health"]
        names += [f"download {a.name}" for a in (beta.artifact, beta.installer)] + ["signature"]
        return [*checks, *(_skip(name, cause) for name in names), *_transport(target, silent)]
    feed = fetch_appcast(session.http, _beta_url(session))
    checks.append(_appcast(session, beta, feed))
    checks += [_health(session, staging), _updates_health(session, beta, staging)]
    silent_downloads = [
        origin(str(a.url)) for a in (beta.artifact, beta.installer) if origin(str(a.url)) in silent
    ]
    cause = (
        "the beta gate is closed (no beta appcast)"
        if feed[0] == 404
        else f"{', '.join(dict.fromkeys(silent_downloads))} did not answer"
        if silent_downloads
        else ""
    )
    if cause:
        # Nothing to download for: a closed gate serves no beta client, and the signature row
        # checks the served item, which is not there either.
        checks += [_skip(f"download {a.name}", cause) for a in (beta.artifact, beta.installer)]
        checks.append(_skip("signature", cause))
    else:
        # One download per asset: the download rows hash it and the signature row verifies the same file.
        with downloads(session, beta, progress=True) as files:
            checks += [_download(file) for file in files]
            checks.append(signature_row(session, beta, feed, files))
    return [*checks, *_transport(target, silent)]


def _transport(target: Target, silent: dict[str, str]) -> list[CheckResult]:
    """The TLS handshake on each secure endpoint and the staging gRPC check, each skipped while silent."""
    rows = []
    context = ssl_context(target)
    for name, endpoint in (
        ("production", target.endpoints.production),
        ("staging", target.endpoints.staging),
    ):
        if not endpoint.secure:
            continue
        if origin(str(endpoint.url)) in silent:
            rows.append(_skip(f"TLS {name}", f"{origin(str(endpoint.url))} did not answer"))
            continue
        ok, detail = tls_handshake(str(endpoint.url), context)
        rows.append(CheckResult(name=f"TLS {name}", ok=ok, detail=detail))
    grpc = endpoint_of(target, "staging")
    if grpc is not None and grpc.endpoint in silent:
        rows.append(_skip("grpc", f"{grpc.endpoint} did not answer"))
    else:
        rows.append(grpc_row(target, "staging"))
    return rows


def validate(session: Session) -> Validation | None:
    """Check staging and record the result; None for a dry run (nothing is checked or written)."""
    target = session.target
    beta = read_beta(target)
    if beta is None:
        raise ReleaseError("no manifest_beta.json: publish --channel beta first")
    staging = base_url(target, Channel.BETA)
    if session.dry_run:
        steps = [
            f"check {staging}/health, /updates/health, the beta appcast and both downloads",
            f"TLS handshake on every secure endpoint; write {validation_path(target).name}",
        ]
        steps.append(grpc_plan(target, "staging"))
        report = {"version": beta.version, "fingerprint": beta.fingerprint, "steps": steps, "dry_run": True}
        dry_run_done(session, steps, report)
        return None
    checks = _checks(session, beta, staging)
    result = Validation(
        version=beta.version,
        fingerprint=beta.fingerprint,
        validated_at=session.clock(),
        ok=all(c.ok for c in checks),
        checks=tuple(checks),
    )
    with session.change() as change:
        change.channel, change.version, change.fingerprint = Channel.BETA, beta.version, beta.fingerprint
        write(validation_path(target), result)
        if not result.ok:
            change.result = "failed"
            change.details.append("; ".join(c.name for c in checks if not c.ok))
    session.finish_checks(
        f"staging.validate beta {beta.version}",
        checks,
        result.model_dump(mode="json"),
        "staging validation failed",
    )
    session.say(f"validated beta {beta.version} ({beta.fingerprint[:12]}): promote may run")
    return result
