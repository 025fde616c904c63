"""The servers the feed was chosen from, each on the feed's own app: ``bench/feed_attack.py --server``.

Rules:
- Every candidate serves the same runtime tree with the feed's own code (``feed.app.create_app``,
  or for granian's RSGI interface the same pre-rendered ``Snapshot`` payloads), and is given the
  limits it offers itself, set to ``feed.limits.Limits``' defaults where it has an equivalent:
  - ``uvicorn-httptools``: nexy-feed as it was before issue 13 (uvicorn 0.54, httptools, uvloop)
    plus uvicorn's ``timeout_keep_alive``; httptools has no header limit and uvicorn no head timeout.
  - ``uvicorn-h11``: the same with h11, whose ``h11_max_incomplete_event_size`` bounds a head.
  - ``granian-asgi``/``granian-rsgi``: granian 2.8 (Rust, hyper) with ``HTTP1Settings``
    ``header_read_timeout`` and ``max_buffer_size`` (granian/http.py), and ``backpressure`` (the
    work it takes on at once, default backlog/workers = 1024) at the feed's connection cap;
    granian has no connection cap that refuses and no TLS handshake timeout.
  - ``nginx-proxy``: ``deploy/nginx/nexy-feed.conf`` (one worker) in front of ``nexy-feed`` on
    loopback, as docs/vm.md#the-feed-behind-nginx deploys it, in plain HTTP like every other
    candidate (its TLS lines dropped). This process starts the feed and then becomes nginx, so the
    server's process tree holds both; the feed is stopped with the session (``start_new_session``).
- Candidates are for measuring only: granian is not a dependency of the project (install it into
  the venv by hand to run these two).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feed.app import BETA_CLOSED_BODY, BETA_CLOSED_HEADERS, PAYLOAD_ROUTES, create_app  # noqa: E402
from feed.limits import Limits  # noqa: E402
from feed.service import FeedService  # noqa: E402
from schemas import RuntimeLayout  # noqa: E402

ROOT_VARIABLE = "NEXY_FEED_CANDIDATE_ROOT"


def _service() -> FeedService:
    service = FeedService(RuntimeLayout(root=Path(os.environ[ROOT_VARIABLE])))
    service.reload()
    return service


def asgi_app() -> Any:
    return create_app(_service())


def _text(headers: tuple[tuple[bytes, bytes], ...]) -> list[tuple[str, str]]:
    return [(name.decode(), value.decode()) for name, value in headers]


class RsgiFeed:
    """granian's RSGI fast path: ready bytes handed to ``response_bytes``, no ASGI messages."""

    def __init__(self) -> None:
        self.service = _service()
        self.closed = _text(BETA_CLOSED_HEADERS)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        pick = PAYLOAD_ROUTES.get(scope.path)
        if pick is None or scope.method not in ("GET", "HEAD"):
            protocol.response_bytes(404, [("content-type", "text/plain; charset=utf-8")], b"Not Found")
            return
        payload = pick(self.service.snapshot)
        if payload is None:
            protocol.response_bytes(404, self.closed, BETA_CLOSED_BODY)
            return
        protocol.response_bytes(200, _text(payload.headers), payload.body)


def rsgi_app() -> Any:
    return RsgiFeed()


NGINX_SITE = REPO / "deploy" / "nginx" / "nexy-feed.conf"


def _bench_feed() -> Any:
    """bench/feed.py, loaded by path: its name would be the ``feed`` package's."""
    spec = importlib.util.spec_from_file_location("bench_feed", REPO / "bench" / "feed.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nginx_proxy(root: Path, port: int) -> int:
    """Start nexy-feed on a loopback port, wait for it, then exec nginx in front of it."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    bench_feed = _bench_feed()
    feed_port, staging_port = bench_feed.free_port(), bench_feed.free_port()
    feed_bin = Path(sys.executable).with_name("nexy-feed")
    subprocess.Popen([str(feed_bin), "--root", str(root), "--port", str(feed_port), "--log-level", "warning"])
    bench_feed.wait_http(feed_port)  # before nginx: through it, a feed still starting answers 502
    prefix = Path(tempfile.mkdtemp(prefix="nginx-proxy-", dir=root.parent))  # the bench's tmp removes it
    prefix.chmod(0o755)  # workers may run as an unprivileged user
    site = NGINX_SITE.read_text()
    for old, new in (
        ("    listen 443 ssl;\n    listen [::]:443 ssl;", f"    listen 127.0.0.1:{port};"),
        ("    listen 4443 ssl;\n    listen [::]:4443 ssl;", f"    listen 127.0.0.1:{staging_port};"),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{feed_port};"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    site = "\n".join(line for line in site.splitlines() if not line.startswith("ssl_certificate"))
    (prefix / "nexy-feed.conf").write_text(site)
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1;\nworker_rlimit_nofile 16384;\npid {prefix / 'nginx.pid'};\n"
        "events { worker_connections 8192; }\n"
        f"http {{\n{temp}    include {prefix / 'nexy-feed.conf'};\n}}\n"
    )
    log = str(prefix / "error.log")
    # exec, not a child: the server's process tree is nginx and the feed, nothing of this script.
    arguments = [nginx, "-p", str(prefix), "-e", log, "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
    os.execv(nginx, arguments)  # noqa: S606  # fixed arguments, no shell


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "server", choices=("uvicorn-httptools", "uvicorn-h11", "granian-asgi", "granian-rsgi", "nginx-proxy")
    )
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.server == "nginx-proxy":
        return nginx_proxy(args.root, args.port)
    os.environ[ROOT_VARIABLE] = str(args.root)
    limits = Limits()
    if args.server.startswith("uvicorn"):
        import uvicorn

        uvicorn.run(
            asgi_app(),
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools" if args.server.endswith("httptools") else "h11",
            h11_max_incomplete_event_size=limits.max_header_bytes,
            timeout_keep_alive=limits.keep_alive_timeout,
            access_log=False,
            log_level="warning",
            server_header=False,
        )
        return 0
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    interface = Interfaces.RSGI if args.server.endswith("rsgi") else Interfaces.ASGI
    Server(
        f"feed_candidates:{'rsgi_app' if interface is Interfaces.RSGI else 'asgi_app'}",
        address="127.0.0.1",
        port=args.port,
        interface=interface,
        factory=True,
        workers=1,
        backpressure=limits.max_connections,
        working_dir=Path(__file__).parent,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(limits.header_timeout * 1000), max_buffer_size=limits.max_header_bytes
        ),
        log_level="warning",
    ).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
