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
- The rows are the staging stage's rows of the one check registry (``release.steps.checks``): the
  dry run lists their names (and the gRPC call it would make), the real run asks the same rows.
"""

from __future__ import annotations

from typing import Any

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.probes import fetch_appcast, wait_until
from release.parts.desired import gate_path, read_beta, read_gate, validation_path, write
from release.parts.session import Session
from release.steps import flow
from release.steps.checks import registry
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from release.steps.flow import beta_appcast_url, dry_run_done, sync, sync_step
from schemas import BetaGate, Channel, Validation

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


def validate(session: Session) -> Validation | None:
    """Check staging and record the result; None for a dry run (nothing is checked or written)."""
    target = session.target
    beta = read_beta(target)
    if beta is None:
        raise ReleaseError("no manifest_beta.json: publish --channel beta first")
    subject = Subject(session, Stage.STAGING, Channel.BETA, beta)
    if session.dry_run:
        names = registry.listed(subject)
        steps = [f"check {', '.join(names)} on {subject.base}", f"write {validation_path(target).name}"]
        steps += registry.plans(subject).values()
        report = {
            "version": beta.version,
            "fingerprint": beta.fingerprint,
            "checks": names,
            "steps": steps,
            "dry_run": True,
        }
        dry_run_done(session, steps, report)
        return None
    checks = registry.run(subject)
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
