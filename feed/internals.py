"""Every private piece of uvicorn, uvloop and asyncio the limits layer stands on, checked at start.

Rules:
- ``INTERNALS`` is the one list: each row names the owner (a module or class, by dotted path), the
  attribute, the feed module that needs it and, where the feed calls it with arguments, the
  parameters it passes. ``tests/feed/test_feed_internals.py`` checks the same list.
- :func:`missing_internals` gives one line per row the installed packages no longer satisfy, as
  ``uvicorn 0.55 no longer has HttpToolsProtocol._unset_keepalive_if_required:
  feed/protocol/connection.py needs it; pin uvicorn<0.55 or port the limits layer``; ``nexy-feed``
  prints them and exits before anything listens, not deep inside a request.
- A class attribute is looked up with ``getattr``; one that exists only on instances (set in a
  method, as ``self.cycle = ...``) is found in the class's source; a signature is read with
  ``inspect``, or from the embedded signature line of a compiled (Cython) class's docstring.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import platform
import re
from dataclasses import dataclass

__all__ = ["INTERNALS", "Internal", "missing_internals"]


@dataclass(frozen=True, slots=True)
class Internal:
    owner: str
    """A module (``asyncio.sslproto``) or a class in one (``uvicorn.server.Server``)."""
    name: str
    user: str
    """The feed module that needs it."""
    on_instance: bool = False
    """Set on instances only (``self.name = ...`` in the class), so looked for in its source."""
    params: tuple[str, ...] = ()
    """Parameter names the feed passes (a callable), checked against its signature."""

    def describe(self) -> str:
        """``Class.name`` for a class's attribute, ``package.module.name`` for a module's."""
        last = self.owner.rsplit(".", 1)[-1]
        return f"{last if last[:1].isupper() else self.owner}.{self.name}"


_HTTP = "uvicorn.protocols.http.httptools_impl"
_PROTOCOL = f"{_HTTP}.HttpToolsProtocol"
_CYCLE = f"{_HTTP}.RequestResponseCycle"
_SERVER = "uvicorn.server.Server"
_CONNECTION = "feed/protocol/connection.py"
_TLS = "feed/protocol/tls.py"
_STARTUP = "feed/server.py"
_TLS_METHODS = ("get_buffer", "buffer_updated", "connection_made", "connection_lost", "eof_received")
_SSL_PARAMS = ("loop", "app_protocol", "sslcontext", "waiter", "server_side", "ssl_handshake_timeout")

INTERNALS: tuple[Internal, ...] = (
    # feed/protocol/connection.py: FeedProtocol subclasses uvicorn's httptools protocol.
    Internal(_PROTOCOL, "__init__", _CONNECTION, params=("config", "server_state", "app_state", "_loop")),
    Internal(_PROTOCOL, "_unset_keepalive_if_required", _CONNECTION),
    Internal(_PROTOCOL, "send_400_response", _CONNECTION, params=("msg",)),
    *(
        Internal(_PROTOCOL, name, _CONNECTION)
        for name in (
            "connection_made",
            "connection_lost",
            "data_received",
            "on_message_begin",
            "on_url",
            "on_header",
            "on_headers_complete",
            "on_body",
            "on_message_complete",
        )
    ),
    *(
        Internal(_PROTOCOL, name, _CONNECTION, on_instance=True)
        for name in (
            "timeout_keep_alive_task",
            "timeout_keep_alive",
            "parser",
            "cycle",
            "pipeline",
            "url",
            "headers",
            "expect_100_continue",
            "scope",
            "transport",
            "loop",
            "logger",
            "server_state",
        )
    ),
    Internal(_CYCLE, "response_complete", _CONNECTION, on_instance=True),
    Internal("uvicorn.server.ServerState", "default_headers", _CONNECTION, on_instance=True),
    Internal("uvicorn.server.ServerState", "total_requests", _CONNECTION, on_instance=True),
    Internal("uvicorn.server.ServerState", "connections", _STARTUP, on_instance=True),
    Internal(_HTTP, "STATUS_LINE", "feed/protocol/responses.py"),
    # feed/server.py: uvicorn's Server.startup, redone with the feed's protocol stack.
    Internal(_SERVER, "_log_started_message", _STARTUP, params=("listeners",)),
    Internal(_SERVER, "on_tick", _STARTUP, params=("counter",)),
    *(
        Internal(_SERVER, name, _STARTUP, on_instance=True)
        for name in ("config", "lifespan", "server_state", "servers", "started")
    ),
    Internal("uvicorn.lifespan.on.LifespanOn", "state", _STARTUP, on_instance=True),
    Internal("uvicorn.lifespan.on.LifespanOn", "should_exit", _STARTUP, on_instance=True),
    # feed/protocol/tls.py: the loop's own TLS protocol, started late by TlsGuard.
    Internal("asyncio.sslproto.SSLProtocol", "__init__", _TLS, params=_SSL_PARAMS),
    *(Internal("asyncio.sslproto.SSLProtocol", name, _TLS) for name in _TLS_METHODS),
    Internal("uvloop.loop", "SSLProtocol", _TLS),
    Internal("uvloop.loop.SSLProtocol", "__init__", _TLS, params=_SSL_PARAMS),
    *(Internal("uvloop.loop.SSLProtocol", name, _TLS) for name in _TLS_METHODS),
)


def _resolve(dotted: str) -> object | None:
    """The module or class at ``dotted`` (a class is the last part after a module), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(found, part):
                return None
            found = getattr(found, part)
        return found
    return None


