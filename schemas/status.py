"""The reconciler's ``status.json``: what the workstation reads through ``reconciler status --result``.

Rules: one ``SyncState`` vocabulary with one "settled" rule (``SyncState.settled``); sync and
health are reported apart; env keys are names only, never values; the whole document stays small (a few passes and alerts, short details) because Azure Run Command returns
only the last 4,096 bytes of output.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AlertRecord", "HealthState", "PassRecord", "ResourceName", "ResourceState", "Status", "SyncState"]


class ResourceName(StrEnum):
    """What each reconciler resource is called in status, ``diff``, ``accept`` and alerts: the names
    both sides read. The reconciler's resource table (``reconciler/resources.py``) gives each one
    its behaviour and a test keeps the two equal; the workstation looks resources up by these."""

    STABLE = "stable"
    LEGACY = "legacy"
    BETA = "beta"
    CONFIG_VERSION = "config_version"
    GATE = "gate"


class SyncState(StrEnum):
    """A resource's sync state, in status.json, ``status``, ``diff`` and ``accept`` alike."""

    IN_SYNC = "in_sync"
    DRIFTED = "drifted"
    HEALED = "healed"
    """In sync again after this daemon's pass rewrote it."""
    ERROR = "error"
    ABSENT = "absent"
    """Not managed: no desired file names it (runtime files are left as they are)."""

    @property
    def settled(self) -> bool:
        """The one rule for "nothing left to do": neither drifted nor in error."""
        return self not in (SyncState.DRIFTED, SyncState.ERROR)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourceState(_Strict):
    sync: SyncState
    detail: str = Field(default="", max_length=160)


class HealthState(_Strict):
    ok: bool | None = None
    detail: str = Field(default="", max_length=160)


class PassRecord(_Strict):
    at: datetime
    duration_ms: float
    result: Literal["in_sync", "healed", "drift", "error"]
    changed: tuple[str, ...] = ()


class AlertRecord(_Strict):
    at: datetime
    resource: str
    kind: str
    message: str = Field(default="", max_length=200)


class Status(_Strict):
    updated_at: datetime
    mode: Literal["enforce", "observe"]
    pid: int
    desired_digest: str
    stable_version: str | None = None
    beta_version: str | None = None
    gate: bool | None = None
    resources: dict[str, ResourceState] = {}
    health: dict[str, HealthState] = {}
    env_keys: dict[str, bool] = {}
    passes: tuple[PassRecord, ...] = Field(default=(), max_length=5)
    alerts: tuple[AlertRecord, ...] = Field(default=(), max_length=5)
