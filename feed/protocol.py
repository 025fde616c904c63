"""uvicorn's httptools protocol with the limits an internet-facing server needs, and a fast path.

Rules:
- Built on ``uvicorn.protocols.http.httptools_impl.HttpToolsProtocol`` (uvicorn 0.54): every answer
  the fast path does not give is uvicorn's and Starlette's own, byte for byte.
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
  read or any TLS handshake starts; TLS connections are counted from their accept (a handshake
  holds a descriptor too) by :class:`TlsGuard`, and a handshake gets ``tls_handshake_timeout``;
  a TLS connection costs an OpenSSL session only once its client has sent something.
- Fast path: a GET or HEAD whose target is exactly one of ``feed.app.PAYLOAD_ROUTES`` is answered
  from the snapshot's pre-encoded header lines, with the same bytes uvicorn would write for the
  Starlette route (status line, uvicorn's default headers, the payload's headers, ``connection:
  close`` when the request asked for it or is HTTP/1.0), and no task, scope or middleware.
  Anything else (a query, an encoded or absolute target, a pipelined request behind a slow one)
  goes the normal way.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httptools
import uvloop
import uvloop.loop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from .app import BETA_CLOSED_BODY, BETA_CLOSED_HEADERS, PAYLOAD_ROUTES, Pick
from .http import etag_matches
from .limits import ConnectionLimiter, Limits
from .service import FeedService
from .snapshot import encode_headers

__all__ = ["FeedProtocol", "Guard", "TlsGuard", "make_protocol_factory"]

_REFUSALS = {
    413: b"Content Too Large\n",
    414: b"URI Too Long\n",
    431: b"Request Header Fields Too Large\n",
}
_BETA_CLOSED = encode_headers(BETA_CLOSED_HEADERS)
_NEVER = float("inf")
_UNBOUNDED = 1 << 62
# The first read of a TLS connection holds a ClientHello (a few hundred bytes to a few KB).
_FIRST_READ = 16384


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
    waiting_tls: set[TlsGuard] = field(default_factory=set)
    """TLS connections that have not sent a byte yet."""
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
        self.deadline = _NEVER
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
        self.deadline = _NEVER
        super().connection_lost(exc)

    def expire(self) -> None:
        """The head took too long, or the keep-alive connection idled too long: close, no answer."""
        self.deadline = _NEVER
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
        status = self.refusal or 400
        body = _REFUSALS[status]
        self.deadline = _NEVER
        self.transport.write(
            b"".join(
                (
                    STATUS_LINE[status],
                    self.guard.default_header_lines(self.server_state.default_headers),
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                )
            )
        )
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
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.deadline = _NEVER
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
        if payload is None:
            status, lines, body = 404, _BETA_CLOSED, BETA_CLOSED_BODY
        else:
            if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), payload.etag):
                status, lines, body = 304, payload.encoded_not_modified, b""
            else:
                status, lines, body = 200, payload.encoded_headers, payload.body
        self.transport.write(
            b"".join(
                (
                    STATUS_LINE[status],
                    self.guard.default_header_lines(self.server_state.default_headers),
                    lines,
                    b"\r\n" if keep_alive else b"connection: close\r\n\r\n",
                    b"" if head_only else body,
                )
            )
        )
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()


class TlsGuard(asyncio.BufferedProtocol):
    """The TCP side of a TLS connection: counted from its accept, refused over the cap.

    The TLS protocol (the loop's own, as ``create_server(ssl=...)`` would pick it) is created only
    when the client's first bytes arrive: a connection that sends nothing costs this object, not an
    OpenSSL session and its buffers, and is closed ``tls_handshake_timeout`` after its accept. The
    handshake then gets what is left of that time.
    """

    def __init__(self, start: Callable[[float], Any], guard: Guard) -> None:
        self.start = start
        self.guard = guard
        self.inner: Any = None
        self.transport: asyncio.BaseTransport | None = None
        self.admitted = False
        self.deadline = _NEVER
        self.first: bytearray | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.guard.limiter.admit():
            transport.close()
            return
        self.admitted = True
        self.transport = transport
        self.deadline = self.guard.now + self.guard.limits.tls_handshake_timeout
        self.guard.waiting_tls.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.waiting_tls.discard(self)
        if self.admitted:
            self.admitted = False
            self.guard.limiter.release()
            if self.inner is not None:
                self.inner.connection_lost(exc)

    def expire(self) -> None:
        """No byte within the handshake time: close, no TLS alert (there is no session)."""
        self.guard.waiting_tls.discard(self)
        if self.inner is None and self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def get_buffer(self, sizehint: int) -> Any:
        if self.inner is not None:
            return self.inner.get_buffer(sizehint)
        self.first = bytearray(_FIRST_READ)
        return self.first

    def buffer_updated(self, nbytes: int) -> None:
        if self.inner is not None:
            self.inner.buffer_updated(nbytes)
            return
        assert self.first is not None
        assert self.transport is not None
        data = memoryview(self.first)[:nbytes]
        self.first = None
        self.guard.waiting_tls.discard(self)
        self.inner = self.start(max(self.deadline - self.guard.now, 1.0))
        self.deadline = _NEVER
        self.inner.connection_made(self.transport)
        while data:
            buffer = self.inner.get_buffer(len(data))
            size = min(len(buffer), len(data))
            buffer[:size] = data[:size]
            self.inner.buffer_updated(size)
            data = data[size:]

    def eof_received(self) -> bool | None:
        if self.inner is None:
            return None  # the transport closes itself
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


def _tls_protocol(
    loop: asyncio.AbstractEventLoop, app: asyncio.Protocol, context: ssl.SSLContext, timeout: float
) -> Any:
    # The loop's own TLS protocol, as create_server(ssl=...) would pick it (uvloop/loop.pyx,
    # asyncio/base_events.py): same constructor, plus the handshake timeout.
    protocol_class: Any = sslproto.SSLProtocol
    if isinstance(loop, uvloop.Loop):
        protocol_class = uvloop.loop.SSLProtocol  # type: ignore[attr-defined]  # loop.pyi omits it
    return protocol_class(loop, app, context, None, server_side=True, ssl_handshake_timeout=timeout)


def make_protocol_factory(
    config: Config,
    server_state: ServerState,
    app_state: dict[str, Any],
    guard: Guard,
    tls: ssl.SSLContext | None,
) -> Any:
    """The ``protocol_factory`` for ``loop.create_server``: one protocol stack per accepted socket."""
    loop = asyncio.get_running_loop()

    def create() -> asyncio.BaseProtocol:
        protocol = FeedProtocol(
            config, server_state, app_state, loop, guard=guard, counted_by_tls=tls is not None
        )
        if tls is None:
            return protocol
        return TlsGuard(lambda timeout: _tls_protocol(loop, protocol, tls, timeout), guard)

    return create
