"""The daemons' log: stdlib logging, one compact JSON object per line on stderr (the journal).

Rules:
- One formatter and one setup for the reconciler and the feed (:func:`setup_logging`, called once
  by each CLI before anything logs); uvicorn's loggers propagate into the same handler.
- An event (:func:`log_event`) is written as its document, its fields in the caller's order, so the
  lines stay greppable as ``{"event":"..."``; the level follows as ``"level"`` (lower case). Any
  other record is ``{"event":"log","logger":...,"message":...,"level":...}``. An exception adds
  ``"trace"``. No timestamp: the journal stamps every line.
- Compact separators; the handler flushes each line, so a kill loses no line already written.
  Never a secret in a document (callers pass names, not values).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Protocol, TextIO

__all__ = ["EVENT_LOGGER", "EventLog", "JsonFormatter", "log_event", "setup_logging"]

EVENT_LOGGER = "nexy"
_DOCUMENT = "nexy_document"  # the LogRecord attribute an event's document travels in


class EventLog(Protocol):
    """Where a daemon's events go: :func:`log_event`, or a test's recorder."""

    def __call__(self, document: Mapping[str, object], level: int = logging.INFO, /) -> None: ...


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: the event's document, or the logger and message; then the level."""

    def format(self, record: logging.LogRecord) -> str:
        document = getattr(record, _DOCUMENT, None)
        if isinstance(document, Mapping):
            fields: dict[str, object] = dict(document)
        else:
            fields = {"event": "log", "logger": record.name, "message": record.getMessage()}
        fields["level"] = record.levelname.lower()
        if record.exc_info:
            fields["trace"] = self.formatException(record.exc_info)
        return json.dumps(fields, separators=(",", ":"), default=str)


def setup_logging(level: str | int = logging.INFO, stream: TextIO | None = None) -> None:
    """The root logger writes JSON lines at ``level`` and above to ``stream`` (stderr), only there."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def log_event(document: Mapping[str, object], level: int = logging.INFO, /) -> None:
    """Log one event line: ``document`` (its first field ``"event"``) at ``level``."""
    logging.getLogger(EVENT_LOGGER).log(level, "%s", document.get("event"), extra={_DOCUMENT: document})
