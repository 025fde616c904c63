"""The feed's health documents are one model each, and every reader refuses a wrong one the same way.

A tiny loopback HTTP server plants the documents; each reader (verify's rows, staging.validate's
rows, preflight, ``flow.served_version`` and ``wait_served``, the reconciler's probe) is asked in
process and must answer the one line ``schemas.parse_health`` gives, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from feed.evaluate import Served
from feed.snapshot import build_snapshot
from reconciler.config import ProbeConfig
from reconciler.probe import probe_endpoint
from reconciler.probeexpect import Expectation
from release.errors import ReleaseError
from release.parts.session import Session
from release.steps import flow
from release.steps.checks import beta as staging_rows
from release.steps.checks import checklist, served
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from schemas import Channel, FeedHealth, HealthDocumentError, ServerHealth, Target, parse_health
from schemas.target import Endpoint

from ..fakes.jsonhttp import serving
from ..feed.feedkit import make_manifest
from ..release.helpers import sandbox_target

STABLE, BETA = "2.0.0.15", "2.0.0.16"


def _served(reasons: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """(/health, /updates/health) bytes exactly as the feed builds them."""
    snapshot = build_snapshot(
        Served(stable=make_manifest(STABLE), stable_digest="a" * 64, beta=make_manifest(BETA)), reasons
    )
    return snapshot.health.body, snapshot.updates_health.body


def _changed(body: bytes, **changes: Any) -> bytes:
    document = json.loads(body)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = document
        for parent in parents:
            node = node[parent]
        node[key] = value
    return json.dumps(document).encode()


class _Planted(ThreadingHTTPServer):
    bodies: dict[str, bytes]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Planted

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        body = self.server.bodies.get(self.path)
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.fixture
def feed() -> Iterator[tuple[str, dict[str, bytes]]]:
    server = _Planted(("127.0.0.1", 0), _Handler)
    health, updates = _served()
    server.bodies = {"/health": health, "/updates/health": updates}
    with serving(server, "planted feed"):
        yield f"http://127.0.0.1:{server.server_address[1]}", server.bodies


@pytest.fixture
def target(tmp_path: Path, feed: tuple[str, dict[str, bytes]]) -> Target:
    loaded = sandbox_target(tmp_path)
    plain = Endpoint(url=feed[0], secure=False)
    endpoints = loaded.endpoints.model_copy(update={"production": plain, "staging": plain})
    return loaded.model_copy(update={"endpoints": endpoints})


def test_the_feed_serves_the_models_dump() -> None:
    health, updates = _served()
    assert parse_health(ServerHealth, "u", health) == ServerHealth(status="ok", version=STABLE)
    document = parse_health(FeedHealth, "u", updates)
    assert (document.latest_version, document.version(Channel.BETA), document.reason) == (STABLE, BETA, None)
    assert "reason" not in json.loads(updates)  # present only when degraded
    degraded = parse_health(FeedHealth, "u", _served(("config.env: unreadable",))[1])
    assert (degraded.status, degraded.reason) == ("degraded", "config.env: unreadable")


def test_serves_means_the_version_and_the_dmg_sha256() -> None:
    document = parse_health(FeedHealth, "u", _served()[1])
    beta = make_manifest(BETA)
    assert document.serves(Channel.BETA, beta)
    other_bytes = beta.model_copy(update={"artifact": beta.artifact.model_copy(update={"sha256": "b" * 64})})
    assert not document.serves(Channel.BETA, other_bytes)  # same version and build, other dmg
    assert not document.serves(Channel.STABLE, beta)


@pytest.mark.parametrize(
    ("planted", "error"),
    [
        ({"beta_enabled": "yes"}, "beta_enabled: Input should be a valid boolean"),
        ({"channels__beta__size": "7"}, "channels.beta.size: Input should be a valid integer"),
        ({"latest_version": "2.0.0.14"}, "(document): Value error, latest_version and latest_build"),
        ({"served_by": "someone else"}, "served_by: Extra inputs are not permitted"),
        ({}, "(document): Invalid JSON"),
    ],
)
def test_every_reader_refuses_a_wrong_feed_health_document_the_same_way(
    feed: tuple[str, dict[str, bytes]], target: Target, planted: dict[str, Any], error: str
) -> None:
    base, bodies = feed
    bodies["/updates/health"] = _changed(bodies["/updates/health"], **planted) if planted else b"{not json"
    url = f"{base}/updates/health"
    with pytest.raises(HealthDocumentError) as parsed:
        parse_health(FeedHealth, url, bodies["/updates/health"])
    line = str(parsed.value)
    assert line.startswith(f"{url} answered a document that is not a feed health document: {error}")
    assert "\n" not in line

    stable, beta = make_manifest(STABLE), make_manifest(BETA)
    with Session.open(target, "verify", json=True) as session:
        details = [
            served.updates_health(Subject(session, Stage.STABLE, Channel.STABLE, stable)).detail,
            served.updates_health(Subject(session, Stage.BETA, Channel.BETA, beta)).detail,
            staging_rows.updates_health(Subject(session, Stage.STAGING, Channel.BETA, beta)).detail,
            flow.served_version(session, Channel.STABLE)[1],
            flow.served_version(session, Channel.BETA)[1],
        ]
        with pytest.raises(ReleaseError) as waited:
            flow.wait_served(session, Channel.BETA, beta, deadline_s=0)
    assert str(waited.value) == f"{base}/updates/health still {line} after 0s"
    probed = probe_endpoint("production", ProbeConfig(url=base, timeout_s=5), Expectation(STABLE, None, None))
    assert probed.ok is False
    assert details == [line[:300]] * len(details)
    assert probed.detail == line[:160]


@pytest.mark.parametrize(
    ("planted", "error"),
    [
        ({"status": "starting"}, "status: Input should be 'ok'"),
        ({"version": 2}, "version: Input should be a valid string"),
    ],
)
def test_every_reader_refuses_a_wrong_server_health_document_the_same_way(
    feed: tuple[str, dict[str, bytes]], target: Target, planted: dict[str, Any], error: str
) -> None:
    base, bodies = feed
    bodies["/health"] = _changed(bodies["/health"], **planted)
    line = f"{base}/health answered a document that is not a server health document: {error}"
    stable = make_manifest(STABLE)
    with Session.open(target, "preflight", json=True) as session:
        details = [
            served.health(Subject(session, Stage.STABLE, Channel.STABLE, stable)).detail,
            staging_rows.health(Subject(session, Stage.STAGING, Channel.BETA, make_manifest(BETA))).detail,
            checklist.server_health(Subject(session, Stage.PREFLIGHT, Channel.STABLE)).detail,
        ]
    probed = probe_endpoint("production", ProbeConfig(url=base, timeout_s=5), Expectation(STABLE, None, None))
    assert probed.ok is False
    assert details == [line] * len(details)
    assert probed.detail == line
