"""Building the status and plan documents (``schemas.Status``, ``schemas.PlanDocument``): from a pass
(the daemon's and ``once``'s) or dry for ``status``/``diff``. ``statusfile`` stores the status.

Rules: nothing here writes; one builder serves both, so a dry view and a daemon's status.json
never disagree on shape; a dry view has ``pid`` 0 and no health (probes belong to the daemon).
``sync_state`` is the one place the plan's own states become ``schemas.SyncState``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from schemas import (
    AlertRecord,
    HealthState,
    PassRecord,
    PlanDocument,
    PlanEntry,
    ResourceState,
    Status,
    SyncState,
    utcnow,
)
from schemas.fileio import FileRefused, read_regular

from .config import Config
from .desired import Desired, read_desired
from .envgate import ENV_MAX_BYTES
from .envlines import present_keys
from .plan import Plan, compute_plan, read_runtime

__all__ = [
    "build_status",
    "dry_view",
    "installed_build",
    "max_status_age",
    "plan_document",
    "resource_states",
    "sync_state",
]

_SYNC = {
    "in_sync": SyncState.IN_SYNC,
    "drift": SyncState.DRIFTED,
    "error": SyncState.ERROR,
    "unmanaged": SyncState.ABSENT,
}


def sync_state(state: str, healed: bool = False) -> SyncState:
    """A plan state as the documents say it (``healed`` when this pass rewrote an in-sync resource)."""
    if healed and state == "in_sync":
        return SyncState.HEALED
    return _SYNC[state]


def plan_document(plan: Plan, mode: Literal["enforce", "observe"]) -> PlanDocument:
    """What ``diff`` answers: every resource's state and the files a pass would write."""
    return PlanDocument(
        in_sync=plan.in_sync,
        desired_digest=plan.digest,
        resources={
            r.name: PlanEntry(
                state=sync_state(r.state),
                expected=r.expected,
                found=r.found,
                files=[str(w.path) for w in r.writes],
            )
            for r in plan.resources
        },
        mode=mode,
    )


def max_status_age(config: Config) -> timedelta:
    """How old a live daemon's status.json may be: it is rewritten at least every resync."""
    return timedelta(seconds=2 * config.resync_seconds * (1 + config.resync_jitter) + 30)


def resource_states(plan: Plan, healed: tuple[str, ...] = ()) -> dict[str, ResourceState]:
    return {
        r.name: ResourceState(sync=sync_state(r.state, r.name in healed), detail=r.detail())
        for r in plan.resources
    }


def installed_build() -> str | None:
    """The build this process runs, what preflight compares: the ``BUILD`` file ``vm.install``
    puts beside the build's venv (``/opt/nexy-release/<build>/BUILD``, root's); else the bare
    ``nexy-release`` version (a checkout, a venv made by hand)."""
    try:
        data = read_regular(Path(sys.prefix).parent / "BUILD", max_bytes=64)
    except (OSError, FileRefused):
        data = None
    text = data.decode("ascii", "replace").strip() if data else ""
    if text and all(c.isalnum() or c in ".+_-" for c in text):
        return text
    try:
        return version("nexy-release")
    except PackageNotFoundError:
        return None


def build_status(
    config: Config,
    *,
    at: datetime,
    pid: int,
    desired: Desired | None,
    digest: str,
    resources: dict[str, ResourceState],
    health: dict[str, HealthState] | None = None,
    passes: tuple[PassRecord, ...] = (),
    alerts: tuple[AlertRecord, ...] = (),
) -> Status:
    try:
        env_data = read_runtime(config.layout, config.layout.config_env_path, ENV_MAX_BYTES) or b""
    except FileRefused:
        env_data = b""  # the gate resource reports why; keys then read as not set
    return Status(
        build=installed_build(),
        updated_at=at,
        mode=config.mode,
        pid=pid,
        desired_digest=digest,
        stable_version=desired.stable.version if desired and desired.stable else None,
        beta_version=desired.beta.version if desired and desired.beta else None,
        gate=desired.gate.enabled if desired and desired.gate else None,
        resources=resources,
        health=dict(health or {}),
        env_keys=present_keys(env_data, config.required_env_keys),
        passes=passes,
        alerts=alerts,
    )


def dry_view(config: Config, wall: Callable[[], datetime] = utcnow) -> tuple[Plan, Status]:
    """The plan and a status document computed without writing anything (no daemon: pid 0)."""
    desired = read_desired(config.desired_dir)
    plan = compute_plan(desired, config)
    status = build_status(
        config, at=wall(), pid=0, desired=desired, digest=plan.digest, resources=resource_states(plan)
    )
    return plan, status
