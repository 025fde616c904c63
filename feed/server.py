"""The feed's uvicorn server: listening with :mod:`feed.protocol`'s limits and fast path.

Rules:
- ``startup`` is uvicorn 0.54's ``Server.startup`` for a host and port (uvicorn/server.py), with
  two changes: every accepted socket gets the protocol stack from
  :func:`feed.protocol.make_protocol_factory`, and TLS is layered by that stack (with the handshake
  timeout and the connection count) instead of by ``create_server(ssl=...)``, which has neither.
- uvicorn's tick (every 0.1 s) also sweeps connections past their head or keep-alive deadline.
- A listen failure is uvicorn's: the error logged, the lifespan shut down, exit status 3.
- Readiness for systemd is :class:`feed.notify.NotifyingServer`'s, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import uvicorn

from schemas import ExitCode

from .limits import ConnectionLimiter, Limits
from .metrics import FeedMetrics
from .notify import NotifyingServer
from .protocol import Guard, make_protocol_factory
from .service import FeedService

__all__ = ["FeedServer"]

log = logging.getLogger("uvicorn.error")


class _LimitedStartup(uvicorn.Server):
    guard: Guard

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(ExitCode.STARTUP_FAILED)
        config = self.config
        loop = asyncio.get_running_loop()
        self.guard.now = loop.time()
        factory = make_protocol_factory(
            config, self.server_state, self.lifespan.state, self.guard, config.ssl
        )
        try:
            server = await loop.create_server(
                factory, host=config.host, port=config.port, backlog=config.backlog
            )
        except OSError as exc:
            log.error(exc)
            await self.lifespan.shutdown()
            sys.exit(ExitCode.STARTUP_FAILED)
        assert server.sockets is not None
        self.servers = [server]
        self._log_started_message(list(server.sockets))
        self.started = True

    async def on_tick(self, counter: int) -> bool:
        self.guard.sweep(asyncio.get_running_loop().time(), self.server_state.connections)
        return await super().on_tick(counter)


class FeedServer(NotifyingServer, _LimitedStartup):
    """uvicorn's server with the feed's limits, its fast path and systemd readiness."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        limits: Limits,
        service: FeedService,
        metrics: FeedMetrics | None = None,
    ) -> None:
        super().__init__(config)
        limiter = ConnectionLimiter(limits.max_connections)
        self.guard = Guard(limits=limits, limiter=limiter, service=service, metrics=metrics)
        if metrics is not None:
            metrics.limiter = limiter  # refusals over the cap are the limiter's own count
