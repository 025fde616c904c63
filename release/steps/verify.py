"""``verify [--channel stable|beta]``: the definition of done (docs/rules.md#r9) as a table.

Rules:
- Every item runs, so one run names every failure (exit 1), each as its own row, and the table is
  printed whatever is down. The first row, ``reachable``, asks every endpoint the other rows read
  (feeds, asset downloads, gRPC) whether it answers at all; a row that needs a silent one is
  skipped, naming it, so one cause is one failed row, and the ``reachable`` row says what to do
  (``./inv sandbox.up`` on the sandbox; the silent URLs in production). A ReleaseError inside a row
  (a store or VM that cannot be asked) is that row's detail, never an exit without the table.
- Rows: assets present in the fixed releases with the manifest's size and sha256
  (``release.steps.stored``: the store's metadata, with expected and found sha256 and the fix on a
  mismatch; then the bytes served at the public URLs hashed);
  the manifest points at the fixed URLs; the repo's pair ``manifest.json`` /
  ``manifest_<version>.json`` is identical; the VM's pair is identical and in sync (``reconciler
  status`` and ``reconciler diff``); ``/health``, ``/updates/health`` and ``/updates/appcast.xml``
  agree on the version (``/updates/health`` serves the manifest: ``FeedHealth.serves``, version and
  dmg sha256); the beta feed is gated as desired; ``signature``: the bytes served at the
  public URLs verify against the app's ``SUPublicEDKey`` (``release.steps.served_signature``);
  ``update controls``: the served item carries the manifest's controls, link and dates;
  ``grpc``: the channel's gRPC endpoint (production for stable, staging for beta) answers
  ``grpc.health.v1.Health/Check``.
- For ``--channel beta`` the same questions are asked of the beta release and the staging feed
  (no repo pair: beta has no versioned manifest; ``appcast`` reads ``appcast-beta.xml``, which
  answers only while the gate is open).
- Read-only: ``--dry-run`` only lists the checks.
- The rows are the verify stages' rows of the one check registry (``release.steps.checks``):
  the dry run lists them and the real run runs them, so adding a check is one entry (and its
  function).
"""

from __future__ import annotations

from release.errors import ReleaseError
from release.parts.desired import read_beta, read_stable
from release.parts.session import Session
from release.steps.checks import registry
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from schemas import Channel, CheckResult

__all__ = ["stage_of", "verify"]


def stage_of(channel: Channel) -> Stage:
    return Stage.STABLE if channel is Channel.STABLE else Stage.BETA


def verify(session: Session, channel: Channel = Channel.STABLE) -> list[CheckResult]:
    target = session.target
    manifest = read_stable(target) if channel is Channel.STABLE else read_beta(target)
    if manifest is None:
        file = "manifest.json" if channel is Channel.STABLE else "manifest_beta.json"
        raise ReleaseError(f"no {file}: nothing to verify on {channel.value} yet")
    subject = Subject(session, stage_of(channel), channel, manifest)
    if session.dry_run:
        names = registry.listed(subject)
        session.say(f"plan: check {', '.join(names)} for {channel.value} {manifest.version} (read-only)")
        plans = registry.plans(subject)
        for line in plans.values():
            session.say(f"plan: {line}")
        session.emit({"dry_run": True, "checks": names, **plans})
        return []
    checks = registry.run(subject)
    session.finish_checks(
        f"verify {channel.value} {manifest.version}",
        checks,
        {
            "ok": all(c.ok for c in checks),
            "version": manifest.version,
            "checks": [c.model_dump() for c in checks],
        },
        "verify failed",
    )
    session.say(f"verified: {channel.value} {manifest.version} is done by the rulebook's definition")
    return checks
