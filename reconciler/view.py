"""Views computed without a daemon: a dry status for ``status``/``diff``, and status freshness.

Rules: nothing here writes; a dry view has ``pid`` 0 and no health (probes belong to the daemon).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from schemas import ResourceState, Status, utcnow
from schemas.status import SyncState

from .config import Config
from .desired import read_desired
from .envfile import present_keys
from .plan import Plan, compute_plan, read_bytes

__all__ = ["dry_view", "max_status_age", "sync_state"]


def sync_state(state: str, healed: bool) -> SyncState:
    if healed and state == "in_sync":
        return "healed"
    states: dict[str, SyncState] = {
        "in_sync": "in_sync",
        "drift": "drifted",
        "error": "error",
        "unmanaged": "absent",
    }
    return states[state]


def max_status_age(config: Config) -> timedelta:
    """How old a live daemon's status.json may be: it is rewritten at least every resync."""
    return timedelta(seconds=2 * config.resync_seconds * (1 + config.resync_jitter) + 30)


def dry_view(config: Config, wall: Callable[[], datetime] = utcnow) -> tuple[Plan, Status]:
    """The plan and a status document computed without writing anything (no daemon: pid 0)."""
    desired = read_desired(config.desired_dir)
    plan = compute_plan(desired, config.layout)
    env_data = read_bytes(config.layout.config_env_path) or b""
    status = Status(
        updated_at=wall(),
        mode=config.mode,
        pid=0,
        desired_digest=plan.digest,
        stable_version=desired.stable.version if desired.stable else None,
        beta_version=desired.beta.version if desired.beta else None,
        gate=desired.gate.enabled if desired.gate else None,
        resources={
            r.name: ResourceState(sync=sync_state(r.state, False), detail=r.detail()) for r in plan.resources
        },
        env_keys=present_keys(env_data, config.required_env_keys),
    )
    return plan, status
