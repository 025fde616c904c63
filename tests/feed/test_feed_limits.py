"""The feed's limits, against the real ``nexy-feed`` on loopback, on a plain and a TLS listener.

Each server runs with small limits so every case is quick; the only time bounds are generous
deadlines to observe a timeout (a limit of 1 s, observed within 15 s).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from tests.feed.conftest import BETA_VERSION, STABLE_VERSION
from tests.feed.feedkit import FEED_BIN, FeedProcess, RuntimeTree, make_manifest, wait_until

pytestmark = pytest.mark.timeout(120)

SMALL = (
    "--max-request-line", "256",
    "--max-header-bytes", "2048",
    "--max-headers", "10",
    "--header-timeout", "1",
    "--keep-alive-timeout", "1",
    "--tls-handshake-timeout", "1",
)  # fmt: skip
OBSERVE = 15.0


@dataclass
class Listener:
    feed: FeedProcess
    context: ssl.SSLContext | None

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.feed.port), timeout=OBSERVE)
        if self.context is None:
            return sock
        return self.context.wrap_socket(sock, server_hostname="127.0.0.1")


def _tls(tmp: Path) -> tuple[list[str], ssl.SSLContext]:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    certificate.private_key_pem.write_to_path(str(keyfile))
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return ["--certfile", str(certfile), "--keyfile", str(keyfile)], context


@contextlib.contextmanager
def _running(tmp: Path, tls: bool, *limits: str) -> Iterator[Listener]:
    tree = RuntimeTree(tmp / "vm")
    tree.install_fixtures()
    tree.write_stable(make_manifest(STABLE_VERSION))
    tree.write_beta(make_manifest(BETA_VERSION, "beta"))
    tls_args, context = _tls(tmp) if tls else ([], None)
    feed = FeedProcess(tree.root, tmp / "feed.log", *limits, *tls_args, scheme="https" if tls else "http")
    with httpx.Client(timeout=10.0, verify=context or True) as client:
        feed.start(client)
    try:
        yield Listener(feed, context)
    finally:
        feed.stop()


@pytest.fixture(scope="module", params=["plain", "tls"])
def listener(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    with _running(tmp_path_factory.mktemp(request.param), request.param == "tls", *SMALL) as running:
        yield running


def _read_until_closed(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the server sends, and whether it closed the connection (EOF or reset)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionError, ssl.SSLError):
        return data, True
    except TimeoutError:
        return data, False
    return data, True


def _exchange(listener: Listener, raw: bytes) -> tuple[bytes, bool]:
    with listener.connect() as sock:
        sock.sendall(raw)
        return _read_until_closed(sock)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_a_normal_request_is_answered_and_kept_alive(listener: Listener) -> None:
    with listener.connect() as sock:
        for _ in range(3):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: feed\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")


def test_too_many_header_fields_is_431_and_close(listener: Listener) -> None:
    headers = b"".join(b"X-Field-%d: v\r\n" % index for index in range(11))
    answer, closed = _exchange(listener, b"GET /health HTTP/1.1\r\nHost: feed\r\n" + headers + b"\r\n")
    assert _status(answer) == 431 and closed
    assert b"connection: close\r\n" in answer


def test_a_head_over_the_byte_limit_is_431_and_close(listener: Listener) -> None:
    answer, closed = _exchange(
        listener, b"GET /health HTTP/1.1\r\nHost: feed\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    )
    assert _status(answer) == 431 and closed


def test_a_trickled_endless_head_is_cut_off(listener: Listener) -> None:
    """Header lines sent piece by piece until the server answers: 431 (or a reset), near the limit."""
    sent = 0
    with listener.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: feed\r\n")
        try:
            while sent < 1 << 20 and not select.select([sock], [], [], 0.002)[0]:
                sock.sendall(b"X-Trickle: " + b"b" * 500 + b"\r\n")
                sent += 513
        except (ConnectionError, ssl.SSLError):
            pass
        answer, closed = _read_until_closed(sock)
    assert closed
    assert answer == b"" or _status(answer) == 431
    assert sent < 256 * 1024, f"the server was still reading after {sent} bytes"


def test_a_long_request_target_is_414_and_close(listener: Listener) -> None:
    answer, closed = _exchange(listener, b"GET /" + b"p" * 400 + b" HTTP/1.1\r\nHost: feed\r\n\r\n")
    assert _status(answer) == 414 and closed


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 5\r\n\r\nhello", b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
)
def test_a_request_body_is_413_and_close(listener: Listener, framing: bytes) -> None:
    answer, closed = _exchange(listener, b"POST /updates/appcast.xml HTTP/1.1\r\nHost: feed\r\n" + framing)
    assert _status(answer) == 413 and closed


def test_an_empty_body_is_no_body(listener: Listener) -> None:
    answer, _closed = _exchange(
        listener, b"GET /health HTTP/1.1\r\nHost: feed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert _status(answer) == 200


def test_a_connection_that_sends_nothing_is_closed(listener: Listener) -> None:
    with listener.connect() as sock:
        answer, closed = _read_until_closed(sock)
    assert closed and answer == b""


def test_a_slowly_trickled_head_is_closed_unanswered(listener: Listener) -> None:
    """One header byte every 0.1 s keeps data coming, yet the head is never complete in time."""
    with listener.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: feed\r\nX-Slow: ")
        sock.settimeout(0.1)
        deadline = time.monotonic() + OBSERVE
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                sock.sendall(b"s")
                if sock.recv(65536) == b"":
                    closed = True
            except TimeoutError:
                continue
            except (ConnectionError, ssl.SSLError):
                closed = True
    assert closed


def test_an_idle_keep_alive_connection_is_closed(listener: Listener) -> None:
    with listener.connect() as sock:
        sock.sendall(b"GET /updates/appcast.xml HTTP/1.1\r\nHost: feed\r\n\r\n")
        answer, closed = _read_until_closed(sock)
    assert _status(answer) == 200 and closed


def test_a_stalled_tls_handshake_is_closed(tmp_path: Path) -> None:
    with (
        _running(tmp_path, True, *SMALL) as running,
        socket.create_connection(("127.0.0.1", running.feed.port), timeout=OBSERVE) as raw,
    ):
        answer, closed = _read_until_closed(raw)
    assert closed and answer == b""


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_connections_over_the_cap_are_refused_and_the_feed_recovers(tmp_path: Path, tls: bool) -> None:
    limits = ("--max-connections", "4", "--header-timeout", "60", "--keep-alive-timeout", "60")
    with _running(tmp_path, tls, *limits) as running:
        held: list[socket.socket] = []

        def hold_one() -> bool:
            # The readiness client's connection may still be counted for a moment: retry until served.
            try:
                sock = running.connect()
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: feed\r\n\r\n")
                if sock.recv(65536).startswith(b"HTTP/1.1 200"):
                    held.append(sock)
                    return True
                sock.close()
            except (ConnectionError, ssl.SSLError):
                pass
            return False

        try:
            for _ in range(4):
                wait_until(hold_one, timeout=OBSERVE)

            def refused() -> bool:
                try:
                    with running.connect() as extra:
                        extra.sendall(b"GET /health HTTP/1.1\r\nHost: feed\r\n\r\n")
                        answer, closed = _read_until_closed(extra)
                except (ConnectionError, ssl.SSLError):
                    return True
                return closed and answer == b""

            assert refused()
            held.pop().close()

            def served() -> bool:
                with running.connect() as again:
                    again.sendall(b"GET /health HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n")
                    return _status(_read_until_closed(again)[0]) == 200

            assert wait_until(served, timeout=OBSERVE)
        finally:
            for sock in held:
                sock.close()


def test_the_trailing_slash_redirect_never_echoes_the_host(listener: Listener) -> None:
    answer, _closed = _exchange(
        listener, b"GET /updates/appcast.xml/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert _status(answer) == 307
    assert b"\r\nlocation: /updates/appcast.xml\r\n" in answer
    assert b"evil" not in answer


@pytest.mark.parametrize(
    "args",
    [
        ("--max-headers", "0"),
        ("--header-timeout", "0"),
        ("--max-body-bytes", "-1"),
        ("--max-connections", "abc"),
    ],
)
def test_bad_limit_values_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = subprocess.run(
        [str(FEED_BIN), "--root", str(tmp_path), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("nexy-feed: error:") and result.stderr.count("\n") == 1


def _without_date(answer: bytes) -> bytes:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"date: ")]
    assert len(lines) == head.count(b"\r\n"), "exactly one date line"
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "path", ["/updates/appcast.xml", "/updates/appcast-beta.xml", "/updates/health", "/health"]
)
@pytest.mark.parametrize(
    "request_template",
    [
        b"GET {} HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n",
        b"HEAD {} HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n",
        b"GET {} HTTP/1.0\r\n\r\n",
        b'GET {} HTTP/1.1\r\nHost: feed\r\nIf-None-Match: "x", {etag}\r\nConnection: close\r\n\r\n',
    ],
    ids=["get", "head", "http10", "etag"],
)
def test_the_fast_path_answers_the_same_bytes_as_the_app(
    listener: Listener, path: str, request_template: bytes
) -> None:
    """A target with a query is routed through Starlette; the bare target takes the fast path."""
    first, _closed = _exchange(
        listener, f"GET {path} HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n".encode()
    )
    etag = next((line[6:] for line in first.split(b"\r\n") if line.startswith(b"etag: ")), b'"none"')
    fast, _closed = _exchange(
        listener, request_template.replace(b"{}", path.encode()).replace(b"{etag}", etag)
    )
    slow, _closed = _exchange(
        listener, request_template.replace(b"{}", path.encode() + b"?via=app").replace(b"{etag}", etag)
    )
    assert _status(fast) in (200, 304, 404)
    assert _without_date(fast) == _without_date(slow)


def test_pipelined_requests_are_answered_in_order(listener: Listener) -> None:
    with listener.connect() as sock:
        sock.sendall(
            b"GET /health?first HTTP/1.1\r\nHost: feed\r\n\r\n"
            b"GET /updates/appcast.xml HTTP/1.1\r\nHost: feed\r\n\r\n"
            b"GET /nowhere HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n"
        )
        answer, closed = _read_until_closed(sock)
    statuses = [int(part[:3]) for part in answer.split(b"HTTP/1.1 ")[1:] if part[:3].isdigit()]
    assert closed and statuses == [200, 200, 404]
    assert answer.index(b'"version"') < answer.index(b"<rss")
