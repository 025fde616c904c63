"""Structured log lines: one compact JSON object per line on stderr (the journal under systemd).

Rules: compact separators so the lines are greppable as ``{"event":"..."``; flushed at once so a
kill loses no line already written; never a secret in a document (callers pass names, not values).
"""

from __future__ import annotations

import json
import sys

__all__ = ["log_event"]


def log_event(document: dict[str, object]) -> None:
    sys.stderr.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stderr.flush()
