"""What one client may cost the feed: request size, time, and connections.

Rules:
- Every limit has a safe default for a server on the internet and is set from the command line;
  the defaults are what ``nexy-feed@.service`` runs with, and ``bench/feed_attack.py`` measures them.
- The defaults follow nginx's, scaled down for a feed that only answers small GETs
  (``client_header_buffer_size``/``large_client_header_buffers``, ``client_header_timeout``,
  ``keepalive_timeout``, ``client_max_body_size``, ``worker_connections``; nginx's
  ngx_http_core_module documentation).
- The connection cap stays below the descriptor limit (``RLIMIT_NOFILE``) with room for the
  listening sockets, the runtime files, the watcher and the log, so a flood is refused per
  connection instead of starving the accept loop (EMFILE).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

__all__ = ["DESCRIPTOR_RESERVE", "ConnectionLimiter", "Limits", "descriptor_limit"]

# Listening sockets, runtime files, inotify, log, the event loop's own pipes: a generous bound.
DESCRIPTOR_RESERVE = 64


@dataclass(frozen=True, slots=True)
class Limits:
    max_request_line: int = 8192
    """Bytes in the request target (the URL); more is 414."""
    max_header_bytes: int = 16384
    """Bytes in the whole request head (request line and headers); more is 431 and close."""
    max_headers: int = 64
    """Header fields in one request; more is 431 and close."""
    header_timeout: float = 10.0
    """Seconds to receive a complete request head, from the connection or from its first byte."""
    keep_alive_timeout: int = 5
    """Seconds an idle keep-alive connection stays open between requests."""
    tls_handshake_timeout: float = 10.0
    """Seconds a TLS client has to finish its handshake."""
    max_body_bytes: int = 0
    """The feed takes no request bodies: a declared body above this is 413 and close."""
    max_connections: int = 4096
    """Concurrent connections (TLS handshakes included); a connection over the cap is closed at once.

    Sized by memory: an idle plain connection costs about 6 KB, a TLS one about 50 KB once its
    handshake is done (``bench/feed_attack.py``), so 4096 TLS connections stay near 200 MB beside
    the server's 50 MB, under the unit's ``MemoryHigh``."""

    def problems(self) -> list[str]:
        """One line per unusable value (the CLI reports them before anything listens)."""
        found = []
        for name in ("max_request_line", "max_header_bytes", "max_headers", "max_connections"):
            if getattr(self, name) < 1:
                found.append(f"{name.replace('_', '-')} must be at least 1")
        if self.max_body_bytes < 0:
            found.append("max-body-bytes must not be negative")
        for name in ("header_timeout", "keep_alive_timeout", "tls_handshake_timeout"):
            if not 0 < getattr(self, name) <= 3600:
                found.append(f"{name.replace('_', '-')} must be within (0, 3600] seconds")
        return found


def descriptor_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` (``resource`` is POSIX: the same on macOS and Linux)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class ConnectionLimiter:
    """Counts open connections (TLS ones from their accept, handshake included) against a cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0
        self.refused = 0

    def admit(self) -> bool:
        """Count a new connection; False (and counted as refused) when the cap is reached."""
        if self.open >= self.cap:
            self.refused += 1
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1
