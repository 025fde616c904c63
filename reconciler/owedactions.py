"""``pending_actions.json``: actions owed for resources already written, kept on disk (at-least-once).

Rules:
- A pass records the resources whose actions it owes *before* it writes them, and forgets them
  only after their actions ran. A daemon killed in between (SIGKILL, power cut) finds them on its
  next pass and runs them then: an action may run twice, never zero times. Actions such as a
  service restart are idempotent, which is what makes at-least-once the right trade.
- Every change is a read-modify-write under the VM lock, so two processes (the daemon and
  ``once``) never lose each other's entries; writes go through ``schemas.atomic_write``.
- An unreadable file is treated as "run every configured action": that errs on the safe side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from schemas import atomic_write
from schemas.fileio import read_regular

from .resources import in_table_order

__all__ = ["PendingActions"]


class PendingActions:
    def __init__(self, path: Path, configured: Iterable[str]) -> None:
        self.path = path
        self._configured = frozenset(configured)

    def load(self) -> frozenset[str]:
        """The resources whose actions are owed (only those that still have an action configured)."""
        try:
            # schemas.fileio: a link or FIFO planted here is refused (an OSError), not followed.
            data = read_regular(self.path)
            if data is None:
                return frozenset()
            document = json.loads(data)
            names = frozenset(str(name) for name in document["pending"])
        except FileNotFoundError:
            return frozenset()
        except (OSError, ValueError, KeyError, TypeError):
            names = self._configured
        return names & self._configured

    def add(self, names: Iterable[str]) -> frozenset[str]:
        """Record ``names`` as owed (caller holds the VM lock); returns everything now owed."""
        current = self.load()
        wanted = current | (frozenset(names) & self._configured)
        if wanted != current:
            self._write(wanted)
        return wanted

    def discard(self, names: Iterable[str]) -> None:
        """Forget ``names`` once their actions ran (caller holds the VM lock)."""
        current = self.load()
        left = current - frozenset(names)
        if left != current:
            self._write(left)

    def _write(self, names: frozenset[str]) -> None:
        ordered = in_table_order(names)
        atomic_write(self.path, (json.dumps({"pending": ordered}) + "\n").encode(), mode=0o600)
