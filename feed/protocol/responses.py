"""The bytes the protocol writes itself: refusals over a limit, and fast-path answers.

Rules:
- Each answer is what uvicorn would write for it: ``STATUS_LINE`` from
  ``uvicorn.protocols.http.httptools_impl``, then uvicorn's default headers
  (``server_state.default_headers``, encoded by the caller), then the answer's own headers.
- A refusal (413, 414, 431) is plain text and always ends with ``connection: close``.
- A fast answer is the Starlette route's answer from the snapshot's pre-encoded header lines: the
  payload (200), ``304`` when ``If-None-Match`` matches its ETag, or the closed beta's 404;
  ``connection: close`` when the request asked for it or is HTTP/1.0 (the caller's
  ``keep_alive``); no body for HEAD.
- Pure: bytes in, bytes out (with the status and the body's size, which the metrics count).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from ..app import BETA_CLOSED_BODY, BETA_CLOSED_HEADERS
from ..http import etag_matches
from ..snapshot import Payload, encode_headers

__all__ = ["fast_answer", "refusal"]

_REFUSALS = {
    413: b"Content Too Large\n",
    414: b"URI Too Long\n",
    431: b"Request Header Fields Too Large\n",
}
_BETA_CLOSED = encode_headers(BETA_CLOSED_HEADERS)


def refusal(status: int, default_lines: bytes) -> bytes:
    """The whole answer refusing a request over a limit (``status`` is 413, 414 or 431)."""
    body = _REFUSALS[status]
    return b"".join(
        (
            STATUS_LINE[status],
            default_lines,
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        )
    )


def fast_answer(
    payload: Payload | None,
    if_none_match: bytes | None,
    default_lines: bytes,
    *,
    keep_alive: bool,
    head_only: bool,
) -> tuple[int, bytes, int]:
    """The whole answer to a GET or HEAD of a payload route (``None``: the beta is closed), as
    (status, bytes to write, body bytes among them)."""
    if payload is None:
        status, lines, body = 404, _BETA_CLOSED, BETA_CLOSED_BODY
    else:
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), payload.etag):
            status, lines, body = 304, payload.encoded_not_modified, b""
        else:
            status, lines, body = 200, payload.encoded_headers, payload.body
    if head_only:
        body = b""
    answer = b"".join(
        (
            STATUS_LINE[status],
            default_lines,
            lines,
            b"\r\n" if keep_alive else b"connection: close\r\n\r\n",
            body,
        )
    )
    return status, answer, len(body)
