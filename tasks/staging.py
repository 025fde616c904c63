"""``staging.*``: the beta window on the staging service (open, validate, close).

Rules: opening and closing only change ``manifests/beta_gate.json`` and sync it; the reconciler on
the VM flips ``UPDATE_BETA_ENABLED`` and runs the staging action. ``validate`` binds its result to
the beta fingerprint, so a re-publish needs a new validation before ``promote``.
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from release.console import guard
from release.flow import task_lock

from ._options import COMMON, open_session

__all__ = ["staging"]


@task(name="open", help={"reason": "why the beta window opens (logged)", **COMMON})
@guard
def staging_open(
    c: Context, reason: str = "", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Open the beta gate (UPDATE_BETA_ENABLED=true) and start staging."""
    from release.staging import set_gate

    session = open_session(c, target, "staging.open", json, dry_run)
    with task_lock(session):
        set_gate(session, True, reason)


@task(name="close", help={"reason": "why the beta window closes (logged)", **COMMON})
@guard
def staging_close(
    c: Context, reason: str = "", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Close the beta gate: /updates/appcast-beta.xml answers 404."""
    from release.staging import set_gate

    session = open_session(c, target, "staging.close", json, dry_run)
    with task_lock(session):
        set_gate(session, False, reason)


@task(name="validate", help=COMMON)
@guard
def staging_validate(
    c: Context, target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """The rulebook's step B on staging; writes validation_beta.json for the beta fingerprint."""
    from release.staging import validate

    session = open_session(c, target, "staging.validate", json, dry_run)
    with task_lock(session):
        validate(session)


staging = Collection("staging", staging_open, staging_close, staging_validate)
