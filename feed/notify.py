"""systemd readiness: ``READY=1`` once the sockets listen, ``STOPPING=1`` on the way out.

Rules:
- The notify protocol is one datagram to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
  namespace); without that variable nothing is sent, so the server runs the same outside systemd.
- Notifying never fails the server: a lost datagram is logged and ignored.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

import uvicorn

__all__ = ["NotifyingServer", "sd_notify"]

log = logging.getLogger("nexy.feed")


def sd_notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False
    return True


class NotifyingServer(uvicorn.Server):
    """uvicorn's server, telling systemd it is ready only after the listening sockets exist."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            sd_notify("READY=1\nSTATUS=serving the update feed")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        sd_notify("STOPPING=1")
        await super().shutdown(sockets=sockets)
