"""What the health probes expect the endpoints to serve, derived from the desired state.

Rules: a plain value object with no imports beyond the standard library, so the pass engine can
name it without loading the HTTP client (the daemon's memory matters on a small VM).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Expectation"]


@dataclass(frozen=True)
class Expectation:
    stable_version: str | None
    beta_version: str | None
    gate: bool | None
