"""Where a row of the check registry (``release.steps.checks``) applies.

Rules: one member per command that shows a check table; publish's own preflight is its own stage
because it asks nothing of the VM (its one remote call is its sync).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Stage"]


class Stage(Enum):
    """Where a row applies: ``./inv preflight``, publish's own preflight (no VM items),
    ``staging.validate``, and ``verify`` on each channel."""

    PREFLIGHT = "preflight"
    PUBLISH = "publish"
    STAGING = "staging"
    STABLE = "verify stable"
    BETA = "verify beta"