def _parameters(target: object) -> list[str] | None:
    """The parameter names of a callable, or None when they cannot be read."""
    try:
        return list(inspect.signature(target).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    owner = getattr(target, "__objclass__", target)
    first = (getattr(owner, "__doc__", None) or "").split("\n", 1)[0]
    match = re.fullmatch(rf"{re.escape(getattr(owner, '__name__', ''))}\((.*)\)", first.strip())
    if match is None:
        return None
    return [re.split(r"[=:]", piece)[0].strip().lstrip("*") for piece in match.group(1).split(",")]


def _source(owner: object) -> str | None:
    """The class's source, or None for a compiled build (its instance attributes go unchecked)."""
    try:
        return inspect.getsource(owner)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None


def _set_in(source: str | None, name: str) -> bool:
    return source is None or re.search(rf"\bself\.{re.escape(name)}\s*(:[^=\n]+)?=", source) is not None


def _distribution(owner: str) -> tuple[str, str]:
    """The package that provides ``owner`` and its installed major.minor version."""
    top = owner.split(".", 1)[0]
    if top == "asyncio":
        return "python", ".".join(platform.python_version_tuple()[:2])
    try:
        version = importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        return top, "?"
    return top, ".".join(version.split(".")[:2])


def _problem(row: Internal, sources: dict[str, str | None]) -> str | None:
    """What is wrong with one row on the installed packages, or None (``sources``: read once)."""
    owner = _resolve(row.owner)
    if owner is None:
        return "no longer has " + row.owner
    if row.on_instance:
        if row.owner not in sources:
            sources[row.owner] = _source(owner)
        return None if _set_in(sources[row.owner], row.name) else f"no longer has {row.describe()}"
    if not hasattr(owner, row.name):
        return f"no longer has {row.describe()}"
    if row.params:
        target = owner if row.name == "__init__" else getattr(owner, row.name)
        found = _parameters(target)
        lacking = [p for p in row.params if found is not None and p not in found]
        if lacking:
            return f"no longer takes {', '.join(lacking)} in {row.describe()}"
    return None


def missing_internals(internals: tuple[Internal, ...] = INTERNALS) -> list[str]:
    """One line per internal the installed packages no longer provide (none: the feed may start)."""
    lines = []
    sources: dict[str, str | None] = {}
    for row in internals:
        problem = _problem(row, sources)
        if problem is not None:
            dist, version = _distribution(row.owner)
            lines.append(
                f"{dist} {version} {problem}: {row.user} needs it; pin {dist}<{version} or port the limits layer"
            )
    return lines
