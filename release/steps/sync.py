"""``sync``: send the desired bundle to the VM in one remote call.

Rules: the bundle is built only from ``manifests/``; the call is journaled; ``--dry-run`` shows
the bundle's digest and contents and sends nothing.
"""

from __future__ import annotations

from typing import Any

from release.parts.desired import to_bundle
from release.parts.session import Session
from release.steps import flow
from release.steps.flow import dry_run_done
from release.steps.flow import sync as send

__all__ = ["sync_task"]


def sync_task(session: Session, wait_s: float = flow.SYNC_WAIT_S) -> dict[str, Any]:
    bundle = to_bundle(session.target)
    parts = {
        "stable": bundle.stable.version if bundle.stable else None,
        "beta": bundle.beta.version if bundle.beta else None,
        "gate": bundle.gate.enabled if bundle.gate else None,
    }
    report: dict[str, Any] = {"digest": bundle.digest(), "bundle": parts, "dry_run": session.dry_run}
    if session.dry_run:
        steps = [f"send bundle {bundle.digest()[:12]} {parts} to {session.remote.describe()} (one call)"]
        return dry_run_done(session, steps, report | {"steps": steps})
    with session.change() as change:
        change.details.append(f"bundle {bundle.digest()[:12]}")
        result = send(session, wait_s)
    report.update(ok=True, changed=result.changed, converged=result.converged, resources=result.resources)
    session.emit(report)
    return report
