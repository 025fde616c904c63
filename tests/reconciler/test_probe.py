"""Health probes against a stand-in feed on loopback (Starlette + uvicorn), staging over TLS.

The stand-in serves the feed's documents (``schemas.feedhealth``'s models) from the VM's runtime files, the way the real
feed does: the stable version from unified_config.yaml, the beta appcast 404 while the gate is closed.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.envlines import gate_value
from reconciler.yamledit import read_update_version
from schemas import FeedHealth, ServedChannels, ServedRelease, ServerHealth
from tests.ports import free_port

from .helpers import Daemon, Vm, bundle, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)
APPCAST = (
    '<?xml version="1.0"?><rss version="2.0" xmlns:sparkle="http://www.andymatuschak.org/xml-namespaces/sparkle">'
    "<channel><item><sparkle:version>{v}</sparkle:version><sparkle:shortVersionString>{v}"
    "</sparkle:shortVersionString></item></channel></rss>"
)


def _feed(vm: Vm, broken: dict[str, bool]) -> Starlette:
    def stable() -> str:
        version = read_update_version(vm.unified.read_bytes())[0] or ""
        return "0.0.0.1" if broken["on"] else version

    async def health(_: Request) -> Response:
        return JSONResponse(ServerHealth(status="ok", version=stable()).model_dump(mode="json"))

    async def updates_health(_: Request) -> Response:
        gate = gate_value(vm.env.read_bytes()) == "true"
        served = ServedRelease(
            version=stable(), build=stable(), url="https://example.invalid/Nexy.dmg", size=1, sha256="0" * 64
        )
        document = FeedHealth(
            status="ok",
            latest_version=stable(),
            latest_build=stable(),
            channels=ServedChannels(stable=served, beta=None),
            manifest_digest="0" * 64,
            beta_enabled=gate,
        )
        return JSONResponse(document.model_dump(mode="json"))

    async def appcast(_: Request) -> Response:
        return Response(APPCAST.format(v=stable()), media_type="application/xml")

    async def appcast_beta(_: Request) -> Response:
        if gate_value(vm.env.read_bytes()) != "true":
            return Response("beta closed", status_code=404)
        beta = json.loads((vm.manifests / "manifest_beta.json").read_bytes())["version"]
        return Response(APPCAST.format(v=beta), media_type="application/xml")

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/updates/health", updates_health),
            Route("/updates/appcast.xml", appcast),
            Route("/updates/appcast-beta.xml", appcast_beta),
        ]
    )


@pytest.fixture
def feeds(tmp_path: Path) -> Iterator[tuple[Vm, dict[str, bool]]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    prod, staging = free_port(), free_port()
    extra = (
        "probes:\n"
        f"  production: {{url: 'http://127.0.0.1:{prod}', timeout_s: 5}}\n"
        f"  staging: {{url: 'https://127.0.0.1:{staging}', ca_bundle: '{ca_path}', timeout_s: 5}}\n"
    )
    vm = make_vm(tmp_path, extra=extra)
    broken = {"on": False}
    servers = [
        uvicorn.Server(uvicorn.Config(_feed(vm, broken), host="127.0.0.1", port=prod, log_level="error")),
        uvicorn.Server(
            uvicorn.Config(
                _feed(vm, broken),
                host="127.0.0.1",
                port=staging,
                log_level="error",
                ssl_certfile=str(cert_path),
                ssl_keyfile=str(key_path),
            )
        ),
    ]
    threads = [threading.Thread(target=server.run, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    wait_for(lambda: all(server.started for server in servers), 20, "stand-in feeds")
    yield vm, broken
    for server in servers:
        server.should_exit = True
    for thread in threads:
        thread.join(10)


def _health(vm: Vm) -> dict[str, dict[str, object]]:
    status = vm.status() or {}
    health: dict[str, dict[str, object]] = status.get("health", {})
    return health


def test_probes_report_health_apart_from_sync(feeds: tuple[Vm, dict[str, bool]]) -> None:
    vm, broken = feeds
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        b = bundle(gate=True)
        assert run_cli(vm, "accept", "--wait", "20", stdin=b.model_dump_json().encode()).returncode == 0
        wait_for(
            lambda: all(h.get("ok") for h in _health(vm).values()) and len(_health(vm)) == 2, 30, "healthy"
        )
        broken["on"] = True
        daemon.proc.send_signal(signal.SIGHUP)
        # Wait for the probe that saw the broken feed, not an earlier one that failed for another reason.
        wait_for(
            lambda: (
                _health(vm).get("production", {}).get("ok") is False
                and "serves stable 0.0.0.1" in str(_health(vm)["production"].get("detail"))
            ),
            60,
            "production unhealthy because it serves the wrong version",
        )
        status = vm.status()
        assert status is not None and all(
            r["sync"] in ("in_sync", "healed") for r in status["resources"].values()
        )
        assert any(a["kind"] == "unhealthy" and a["resource"] == "production" for a in daemon.alerts())
        broken["on"] = False
        closed = bundle(gate=False).model_copy(update={"stable": b.stable, "beta": b.beta})
        assert run_cli(vm, "accept", "--wait", "20", stdin=closed.model_dump_json().encode()).returncode == 0
        wait_for(lambda: all(h.get("ok") for h in _health(vm).values()), 60, "healthy with the gate closed")
        wait_for(
            lambda: any(a["kind"] == "unhealthy" and a["status"] == "resolved" for a in daemon.alerts()),
            20,
            "resolved",
        )
    finally:
        assert daemon.stop() == 0
