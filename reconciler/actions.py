"""Actions: commands from the config run once after a resource changed (a service restart).

Rules: the command is the config's ``actions:`` entry under the resource's ``action_key``
(``resources.RESOURCES``), and owed actions run in table order; argv lists only (no shell); a
timeout; the exit status is returned, logged as one ``{"event":"action"}`` line and alerted when
not 0; output is not captured because it could carry secrets. Which actions are owed survives a
crash (see ``owedactions``).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

from schemas.daemonlog import EventLog

from .alerts import Alert, AlertManager
from .config import Config
from .lock import LockTimeout, vm_lock
from .owedactions import PendingActions
from .resources import RESOURCES

__all__ = ["ActionResult", "run_action", "run_owed_actions"]


@dataclass(frozen=True)
class ActionResult:
    resource: str
    argv: tuple[str, ...]
    returncode: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def document(self) -> dict[str, object]:
        return {
            "event": "action",
            "resource": self.resource,
            "returncode": self.returncode,
            "detail": self.describe(),
        }

    def describe(self) -> str:
        command = " ".join(self.argv)[:60]
        if self.error:
            return f"action '{command}' failed: {self.error}"
        return f"action '{command}' exited {self.returncode}"


def run_action(resource: str, argv: tuple[str, ...], timeout_s: float) -> ActionResult:
    try:
        completed = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ActionResult(resource, argv, None, f"timed out after {timeout_s:g}s")
    except OSError as exc:
        return ActionResult(resource, argv, None, exc.strerror or exc.__class__.__name__)
    return ActionResult(resource, argv, completed.returncode)


def run_owed_actions(
    config: Config,
    owed: frozenset[str],
    pending: PendingActions,
    alerts: AlertManager,
    log: EventLog,
) -> None:
    """Run the actions of ``owed`` resources in table order, then forget them on disk."""
    for resource in (r for r in RESOURCES if r.name in owed):
        name = resource.name
        argv = config.actions.get(resource.action_key)
        if not argv:
            continue
        result = run_action(name, tuple(argv), config.action_timeout_s)
        log(result.document(), logging.INFO if result.ok else logging.ERROR)
        if not result.ok:
            alerts.event(
                Alert(
                    name,
                    "action_failed",
                    expected="exit 0",
                    found=result.describe(),
                    done="runtime files kept; action not retried",
                )
            )
    try:
        with vm_lock(config.lock_path, timeout_s=10.0):
            pending.discard(owed)
    except (OSError, LockTimeout) as exc:
        # Still owed on disk: the next pass runs them again, which at-least-once allows.
        log(
            {"event": "actions_still_owed", "resources": sorted(owed), "error": str(exc)[:150]}, logging.ERROR
        )
