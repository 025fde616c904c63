"""Named kill points, so tests can SIGKILL the real CLI process at an exact step.

Rules:
- ``kill_point(name)`` does nothing unless ``NEXY_RECONCILER_KILL_AT`` names that point; then the
  process SIGKILLs itself there, as a power cut or an OOM kill would stop it. The variable is read
  at each call (no module state), and a unit never sets it.
- Points are named ``<operation>:<step>`` (``accept:written``); each operation's module lists its own.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_AT_ENV", "kill_point"]

KILL_AT_ENV = "NEXY_RECONCILER_KILL_AT"


def kill_point(name: str) -> None:
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
