"""The feed's Prometheus endpoint: the real server with metrics on, Sparkle-like clients, a scrape."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable

import httpx
import pytest

from tests.feed.feedkit import FEED_BIN, FeedProcess, RuntimeTree, free_port
from tests.metricskit import labelled, scrape, value

pytestmark = pytest.mark.timeout(120)

APPCAST = "/updates/appcast.xml"
BETA = "/updates/appcast-beta.xml"


def _ua(version: str, sparkle: str = "2.6.4") -> dict[str, str]:
    # Sparkle's own format (SPUUserAgent.m): "<App name>/<display version> Sparkle/<Sparkle version>".
    return {"User-Agent": f"Nexy/{version} Sparkle/{sparkle}"}


def _raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_requests_checks_versions_profile_bytes_and_refusals(
    tree: RuntimeTree, start_feed: Callable[..., FeedProcess], client: httpx.Client
) -> None:
    port = free_port()
    feed = start_feed(
        tree.root, "--metrics-port", str(port), "--metrics-max-versions", "3", "--max-request-line", "256"
    )
    url = feed.base_url
    bodies = 0
    # Three tracked versions (the first three seen), then a fourth that folds into "other".
    for version, times in (("2.0.0.14", 3), ("2.0.0.13", 2), ("2.0.0.12", 1), ("2.0.0.11", 2)):
        for _ in range(times):
            response = client.get(url + APPCAST, headers=_ua(version))
            assert response.status_code == 200
            bodies += len(response.content)
    # Malformed or unknown: not Sparkle, no version, no User-Agent at all.
    for headers in ({"User-Agent": "curl/8.5.0"}, {"User-Agent": "Nexy/? Sparkle/2.6.4"}, {"User-Agent": ""}):
        response = client.get(url + APPCAST, headers=headers)
        assert response.status_code == 200
        bodies += len(response.content)
    # A conditional check (304, no body) and a HEAD (no body) still count as checks.
    first = client.get(url + APPCAST, headers=_ua("2.0.0.13"))
    etag, bodies = first.headers["etag"], bodies + len(first.content)
    bodies += len(client.get(url + APPCAST, headers=_ua("2.0.0.14")).content)
    assert client.get(url + APPCAST, headers={**_ua("2.0.0.14"), "If-None-Match": etag}).status_code == 304
    assert client.head(url + APPCAST, headers=_ua("2.0.0.12")).status_code == 200
    # Sparkle's profile parameters (SUSystemProfiler.m): the app's routes answer them (no fast path).
    for query, version in (
        ("osVersion=14.4.1&cputype=16777228&cpu64bit=1&appVersion=2.0.0.14&lang=en", "2.0.0.14"),
        ("osVersion=13.6&cputype=7&appVersion=2.0.0.13", "2.0.0.13"),
        ("osVersion=not-a-version&cputype=99", "2.0.0.13"),
    ):
        response = client.get(f"{url}{APPCAST}?{query}", headers=_ua(version))
        assert response.status_code == 200
        bodies += len(response.content)
    # The beta feed is closed in this tree: its checks are counted, and answered 404.
    assert client.get(url + BETA, headers=_ua("2.0.0.15")).status_code == 404
    assert client.get(url + "/nope").status_code == 404
    assert client.get(url + "/updates/" + "x" * 400).status_code == 414  # over --max-request-line
    assert b" 414 " in _raw_request(feed.port, b"GET /" + b"y" * 400 + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    checks = {
        version: value(samples, "nexy_feed_appcast_checks_total", channel="stable", version=version)
        for version in ("2.0.0.14", "2.0.0.13", "2.0.0.12", "other")
    }
    assert checks == {"2.0.0.14": 3 + 1 + 1 + 1, "2.0.0.13": 2 + 1 + 2, "2.0.0.12": 1 + 1, "other": 2 + 3}
    assert labelled(samples, "nexy_feed_appcast_checks_total", "version").keys() == checks.keys()
    # The bound is shared by the channels: the beta client's version is a fourth one, so "other".
    assert value(samples, "nexy_feed_appcast_checks_total", channel="beta", version="other") == 1
    assert labelled(samples, "nexy_feed_appcast_checks_by_os_total", "os_version") == {
        "14.4.1": 1,
        "13.6": 1,
        "other": 1,
    }
    assert labelled(samples, "nexy_feed_appcast_checks_by_cpu_total", "cpu_type") == {
        "arm64": 1,
        "x86": 1,
        "other": 1,
    }
    stable_checks = sum(checks.values())
    assert value(samples, "nexy_feed_requests_total", route=APPCAST, status="200") == stable_checks - 1
    assert value(samples, "nexy_feed_requests_total", route=APPCAST, status="304") == 1
    assert value(samples, "nexy_feed_requests_total", route=BETA, status="404") == 1
    assert value(samples, "nexy_feed_requests_total", route="other", status="404") == 1
    assert value(samples, "nexy_feed_requests_total", route="/health", status="200") >= 1
    assert value(samples, "nexy_feed_response_body_bytes_total", route=APPCAST) == bodies
    assert value(samples, "nexy_feed_refused_total", reason="status_414") == 2
    assert value(samples, "nexy_feed_refused_total", reason="max_connections") == 0
    # No address or per-client identifier in what is exported.
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "127.0.0.1" not in text and "Sparkle/" not in text and "curl" not in text


def test_metrics_off_by_default(tree: RuntimeTree, start_feed: Callable[..., FeedProcess]) -> None:
    feed = start_feed(tree.root)
    assert "--metrics-port" not in " ".join(feed.args)
    assert "metrics" not in feed.log().lower()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "localhost"])
def test_a_non_loopback_metrics_host_is_refused(tree: RuntimeTree, host: str) -> None:
    port = free_port()
    result = subprocess.run(
        [
            str(FEED_BIN),
            "--root",
            str(tree.root),
            "--port",
            str(port),
            "--metrics-port",
            str(free_port()),
            "--metrics-host",
            host,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--metrics-host" in lines[0] and "loopback" in lines[0]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_more_versions_than_the_bound_fold_into_other(
    tree: RuntimeTree, start_feed: Callable[..., FeedProcess], client: httpx.Client
) -> None:
    port = free_port()
    feed = start_feed(tree.root, "--metrics-port", str(port))  # the default bound: 50
    for minor in range(80):
        assert client.get(feed.base_url + APPCAST, headers=_ua(f"2.1.{minor}")).status_code == 200
    versions = labelled(
        scrape(f"http://127.0.0.1:{port}/metrics"), "nexy_feed_appcast_checks_total", "version"
    )
    assert len(versions) == 51
    assert versions["other"] == 30 and versions["2.1.0"] == 1 and versions["2.1.49"] == 1


def test_a_taken_metrics_port_is_one_line_and_exit_2(tree: RuntimeTree) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = free_port()
        args = ["--root", str(tree.root), "--port", str(port), "--metrics-port", str(taken.getsockname()[1])]
        result = subprocess.run(
            [str(FEED_BIN), *args], capture_output=True, text=True, timeout=30, check=False
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nexy-feed: error: --metrics-port")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
