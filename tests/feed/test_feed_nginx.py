"""nginx in front of the feed (deploy/nginx/nexy-feed.conf, docs/vm.md "The feed behind nginx"):
``nginx -t`` accepts the shipped config, and a real nginx on loopback serves a real feed through it
with the feed's limits at the door. Skipped, with one line, where nginx is not installed."""

from __future__ import annotations

import shutil
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from feed.limits import Limits
from tests.feed.feedkit import REPO, FeedProcess, RuntimeTree, free_port, wait_until

CONFIG = REPO / "deploy" / "nginx" / "nexy-feed.conf"
TLS_DIR = "/etc/nexy-release/tls/"
NGINX = shutil.which("nginx")

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed: deploy/nginx is not checked")


def _main_config(prefix: Path, site: Path) -> Path:
    """A main nginx.conf around the site file, every path of nginx's own under ``prefix``."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = prefix / "nginx.conf"
    main.write_text(
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'};\n"
        "events { worker_connections 8192; }\n"
        f"http {{\n{temp}\n    include {site};\n}}\n"
    )
    return main


def _site(prefix: Path, ca: trustme.CA, replace: dict[str, str] | None = None) -> Path:
    """The shipped config, its TLS pair replaced by a test CA's (``nginx -t`` loads them)."""
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.private_key_pem.write_to_path(str(prefix / "privkey.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(prefix / "fullchain.pem"))
    text = CONFIG.read_text()
    assert TLS_DIR in text
    text = text.replace(TLS_DIR, f"{prefix}/")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    site = prefix / "nexy-feed.conf"
    site.write_text(text)
    return site


def _nginx(*args: str, prefix: Path) -> list[str]:
    assert NGINX is not None
    return [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), *args]


def test_nginx_accepts_the_shipped_config(tmp_path: Path) -> None:
    main = _main_config(tmp_path, _site(tmp_path, trustme.CA()))
    done = subprocess.run(
        _nginx("-t", "-q", "-c", str(main), prefix=tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_config_carries_the_feeds_limits() -> None:
    limits, text = Limits(), CONFIG.read_text()
    assert f"large_client_header_buffers 2 {limits.max_request_line // 1024}k;" in text
    assert 2 * limits.max_request_line == limits.max_header_bytes
    assert f"client_header_timeout {limits.header_timeout:.0f}s;" in text
    assert limits.tls_handshake_timeout == limits.header_timeout  # nginx bounds the handshake so
    assert f"keepalive_timeout {limits.keep_alive_timeout}s;" in text
    assert f"limit_conn nexy_feed_total {limits.max_connections};" in text


@pytest.fixture
def proxied(
    tmp_path: Path, tree: RuntimeTree, start_feed: Callable[..., FeedProcess]
) -> Iterator[tuple[FeedProcess, str, httpx.Client]]:
    """A real feed on loopback (as the drop-in runs it) and a real nginx in front, on loopback."""
    feed = start_feed(tree.root)
    ca = trustme.CA()
    port = free_port()
    site = _site(
        tmp_path,
        ca,
        {
            "    listen 443 ssl;\n    listen [::]:443 ssl;": f"    listen 127.0.0.1:{port} ssl;",
            "    listen 4443 ssl;\n    listen [::]:4443 ssl;": f"    listen 127.0.0.1:{free_port()} ssl;",
            "server 127.0.0.1:8080;": f"server 127.0.0.1:{feed.port};",
        },
    )
    main = _main_config(tmp_path, site)
    with (tmp_path / "nginx.out").open("ab") as out:
        nginx = subprocess.Popen(
            _nginx("-c", str(main), "-g", "daemon off;", prefix=tmp_path), stdout=out, stderr=out
        )
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    try:
        with httpx.Client(verify=trust, timeout=10.0) as client:
            base = f"https://127.0.0.1:{port}"

            def ready() -> bool:
                if nginx.poll() is not None:
                    raise AssertionError(
                        f"nginx exited {nginx.returncode}: {(tmp_path / 'error.log').read_text()}"
                    )
                return client.get(f"{base}/health").status_code == 200

            wait_until(ready, timeout=30.0)
            yield feed, base, client
    finally:
        nginx.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        nginx.wait(timeout=30)


def test_nginx_serves_the_feed_over_tls_byte_for_byte(proxied: tuple[FeedProcess, str, httpx.Client]) -> None:
    feed, base, client = proxied
    direct = httpx.get(f"{feed.base_url}/updates/appcast.xml", timeout=10.0)
    through = client.get(f"{base}/updates/appcast.xml")
    assert (through.status_code, through.content) == (200, direct.content)
    assert through.headers["etag"] == direct.headers["etag"]
    cached = client.get(f"{base}/updates/appcast.xml", headers={"If-None-Match": through.headers["etag"]})
    assert cached.status_code == 304
    assert through.headers["server"] == "nginx"  # server_tokens off: no version for a scanner


def test_nginx_refuses_what_the_feeds_limits_refuse(proxied: tuple[FeedProcess, str, httpx.Client]) -> None:
    _feed, base, client = proxied
    limits = Limits()
    assert client.get(f"{base}/updates/appcast.xml?{'a' * limits.max_request_line}").status_code == 414
    too_big = {"x-pad": "b" * limits.max_request_line}
    assert client.get(f"{base}/updates/appcast.xml", headers=too_big).status_code == 400
    assert client.post(f"{base}/updates/appcast.xml", content=b"x" * 1024).status_code == 413
