"""The real ``nexy-feed`` process on loopback: endpoints, caching, reload, the gate, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme

from schemas import dump_model, parse_appcast
from tests.feed.conftest import BETA_VERSION, STABLE_VERSION
from tests.feed.feedkit import FeedProcess, RuntimeTree, make_manifest, wait_until

pytestmark = pytest.mark.timeout(120)

StartFeed = Callable[..., FeedProcess]


def _versions(response: httpx.Response) -> list[str]:
    return [item.version for item in parse_appcast(response.content)]


def test_health_endpoints_and_stable_appcast(
    tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    feed = start_feed(tree.root)
    health = client.get(f"{feed.base_url}/health")
    assert health.json() == {"status": "ok", "version": STABLE_VERSION}
    updates = client.get(f"{feed.base_url}/updates/health").json()
    assert updates["status"] == "ok"
    assert (updates["latest_version"], updates["latest_build"], updates["beta_enabled"]) == (
        STABLE_VERSION,
        STABLE_VERSION,
        False,
    )
    stable = make_manifest(STABLE_VERSION)
    assert updates["channels"]["stable"] == {
        "version": STABLE_VERSION,
        "build": STABLE_VERSION,
        "url": str(stable.artifact.url),
        "size": stable.artifact.size,
        "sha256": stable.artifact.sha256,
    }
    assert updates["channels"]["beta"]["version"] == BETA_VERSION
    assert len(updates["manifest_digest"]) == 64

    appcast = client.get(f"{feed.base_url}/updates/appcast.xml")
    assert appcast.status_code == 200
    assert appcast.headers["content-type"].startswith("application/rss+xml")
    assert appcast.headers["cache-control"] == "no-cache"
    (item,) = parse_appcast(appcast.content)
    assert (item.version, item.short_version, item.url, item.length) == (
        STABLE_VERSION,
        STABLE_VERSION,
        str(stable.artifact.url),
        stable.artifact.size,
    )
    # The notes carry &, < and ]]>: the feed is still well-formed and gives them back as escaped HTML.
    assert item.description == "<p>Stable fixes &amp; &lt;speed&gt; ]]&gt; tweaks</p>\n"
    assert client.get(f"{feed.base_url}/nowhere").status_code == 404


def test_etag_gives_304_and_head_has_headers_without_body(
    tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    tree.set_gate(True)
    feed = start_feed(tree.root)
    for path in ("/updates/appcast.xml", "/updates/appcast-beta.xml", "/updates/health", "/health"):
        first = client.get(f"{feed.base_url}{path}")
        etag = first.headers["etag"]
        again = client.get(f"{feed.base_url}{path}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        # A 304 repeats the validators and caching rules (RFC 9110 15.4.5), so no cache keeps a stale rule.
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == first.headers["cache-control"]
        head_cached = client.head(f"{feed.base_url}{path}", headers={"If-None-Match": etag})
        assert head_cached.status_code == 304 and head_cached.content == b""
        weak_list = client.get(f"{feed.base_url}{path}", headers={"If-None-Match": f'"other", W/{etag}'})
        assert weak_list.status_code == 304
        assert client.get(f"{feed.base_url}{path}", headers={"If-None-Match": '"stale"'}).status_code == 200
        head = client.head(f"{feed.base_url}{path}")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(first.content)
        assert head.headers["etag"] == etag
    beta = client.get(f"{feed.base_url}/updates/appcast-beta.xml")
    assert beta.headers["cache-control"] == "private, no-store"
    for path in ("/updates/appcast.xml", "/updates/health", "/health"):
        assert client.get(f"{feed.base_url}{path}").headers["cache-control"] == "no-cache"


def test_beta_gate_flips_both_ways_without_restart(
    tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    feed = start_feed(tree.root)
    beta_url = f"{feed.base_url}/updates/appcast-beta.xml"
    closed = client.get(beta_url)
    assert closed.status_code == 404
    assert closed.headers["cache-control"] == "private, no-store"
    closed_head = client.head(beta_url)
    assert (closed_head.status_code, closed_head.content) == (404, b"")
    assert closed_head.headers["cache-control"] == "private, no-store"

    tree.set_gate(True)
    opened = wait_until(lambda: (r := client.get(beta_url)).status_code == 200 and r)
    assert _versions(opened) == [BETA_VERSION, STABLE_VERSION]
    assert client.get(f"{feed.base_url}/updates/health").json()["beta_enabled"] is True
    assert _versions(client.get(f"{feed.base_url}/updates/appcast.xml")) == [STABLE_VERSION]

    tree.set_gate(False)
    wait_until(lambda: client.get(beta_url).status_code == 404)
    assert client.get(f"{feed.base_url}/updates/health").json()["beta_enabled"] is False

    tree.set_gate(True)
    reopened = wait_until(lambda: (r := client.get(beta_url)).status_code == 200 and r)
    assert reopened.content == opened.content
    assert feed.process is not None and feed.process.poll() is None
    assert "Traceback" not in feed.log()


def test_promotion_is_served_after_the_files_change(
    tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    feed = start_feed(tree.root)
    before = client.get(f"{feed.base_url}/updates/appcast.xml").headers["etag"]
    tree.write_stable(make_manifest(BETA_VERSION))

    def promoted() -> bool:
        return bool(client.get(f"{feed.base_url}/health").json()["version"] == BETA_VERSION)

    wait_until(promoted)
    appcast = client.get(f"{feed.base_url}/updates/appcast.xml")
    assert appcast.headers["etag"] != before
    assert _versions(appcast) == [BETA_VERSION]
    health = client.get(f"{feed.base_url}/updates/health").json()
    assert (health["status"], health["latest_version"]) == ("ok", BETA_VERSION)


def test_broken_manifest_keeps_last_good_feed_and_says_degraded(
    tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    feed = start_feed(tree.root)
    good = client.get(f"{feed.base_url}/updates/appcast.xml")
    tree.write_raw(tree.layout.versioned_manifest(STABLE_VERSION), b"{ broken json")
    tree.write_raw(tree.layout.stable_manifest, b"{ broken json")

    def degraded() -> dict[str, object] | None:
        health: dict[str, object] = client.get(f"{feed.base_url}/updates/health").json()
        return health if health["status"] == "degraded" else None

    health = wait_until(degraded)
    assert f"manifest_{STABLE_VERSION}.json: invalid manifest" in str(health["reason"])
    assert health["latest_version"] == STABLE_VERSION
    still = client.get(f"{feed.base_url}/updates/appcast.xml")
    assert (still.content, still.headers["etag"]) == (good.content, good.headers["etag"])

    tree.write_stable(make_manifest(STABLE_VERSION))
    wait_until(lambda: client.get(f"{feed.base_url}/updates/health").json()["status"] == "ok")


def test_manifests_directory_created_after_start_is_picked_up(
    tmp_path: Path, start_feed: StartFeed, client: httpx.Client
) -> None:
    tree = RuntimeTree(tmp_path / "late")
    tree.install_fixtures()
    feed = start_feed(tree.root)
    assert client.get(f"{feed.base_url}/updates/health").json()["latest_version"] is None
    tree.write_stable(make_manifest(STABLE_VERSION))
    wait_until(
        lambda: client.get(f"{feed.base_url}/updates/health").json()["latest_version"] == STABLE_VERSION
    )


def test_sighup_forces_a_reload_and_sigterm_exits_cleanly(
    tree: RuntimeTree, tmp_path: Path, start_feed: StartFeed, client: httpx.Client
) -> None:
    # An edit through a hard link in another directory: file events name the directory the file
    # was opened through, so no watch sees it, and the resync is an hour away, so only SIGHUP can
    # make the server see it. (A link at config.env's own name is refused, see below.)
    env = tree.layout.config_env_path
    feed = start_feed(tree.root, "--resync-seconds", "3600")
    beta_url = f"{feed.base_url}/updates/appcast-beta.xml"
    assert client.get(beta_url).status_code == 404
    outside = tmp_path / "etc"
    outside.mkdir()
    os.link(env, outside / "env-link")
    with (outside / "env-link").open("r+b") as handle:
        data = handle.read()
        handle.seek(0)
        handle.write(data.replace(b"UPDATE_BETA_ENABLED=false", b"UPDATE_BETA_ENABLED=true"))
        handle.truncate()
    # A second hard link makes the feed refuse the file (schemas.fileio): drop it again.
    (outside / "env-link").unlink()
    feed.signal(signal.SIGHUP)
    wait_until(lambda: client.get(beta_url).status_code == 200)
    assert "reload requested" in feed.log()
    assert _versions(client.get(beta_url)) == [BETA_VERSION, STABLE_VERSION]
    assert feed.stop() == 0
    assert "Traceback" not in feed.log()


def test_a_planted_link_or_fifo_is_refused_and_the_last_good_feed_stays(
    tree: RuntimeTree, tmp_path: Path, start_feed: StartFeed, client: httpx.Client
) -> None:
    # The app server's user may plant files in the runtime tree: a FIFO would block the reader for
    # good, a link would have the feed serve whatever it points at.
    tree.set_gate(True)
    gate = tree.layout.config_env_path.read_bytes()
    feed = start_feed(tree.root)
    beta_url = f"{feed.base_url}/updates/appcast-beta.xml"
    good = client.get(beta_url)
    assert good.status_code == 200
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(dump_model(make_manifest("2.0.0.99", "beta")))
    tree.layout.beta_manifest.unlink()
    tree.layout.beta_manifest.symlink_to(elsewhere)
    tree.layout.config_env_path.unlink()
    os.mkfifo(tree.layout.config_env_path)

    def refused() -> dict[str, object] | None:
        health: dict[str, object] = client.get(f"{feed.base_url}/updates/health").json()
        return health if "config.env" in str(health.get("reason")) else None

    health = wait_until(refused)
    reasons = str(health["reason"])
    assert health["status"] == "degraded" and health["beta_enabled"] is True
    assert "manifest_beta.json is a symbolic link; refused" in reasons
    assert "config.env is a FIFO; refused" in reasons
    assert str(tmp_path) not in reasons  # served on the internet: no absolute paths
    still = client.get(beta_url)
    assert (still.content, still.headers["etag"]) == (good.content, good.headers["etag"])

    # Good files in their place are served again: no reader was left stuck on the FIFO.
    tree.layout.config_env_path.unlink()
    tree.write_raw(tree.layout.config_env_path, gate)
    tree.layout.beta_manifest.unlink()
    tree.write_beta(make_manifest("2.0.0.16", "beta"))

    def healed() -> bool:
        health = client.get(f"{feed.base_url}/updates/health").json()
        return bool(health["status"] == "ok" and health["channels"]["beta"]["version"] == "2.0.0.16")

    wait_until(healed)
    assert feed.stop() == 0
    assert "Traceback" not in feed.log()


def test_tls_on_any_port_when_a_certificate_is_given(
    tree: RuntimeTree, tmp_path: Path, start_feed: StartFeed
) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    certificate.private_key_pem.write_to_path(str(keyfile))
    context = ssl.create_default_context()
    authority.configure_trust(context)
    with httpx.Client(verify=context, timeout=10.0) as tls_client:
        feed = start_feed(
            tree.root, "--certfile", str(certfile), "--keyfile", str(keyfile), http=tls_client, scheme="https"
        )
        assert feed.base_url.startswith("https://")
        assert tls_client.get(f"{feed.base_url}/health").json()["version"] == STABLE_VERSION
        assert _versions(tls_client.get(f"{feed.base_url}/updates/appcast.xml")) == [STABLE_VERSION]


def test_layout_overrides_are_honoured(tmp_path: Path, start_feed: StartFeed, client: httpx.Client) -> None:
    # The files sit where the overrides say, and the default places stay empty.
    moved = RuntimeTree(tmp_path / "elsewhere")
    moved.install_fixtures()
    moved.write_stable(make_manifest(STABLE_VERSION))
    moved.write_beta(make_manifest(BETA_VERSION, "beta"))
    moved.set_gate(True)
    root = tmp_path / "custom"
    root.mkdir()
    feed = start_feed(
        root,
        "--manifests-dir",
        str(moved.layout.stable_manifest.parent),
        "--unified-config",
        str(moved.layout.unified_config_path),
        "--config-env",
        str(moved.layout.config_env_path),
        "--title",
        "Nexy Staging",
    )
    health = json.loads(client.get(f"{feed.base_url}/updates/health").content)
    assert (health["status"], health["latest_version"]) == ("ok", STABLE_VERSION)
    assert health["beta_enabled"] is True
    assert b"<title>Nexy Staging</title>" in client.get(f"{feed.base_url}/updates/appcast.xml").content
    moved.set_gate(False)
    wait_until(lambda: client.get(f"{feed.base_url}/updates/appcast-beta.xml").status_code == 404)
    assert list(root.iterdir()) == []


def test_systemd_readiness_and_stopping_are_notified(
    tree: RuntimeTree, unix_socket_dir: Path, start_feed: StartFeed
) -> None:
    address = unix_socket_dir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        listener.settimeout(20)
        feed = start_feed(tree.root, env={"NOTIFY_SOCKET": str(address)})
        assert listener.recv(4096).decode().startswith("READY=1")
        assert feed.stop() == 0
        assert listener.recv(4096) == b"STOPPING=1"
