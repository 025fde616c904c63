"""HTTP helpers: conditional requests and responses straight from pre-rendered bytes.

Rules:
- ``If-None-Match`` uses the weak comparison RFC 9110 prescribes for it: ``W/`` is ignored,
  ``*`` matches anything, a list matches when any member does.
- A :class:`PayloadResponse` reuses the payload's ready header list: no per-request rendering.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import Response

from .snapshot import Payload

__all__ = ["PayloadResponse", "etag_matches", "serve_payload"]


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match == etag:
        return True
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


class PayloadResponse(Response):
    """A response whose status, body and raw headers are already known."""

    def __init__(self, status_code: int, body: bytes, raw_headers: tuple[tuple[bytes, bytes], ...]) -> None:
        self.status_code = status_code
        self.body = body
        self.raw_headers = list(raw_headers)
        self.background: BackgroundTask | None = None


def serve_payload(payload: Payload, if_none_match: str | None) -> Response:
    if etag_matches(if_none_match, payload.etag):
        return PayloadResponse(304, b"", payload.not_modified_headers)
    return PayloadResponse(200, payload.body, payload.headers)
