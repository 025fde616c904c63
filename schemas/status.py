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

from .adoption import ChannelAdoption
from .names import VERSION_MAX, Digest, KeyName, Name

__all__ = [
    "VERSION_MAX",
    "AlertRecord",
    "Digest",
    "HealthState",
    "KeyName",
    "Name",
    "PassRecord",
    "ResourceName",
    "ResourceState",
    "Status",
    "SyncState",
]


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
    resource: Name
    kind: Name
    message: str = Field(default="", max_length=200)


class Status(_Strict):
    updated_at: datetime
    mode: Literal["enforce", "observe"]
    pid: int
    desired_digest: Digest
    stable_version: str | None = Field(default=None, max_length=VERSION_MAX)
    beta_version: str | None = Field(default=None, max_length=VERSION_MAX)
    gate: bool | None = None
    resources: dict[Name, ResourceState] = Field(default={}, max_length=8)
    health: dict[Name, HealthState] = Field(default={}, max_length=4)
    env_keys: dict[KeyName, bool] = Field(default={}, max_length=16)
    passes: tuple[PassRecord, ...] = Field(default=(), max_length=5)
    alerts: tuple[AlertRecord, ...] = Field(default=(), max_length=5)
    build: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[0-9A-Za-z.+_-]+$",
        description="The reconciler's own version (nexy-release as installed): X.Y.Z+<12 hex> for a "
        "build vm.install made, the bare version for a checkout or a venv installed by hand.",
    )
    # Set by the ``status`` command (a scrape at call time), never by the daemon's status.json.
    adoption: dict[Literal["stable", "beta"], ChannelAdoption] = Field(default={}, max_length=2)
