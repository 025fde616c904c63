"""One HTTP connection: uvicorn's httptools protocol measured against the limits, with a fast path.

Rules:
- Limits (:class:`feed.limits.Limits`): a request target over ``max_request_line`` is 414; a head
  over ``max_header_bytes`` or with more than ``max_headers`` fields is 431; a declared body over
  ``max_body_bytes`` is 413; each of them closes the connection. A head that arrives whole is
  measured when it is complete; one still arriving is measured by the bytes read so far, before
  httptools buffers a header, so a flood is cut off at most one socket read past the limit.
- A head not complete within ``header_timeout`` (counted from the connection, or from the first
  byte of a keep-alive request) closes the connection, as nginx's ``client_header_timeout`` does;
  an idle keep-alive connection is closed after ``keep_alive_timeout``. Both are deadlines checked
  by the server's tick (:meth:`Guard.sweep`), not a timer per request.
- A connection over ``max_connections`` is closed as soon as it is accepted, before any byte is
  read (a TLS connection is counted by :class:`feed.protocol.tls.TlsGuard` instead).
- Fast path: a GET or HEAD whose target is exactly one of ``feed.app.PAYLOAD_ROUTES`` is answered
  from the snapshot (:func:`feed.protocol.responses.fast_answer`), with no task, scope or
  middleware. Anything else (a query, an encoded or absolute target, a pipelined request behind a
  slow one) goes the normal way.
- With metrics (``Guard.metrics``), the fast path counts its answer and, on an appcast route, the
  check with the ``User-Agent`` kept from the head; refusals and head timeouts are counted by
  reason. Without metrics nothing is counted: one ``is None`` test per answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ..app import PAYLOAD_ROUTES, Pick
from ..limits import ConnectionLimiter, Limits
from ..metrics import CHANNELS, FeedMetrics
from ..service import FeedService
from ..snapshot import encode_headers
from .responses import fast_answer, refusal

__all__ = ["NEVER", "Expiring", "FeedProtocol", "Guard"]

NEVER = float("inf")
_UNBOUNDED = 1 << 62


class Expiring(Protocol):
    """A connection the sweep closes once its deadline passed (``tls.TlsGuard`` before its first
    byte): named by what the sweep needs, so this module never imports the TLS one."""

    deadline: float

    def expire(self) -> None: ...


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the status is on the protocol."""


