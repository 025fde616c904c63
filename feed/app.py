"""The Starlette application: the update endpoints, served from the current snapshot.

Rules:
- Handlers only pick a pre-rendered payload and answer (200, or 304 on a matching ETag); HEAD is
  answered by every GET route with the same headers and no body.
- ``/updates/appcast-beta.xml`` answers 404 while the gate is closed, and that 404 is
  ``private, no-store`` too, so no cache keeps the beta feed closed after the gate opens.
- The asset route exists only when an assets directory is configured (the sandbox).
- The lifespan builds the first snapshot before the server accepts connections, runs the reloader
  and turns SIGHUP into a forced reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .assets import AssetStore
from .http import PayloadResponse, serve_payload
from .service import FeedService
from .snapshot import PRIVATE_CACHE, Payload, Snapshot
from .watch import Reloader

__all__ = ["create_app"]

log = logging.getLogger("nexy.feed")

_BETA_CLOSED_HEADERS = (
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"10"),
    (b"cache-control", PRIVATE_CACHE.encode()),
)


def _payload_route(path: str, service: FeedService, pick: Callable[[Snapshot], Payload]) -> Route:
    async def endpoint(request: Request) -> Response:
        return serve_payload(pick(service.snapshot), request.headers.get("if-none-match"))

    return Route(path, endpoint, methods=["GET", "HEAD"])


def _beta_route(service: FeedService) -> Route:
    async def endpoint(request: Request) -> Response:
        payload = service.snapshot.beta_appcast
        if payload is None:
            return PayloadResponse(404, b"Not Found\n", _BETA_CLOSED_HEADERS)
        return serve_payload(payload, request.headers.get("if-none-match"))

    return Route("/updates/appcast-beta.xml", endpoint, methods=["GET", "HEAD"])


def _install_sighup(reloader: Reloader) -> bool:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.request_reload)
    except (ValueError, RuntimeError, NotImplementedError):
        return False  # not the main thread (an embedded server): reload still follows file changes
    return True


def create_app(
    service: FeedService, *, assets_dir: Path | None = None, resync_seconds: float = 60.0
) -> Starlette:
    reloader = Reloader(service, resync_seconds=resync_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await reloader.reload(force=True)
        stop = asyncio.Event()
        task = asyncio.create_task(reloader.run(stop))
        hooked = _install_sighup(reloader)
        try:
            yield
        finally:
            stop.set()
            if hooked:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=5.0)

    routes = [
        _payload_route("/health", service, lambda snapshot: snapshot.health),
        _payload_route("/updates/health", service, lambda snapshot: snapshot.updates_health),
        _payload_route("/updates/appcast.xml", service, lambda snapshot: snapshot.appcast),
        _beta_route(service),
    ]
    if assets_dir is not None:
        store = AssetStore(assets_dir)
        routes.append(Route("/releases/download/{tag}/{name}", store.download, methods=["GET", "HEAD"]))
    return Starlette(routes=routes, lifespan=lifespan)
