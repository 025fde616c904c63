"""The sandbox asset store over HTTP: lengths, ranges, HEAD, 304, and no way out of the directory."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.feed.feedkit import FeedProcess, RuntimeTree

pytestmark = pytest.mark.timeout(120)

StartFeed = Callable[..., FeedProcess]
DMG = bytes(range(256)) * 64  # 16 KiB with every byte value, so an off-by-one shows


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    store = tmp_path / "assets"
    (store / "UpdateBeta").mkdir(parents=True)
    (store / "UpdateBeta" / "Nexy.dmg").write_bytes(DMG)
    (store / "AppBeta").mkdir()
    (store / "AppBeta" / "Nexy.pkg").write_bytes(b"pkg-bytes")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the store")
    os.symlink(secret, store / "UpdateBeta" / "escape.txt")
    os.symlink(store / "AppBeta" / "Nexy.pkg", store / "UpdateBeta" / "inside-link.pkg")
    os.symlink("loop.dmg", store / "UpdateBeta" / "loop.dmg")
    return store


@pytest.fixture
def feed(tree: RuntimeTree, assets: Path, start_feed: StartFeed) -> FeedProcess:
    return start_feed(tree.root, "--assets-dir", str(assets))


def _raw_get(port: int, target: str) -> int:
    """Send a request line exactly as written (clients normalise ``..`` away) and return the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


def test_download_with_length_head_and_etag(feed: FeedProcess, client: httpx.Client) -> None:
    url = f"{feed.base_url}/releases/download/UpdateBeta/Nexy.dmg"
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == DMG
    assert int(response.headers["content-length"]) == len(DMG)
    assert response.headers["accept-ranges"] == "bytes"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(DMG)
    cached = client.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    assert client.get(f"{feed.base_url}/releases/download/AppBeta/Nexy.pkg").content == b"pkg-bytes"


def test_range_requests(feed: FeedProcess, client: httpx.Client) -> None:
    url = f"{feed.base_url}/releases/download/UpdateBeta/Nexy.dmg"
    part = client.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.content == DMG[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(DMG)}"
    assert int(part.headers["content-length"]) == 200
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, DMG[-10:])
    assert client.get(url, headers={"Range": f"bytes={len(DMG) + 5}-"}).status_code == 416
    several = client.get(url, headers={"Range": "bytes=0-9,1000-1009"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert DMG[0:10] in several.content and DMG[1000:1010] in several.content


def test_symlink_inside_the_store_is_served(feed: FeedProcess, client: httpx.Client) -> None:
    assert client.get(f"{feed.base_url}/releases/download/UpdateBeta/inside-link.pkg").content == b"pkg-bytes"


ESCAPES: list[tuple[str, set[int]]] = [
    ("/releases/download/../../secret.txt", {400, 404}),
    ("/releases/download/UpdateBeta/../../secret.txt", {400, 404}),
    ("/releases/download/%2E%2E/secret.txt", {400}),
    ("/releases/download/UpdateBeta/%2E%2E", {400}),
    ("/releases/download/..%2F..%2Fsecret.txt/x", {400, 404}),
    ("/releases/download//etc/passwd", {400, 404}),
    ("/releases/download/UpdateBeta/%2Fetc%2Fpasswd", {400, 404}),
    ("/releases/download/UpdateBeta/escape.txt", {404}),
    ("/releases/download/UpdateBeta/.hidden", {400}),
    ("/releases/download/UpdateBeta/missing.dmg", {404}),
    ("/releases/download/UpdateBeta", {404}),
    ("/releases/download/UpdateBeta/" + "a" * 300, {404}),
    ("/releases/download/UpdateBeta/loop.dmg", {404}),
]


def test_no_path_escape(feed: FeedProcess) -> None:
    answers = {target: _raw_get(feed.port, target) for target, _ in ESCAPES}
    assert {target: status for target, status in answers.items() if status not in dict(ESCAPES)[target]} == {}


def test_asset_route_is_absent_without_an_assets_dir(
    tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    feed = start_feed(tree.root)
    assert client.get(f"{feed.base_url}/releases/download/UpdateBeta/Nexy.dmg").status_code == 404
