"""``preflight``: the pre-release checklist (docs/rules.md#r11) as a table.

Rules:
- Every item runs even when an earlier one failed, so one run names every problem (exit 1).
- Items: store credentials usable; the channel's inbox artifacts present; production ``/health``
  answers (the code deploy is done); the VM's required env keys present (names only, from
  ``reconciler status``: the one remote call) and the build its reconciler runs is the one this
  checkout makes (``VM side``; ``vm.check`` compares the units too); the channel's fixed releases exist and are mutable;
  the legacy runtime manifest does not conflict with the canonical one; the secret scan is clean;
  the signing key loads and matches ``SUPublicEDKey`` in the app's Info.plist (one line naming both
  public keys when not), or the target does not sign and the app has no key;
  ``grpc``: the production gRPC endpoint answers ``grpc.health.v1.Health/Check`` (release.outside.grpcsmoke);
  then the archive rows (``release.parts.inspection``): inside the dmg and pkg, the app's versions,
  ``SUPublicEDKey``, ``SUFeedURL``, ``LSMinimumSystemVersion``, the pkg's version, the notes'
  heading and the code signature (codesign, spctl and stapler on macOS); ``fresh bytes``: no
  inbox archive is the previous stable or beta release's (with ``yes``, publish's ``--yes``, a
  warning that passes).
- ``publish`` runs the same list without the VM items, because a publish makes exactly one remote
  call (its sync); ``./inv preflight`` is where the VM is asked.
- The rows are the preflight stages' rows of the one check registry (``release.steps.checks``,
  publish's stage without the VM rows); the run reads them in the registry's order.
- Read-only: nothing is written anywhere, so ``--dry-run`` is the same run, with one exception:
  the ``grpc`` row is not called; a ``plan:`` line names each gRPC endpoint it would call and the
  row says "not called (dry run)" (it fails only when the target names no gRPC endpoint).
"""

from __future__ import annotations

from pathlib import Path

from release.parts.session import Session
from release.parts.signing import KeyCheck
from release.steps.checks import registry
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from schemas import Channel, CheckResult

__all__ = ["run_preflight"]


def run_preflight(
    session: Session,
    channel: Channel,
    *,
    vm: bool = True,
    signing: KeyCheck | None = None,
    yes: bool = False,
    source: Path | None = None,
) -> list[CheckResult]:
    """The rows; ``source`` is the checkout the VM side is built from (the ``VM side`` row), asked
    only with the VM items."""
    stage = Stage.PREFLIGHT if vm else Stage.PUBLISH
    subject = Subject(session, stage, channel, signing_given=signing, yes=yes, source=source or Path.cwd())
    return registry.run(subject)
