"""The Starlette application: the update endpoints, served from the current snapshot.

Rules:
- Handlers only pick a pre-rendered payload and answer (200, or 304 on a matching ETag); HEAD is
  answered by every GET route with the same headers and no body.
- ``/updates/appcast-beta.xml`` answers 404 while the gate is closed, and that 404 is
  ``private, no-store`` too, so no cache keeps the beta feed closed after the gate opens.
- The asset route exists only when an assets directory is configured (the sandbox).
- :data:`PAYLOAD_ROUTES` is the one table of pre-rendered routes: the Starlette routes and the
  server's fast path (``feed.protocol``) both answer from it, so they cannot disagree.
- No client-controlled text in an answer: the trailing-slash redirect is relative and names only
  one of our own paths (Starlette's echoes the ``Host`` header).
- With metrics, every request the app answers (those the fast path does not: a query, an asset,
  a 404) is counted by :func:`_counted`, its route folded to a bounded label first; an appcast
  request also counts as a check, with Sparkle's profile parameters when its query has them.
- The lifespan builds the first snapshot before the server accepts connections, runs the reloader
  and turns SIGHUP into a forced reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .assets import AssetStore
from .http import PayloadResponse, serve_payload
from .metrics import CHANNELS, FeedMetrics
from .service import FeedService
from .snapshot import PRIVATE_CACHE, Payload, Snapshot
from .watch import Reloader

__all__ = ["BETA_CLOSED_BODY", "BETA_CLOSED_HEADERS", "PAYLOAD_ROUTES", "Pick", "create_app"]

log = logging.getLogger("nexy.feed")

BETA_CLOSED_BODY = b"Not Found\n"
BETA_CLOSED_HEADERS = (
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"10"),
    (b"cache-control", PRIVATE_CACHE.encode()),
)

Pick = Callable[[Snapshot], Payload | None]
"""The payload a route serves from a snapshot; None is the closed beta feed's 404."""

PAYLOAD_ROUTES: Mapping[str, Pick] = MappingProxyType(
    {
        "/health": lambda snapshot: snapshot.health,
        "/updates/health": lambda snapshot: snapshot.updates_health,
        "/updates/appcast.xml": lambda snapshot: snapshot.appcast,
        "/updates/appcast-beta.xml": lambda snapshot: snapshot.beta_appcast,
    }
)


def _payload_route(path: str, service: FeedService, pick: Pick) -> Route:
    async def endpoint(request: Request) -> Response:
        payload = pick(service.snapshot)
        if payload is None:
            return PayloadResponse(404, BETA_CLOSED_BODY, BETA_CLOSED_HEADERS)
        return serve_payload(payload, request.headers.get("if-none-match"))

    return Route(path, endpoint, methods=["GET", "HEAD"])


def _slash_redirect_or_404(router: Router) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        toggled = path.rstrip("/") if path.endswith("/") else path + "/"
        if scope["type"] == "http" and toggled in PAYLOAD_ROUTES:
            await RedirectResponse(url=toggled)(scope, receive, send)
            return
        await router.not_found(scope, receive, send)

    return default


def _counted(app: ASGIApp, metrics: FeedMetrics) -> ASGIApp:
    """``app`` with every HTTP answer counted: route label, status, body bytes, appcast checks."""

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        answer = [0, 0]  # status, body bytes

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer[0] = int(message["status"])
            elif message["type"] == "http.response.body":
                answer[1] += len(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive, counting_send)
        finally:
            # An exception is answered 500 by Starlette's outermost middleware, outside this one.
            metrics.request(metrics.route(path), answer[0] or 500, answer[1])
        channel = CHANNELS.get(path.encode("latin-1", "replace"))
        if channel is not None:
            agents = [value for name, value in scope["headers"] if name == b"user-agent"]
            metrics.check(channel, agents[-1] if agents else None)
            query = scope.get("query_string", b"")
            if query:
                metrics.profile(channel, query.decode("latin-1"))

    return counted


def _install_sighup(reloader: Reloader) -> bool:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.request_reload)
    except (ValueError, RuntimeError, NotImplementedError):
        return False  # not the main thread (an embedded server): reload still follows file changes
    return True


def create_app(
    service: FeedService,
    *,
    assets_dir: Path | None = None,
    resync_seconds: float = 60.0,
    metrics: FeedMetrics | None = None,
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

    routes = [_payload_route(path, service, pick) for path, pick in PAYLOAD_ROUTES.items()]
    if assets_dir is not None:
        store = AssetStore(assets_dir)
        routes.append(Route("/releases/download/{tag}/{name}", store.download, methods=["GET", "HEAD"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.redirect_slashes = False
    app.router.default = _slash_redirect_or_404(app.router)
    if metrics is not None:
        app.add_middleware(_counted, metrics=metrics)
    return app
