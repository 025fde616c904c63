"""The feed's current snapshot and how it is rebuilt.

Rules:
- The snapshot is replaced as a whole (one reference swap), so a request sees the old feed or the
  new one, never a mix.
- A rebuild happens only when the bytes read differ from the last build, or when forced (SIGHUP).
- Every change of what is served, and every change of the degraded reasons, is logged once.
"""

from __future__ import annotations

import logging

from schemas import RuntimeLayout

from .evaluate import Served, evaluate
from .inputs import Inputs, read_inputs
from .snapshot import Snapshot, build_snapshot

__all__ = ["FeedService"]

log = logging.getLogger("nexy.feed")


def _describe(served: Served) -> str:
    stable = served.stable.version if served.stable else "none"
    beta = served.beta.version if served.beta else "none"
    gate = "open" if served.beta_enabled else "closed"
    return f"stable {stable}, beta {beta}, beta gate {gate}"


class FeedService:
    """Holds the snapshot the app serves; :meth:`reload` rebuilds it from the runtime files."""

    def __init__(self, layout: RuntimeLayout, *, title: str | None = None) -> None:
        self.layout = layout
        self.title = title
        self._inputs_digest: str | None = None
        self.snapshot: Snapshot = build_snapshot(Served(title=title or Served().title), ())
        self.reloads = 0

    def read(self) -> Inputs:
        """Blocking file reads: callers on the event loop run this in a thread."""
        return read_inputs(self.layout)

    def apply(self, inputs: Inputs, *, force: bool = False) -> bool:
        """Rebuild from ``inputs`` unless they are unchanged; True when a new snapshot was built."""
        digest = inputs.digest()
        if digest == self._inputs_digest and not force:
            return False
        previous = self.snapshot
        served, reasons = evaluate(inputs, previous.served, title=self.title)
        self.snapshot = build_snapshot(served, reasons)
        self._inputs_digest = digest
        self.reloads += 1
        if served != previous.served or self.reloads == 1:
            log.info("feed rebuilt: %s", _describe(served))
        if reasons != previous.reasons:
            if reasons:
                log.warning("feed degraded: %s", "; ".join(reasons))
            else:
                log.info("feed healthy again")
        return True

    def reload(self, *, force: bool = False) -> bool:
        return self.apply(self.read(), force=force)
