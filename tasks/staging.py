"""``staging.*``: the beta window on the staging service (open, validate, close).

Rules: opening and closing only change ``manifests/beta_gate.json`` and sync it; the reconciler on
the VM flips ``UPDATE_BETA_ENABLED`` and runs the staging action. ``validate`` binds its result to
the beta fingerprint, so a re-publish needs a new validation before ``promote``.
"""

from __future__ import annotations

from invoke.context import Context

from release.parts.session import Session

from ._options import COMMON, load_target_option, task

__all__ = ["staging_close", "staging_open", "staging_validate"]


@task(name="open", help={"reason": "why the beta window opens (logged)", **COMMON})
def staging_open(
    c: Context, reason: str = "", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Open the beta gate (UPDATE_BETA_ENABLED=true) and start staging.

    Example: ./inv staging.open --reason "2.0.0.16 to QA" --dry-run
    """
    from release.steps.staging import set_gate

    loaded = load_target_option(c, target)
    with Session.open(loaded, "staging.open", json=json, dry_run=dry_run, lock=True) as session:
        set_gate(session, True, reason)


@task(name="close", help={"reason": "why the beta window closes (logged)", **COMMON})
def staging_close(
    c: Context, reason: str = "", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Close the beta gate: /updates/appcast-beta.xml answers 404.

    Example: ./inv staging.close --reason "2.0.0.16 validated"
    """
    from release.steps.staging import set_gate

    loaded = load_target_option(c, target)
    with Session.open(loaded, "staging.close", json=json, dry_run=dry_run, lock=True) as session:
        set_gate(session, False, reason)


@task(name="validate", help=COMMON)
def staging_validate(
    c: Context, target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Step B of the funnel on staging (docs/rules.md#r2); writes validation_beta.json for the beta fingerprint.

    Example: ./inv staging.validate --json
    """
    from release.steps.staging import validate

    loaded = load_target_option(c, target)
    with Session.open(loaded, "staging.validate", json=json, dry_run=dry_run, lock=True) as session:
        validate(session)
