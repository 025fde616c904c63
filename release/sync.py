"""``sync``: send the desired bundle to the VM in one remote call.

Rules: the bundle is built only from ``manifests/``; the call is journaled; ``--dry-run`` shows
the bundle's digest and contents and sends nothing.
"""

from __future__ import annotations

from typing import Any

from .desired import to_bundle
from .flow import state_change
from .flow import sync as send
from .session import Session

__all__ = ["sync_task"]


def sync_task(session: Session, wait_s: float = 60.0) -> dict[str, Any]:
    bundle = to_bundle(session.target)
    parts = {
        "stable": bundle.stable.version if bundle.stable else None,
        "beta": bundle.beta.version if bundle.beta else None,
        "gate": bundle.gate.enabled if bundle.gate else None,
    }
    report: dict[str, Any] = {"digest": bundle.digest(), "bundle": parts, "dry_run": session.dry_run}
    if session.dry_run:
        session.say(
            f"plan: send bundle {bundle.digest()[:12]} {parts} to {session.remote.describe()} (one call)"
        )
        session.say("dry run: nothing was changed")
        session.emit(report)
        return report
    with state_change(session) as change:
        change.details.append(f"bundle {bundle.digest()[:12]}")
        result = send(session, wait_s)
    report.update(ok=True, changed=result.changed, converged=result.converged, resources=result.resources)
    session.emit(report)
    return report
