"""systemd's notify protocol without a dependency: one datagram to ``$NOTIFY_SOCKET`` per message.

Shared by both VM services (the reconciler and the feed), which may not import each other.

Rules: silently a no-op when not run by systemd (no socket); an abstract socket name starts with
``@``; a failed send never stops the daemon (systemd's own watchdog notices a dead one).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping

__all__ = ["Notifier", "watchdog_interval"]


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        address = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address

    def send(self, **fields: str) -> None:
        if not self._address:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self._address)
            sock.sendall(message)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when not watched."""
    env = env if env is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
