"""The TCP side of a TLS connection: counted from its accept, its TLS session started late.

Rules:
- TLS connections are counted from their accept (a handshake holds a descriptor too) and one over
  ``max_connections`` is closed before any TLS handshake starts.
- A connection costs an OpenSSL session only once its client has sent something; one that sends
  nothing is closed ``tls_handshake_timeout`` after its accept, and the handshake gets what is
  left of that time.
- The TLS protocol is the loop's own, as ``create_server(ssl=...)`` would pick it.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

import uvloop
import uvloop.loop

from .connection import NEVER, Guard

__all__ = ["TlsGuard", "tls_protocol"]

# The first read of a TLS connection holds a ClientHello (a few hundred bytes to a few KB).
_FIRST_READ = 16384


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
        self.deadline = NEVER
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
            if self.guard.metrics is not None:
                self.guard.metrics.refuse("tls_handshake_timeout")
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
        self.deadline = NEVER
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


def tls_protocol(
    loop: asyncio.AbstractEventLoop, app: asyncio.Protocol, context: ssl.SSLContext, timeout: float
) -> Any:
    # The loop's own TLS protocol, as create_server(ssl=...) would pick it (uvloop/loop.pyx,
    # asyncio/base_events.py): same constructor, plus the handshake timeout.
    protocol_class: Any = sslproto.SSLProtocol
    if isinstance(loop, uvloop.Loop):
        protocol_class = uvloop.loop.SSLProtocol  # type: ignore[attr-defined]  # loop.pyi omits it
    return protocol_class(loop, app, context, None, server_side=True, ssl_handshake_timeout=timeout)
