"""The ``protocol_factory`` the feed's server listens with: one protocol stack per accepted socket.

Rules:
- Plain HTTP: a :class:`FeedProtocol` that counts itself. TLS: a :class:`TlsGuard` that counts
  the connection from its accept and starts the loop's TLS protocol over the same
  :class:`FeedProtocol` once the client sends something.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from .connection import FeedProtocol, Guard
from .tls import TlsGuard, tls_protocol

__all__ = ["make_protocol_factory"]


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
        return TlsGuard(lambda timeout: tls_protocol(loop, protocol, tls, timeout), guard)

    return create
