"""systemd readiness: ``READY=1`` once the sockets listen, ``STOPPING=1`` on the way out.

Rules:
- The notify protocol is one datagram to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
  namespace); without that variable nothing is sent, so the server runs the same outside systemd.
- Notifying never fails the server: a lost datagram is ignored (``schemas.sdnotify``).
"""

from __future__ import annotations

import socket

import uvicorn

from schemas.sdnotify import Notifier

__all__ = ["NotifyingServer"]


class NotifyingServer(uvicorn.Server):
    """uvicorn's server, telling systemd it is ready only after the listening sockets exist."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            Notifier().send(READY="1", STATUS="serving the update feed")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        Notifier().send(STOPPING="1")
        await super().shutdown(sockets=sockets)
