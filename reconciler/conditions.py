"""Which alert conditions hold after a pass or a probe round, in the words an operator reads.

Rules:
- A condition is (resource, kind); ``AlertManager`` turns the set that holds now into firing and
  resolved alerts, so this module only describes the present, it never remembers.
- A difference that a rollout (a new desired digest) is about to write in ``enforce`` mode is not
  drift; the same difference in ``observe`` mode is, since nobody will write it.
- An invalid desired file (the bundle, or an old-layout file) is one condition; the resources it
  drives report no second one.
"""

from __future__ import annotations

from collections.abc import Collection

from schemas import HealthState

from .alerts import Alert
from .desired import Desired, desired_file
from .plan import Plan

__all__ = ["health_conditions", "pass_conditions"]


def _drift_done(name: str, healed: Collection[str], mode: str) -> str:
    if name in healed:
        return "healed (rewrote atomically)"
    return "left alone (observe mode)" if mode == "observe" else "not healed"


def pass_conditions(
    desired: Desired, plan: Plan, healed: Collection[str], *, rollout: bool, mode: str
) -> list[Alert]:
    found = [
        Alert(
            "desired",
            f"invalid_{name}",
            expected=f"a valid {desired_file(name)}",
            found=error,
            done="nothing written; waiting for the desired state to change",
        )
        for name, error in desired.errors.items()
    ]
    for r in plan.resources:
        if r.state == "drift" and not (rollout and mode == "enforce" and r.writes):
            done = _drift_done(r.name, healed, mode)
            found.append(Alert(r.name, "drift", expected=r.expected, found=r.found, done=done))
        elif r.state == "error" and not r.from_desired:
            found.append(Alert(r.name, "error", expected=r.expected, found=r.found, done="nothing written"))
    return found


def health_conditions(health: dict[str, HealthState]) -> list[Alert]:
    return [
        Alert(
            name,
            "unhealthy",
            expected="endpoints serve the desired state",
            found=state.detail,
            done="reported; sync unaffected",
        )
        for name, state in health.items()
        if not state.ok
    ]
