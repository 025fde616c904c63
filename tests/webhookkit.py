"""A webhook endpoint on 127.0.0.1 for tests: the reconciler's alerts and the release announcements.

Rules: it records every POST (headers lower-cased, the raw body) and answers ``status`` (after
``fail_first`` 503s, optionally after ``delay_s``); loopback only, a free port the kernel picks.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Receiver"]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it receives (optionally slowly)."""

    def __init__(self, delay_s: float = 0.0, status: int = 200, fail_first: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.delay_s = delay_s
        self.status = status
        self.fail_first = fail_first  # answer 503 to this many requests first (a flapping endpoint)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay_s)
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(503 if failing else receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
