"""Actions: commands from the config run once after a resource changed (a service restart).

Rules: argv lists only (no shell); a timeout; the exit status is returned for the status document
and an alert; output is not captured into status because it could carry secrets.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

__all__ = ["ActionResult", "run_action"]


@dataclass(frozen=True)
class ActionResult:
    resource: str
    argv: tuple[str, ...]
    returncode: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

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