@dataclass(slots=True)
class Guard:
    """What every connection of one server shares: limits, the connection count, the snapshot."""

    limits: Limits
    limiter: ConnectionLimiter
    service: FeedService
    routes: dict[bytes, Pick] = field(
        default_factory=lambda: {p.encode(): f for p, f in PAYLOAD_ROUTES.items()}
    )
    now: float = 0.0
    """The loop's clock as of the last tick: deadlines need no clock read per request."""
    waiting_tls: set[Expiring] = field(default_factory=set)
    """TLS connections that have not sent a byte yet."""
    metrics: FeedMetrics | None = None
    _date_source: list[tuple[bytes, bytes]] | None = None
    _date_lines: bytes = b""

    def sweep(self, now: float, connections: Iterable[object]) -> None:
        """Close every connection past its deadline (run from the server's tick, 10 times a second)."""
        self.now = now
        for connection in list(connections):
            if isinstance(connection, FeedProtocol) and connection.deadline < now:
                connection.expire()
        for waiting in [tls for tls in self.waiting_tls if tls.deadline < now]:
            waiting.expire()

    def default_header_lines(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        # uvicorn replaces the list once a second (a new Date); encode it once per replacement.
        if default_headers is not self._date_source:
            self._date_source = default_headers
            self._date_lines = encode_headers(tuple(default_headers))
        return self._date_lines


class FeedProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: Guard,
        counted_by_tls: bool = False,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = guard
        self.counted_by_tls = counted_by_tls
        self.admitted = False
        self.deadline = NEVER
        """When the head must be complete, or the idle keep-alive connection is closed."""
        self.limits = guard.limits
        self.in_head = True
        self.head_bytes = 0
        """Bytes read while a head is incomplete: bounds a head still arriving."""
        self.head_size = 0
        """The current head's size as parsed: bounds a head that arrived whole."""
        self.header_count = 0
        self.declared_body = 0
        self.if_none_match: bytes | None = None
        self.user_agent: bytes | None = None
        self.refusal: int | None = None
        self.fast = False

    # Connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.counted_by_tls:
            if not self.guard.limiter.admit():
                transport.close()
                return
            self.admitted = True
        super().connection_made(transport)
        self.deadline = self.loop.time() + self.limits.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:  # refused before uvicorn saw it
            return
        if self.admitted:
            self.admitted = False
            self.guard.limiter.release()
        self.deadline = NEVER
        super().connection_lost(exc)

    def expire(self) -> None:
        """The head took too long, or the keep-alive connection idled too long: close, no answer."""
        if self.in_head and self.guard.metrics is not None:
            self.guard.metrics.refuse("header_timeout")
        self.deadline = NEVER
        if not self.transport.is_closing():
            self.transport.close()

    # Bytes in

    def data_received(self, data: bytes) -> None:
        if self.refusal is not None or self.parser is None:
            return
        if self.timeout_keep_alive_task is not None:  # armed by uvicorn after an app response
            self._unset_keepalive_if_required()
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self.refusal is not None:
                self._refuse()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            # Upgrades are not served (``ws="none"``): the request was answered as plain HTTP.
            return
        if self.in_head and self.head_bytes > self.limits.max_header_bytes:
            self.refusal = 431
            self._refuse()

    def _stop(self, status: int) -> None:
        self.refusal = status
        raise _Refused(status)

    def _refuse(self) -> None:
        self.deadline = NEVER
        if self.guard.metrics is not None:
            self.guard.metrics.refuse(f"status_{self.refusal or 400}")
        default_lines = self.guard.default_header_lines(self.server_state.default_headers)
        self.transport.write(refusal(self.refusal or 400, default_lines))
        self.transport.close()

    # Parser callbacks

    def on_message_begin(self) -> None:
        # uvicorn's on_message_begin, with the scope built later and only for the app's requests.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        if self.timeout_keep_alive_task is not None:
            self._unset_keepalive_if_required()
        if not self.in_head:
            self.in_head = True
            self.deadline = self.guard.now + self.limits.header_timeout
        self.head_bytes = 0
        self.head_size = 16  # the method and version around the target, at most
        self.header_count = 0
        self.declared_body = 0
        self.if_none_match = None
        self.user_agent = None

    def _build_scope(self) -> None:
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # uvicorn's scope, exactly as it builds it
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_request_line:
            self._stop(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header (lower-cased names, Expect: 100-continue), measuring as it goes.
        self.header_count += 1
        if self.header_count > self.limits.max_headers:
            self._stop(431)
        self.head_size += len(name) + len(value) + 4
        name = name.lower()
        if name == b"content-length":
            try:
                self.declared_body = max(self.declared_body, int(value))
            except ValueError:
                self.declared_body = _UNBOUNDED
        elif name == b"transfer-encoding":
            self.declared_body = _UNBOUNDED  # a chunked body has no declared end
        elif name == b"if-none-match":
            if self.if_none_match is None:
                self.if_none_match = value
        elif name == b"user-agent":
            self.user_agent = value
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.deadline = NEVER
        self.in_head = False
        if self.head_size + len(self.url) > self.limits.max_header_bytes:
            self._stop(431)
        if self.declared_body > self.limits.max_body_bytes:
            self._stop(413)
        pick = self.guard.routes.get(self.url)
        if pick is not None:
            method = self.parser.get_method()
            # Answers go out in request order: behind a request still in the app, wait in line.
            if (
                (method == b"GET" or method == b"HEAD")
                and (self.cycle is None or self.cycle.response_complete)
                and not self.pipeline
            ):
                self._answer_fast(pick, method == b"HEAD")
                return
        self._build_scope()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.fast:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.fast:
            super().on_message_complete()
            return
        self.fast = False
        # uvicorn arms a timer per response; a deadline checked by the tick costs no timer.
        self.deadline = self.guard.now + self.timeout_keep_alive

    # The fast path

    def _answer_fast(self, pick: Pick, head_only: bool) -> None:
        self.fast = True
        if_none_match = self.if_none_match
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        payload = pick(self.guard.service.snapshot)
        default_lines = self.guard.default_header_lines(self.server_state.default_headers)
        status, answer, body_size = fast_answer(
            payload, if_none_match, default_lines, keep_alive=keep_alive, head_only=head_only
        )
        self.transport.write(answer)
        metrics = self.guard.metrics
        if metrics is not None:
            metrics.request(self.url, status, body_size)
            channel = CHANNELS.get(self.url)
            if channel is not None:
                metrics.check(channel, self.user_agent)
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()
