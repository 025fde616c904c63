"""The feed's Prometheus metrics: counted on the event loop for the price of a dict update.

Rules:
- Off unless ``--metrics-port`` is given; then one :class:`FeedMetrics` per process is shared by
  the protocol (fast path, refusals) and the app (every other request), on a ``CollectorRegistry``
  made for it, never prometheus_client's global one.
- The hot path adds integers to plain dicts keyed by bytes the request already has; names, label
  values and the exposition (prometheus_client's own ``generate_latest``) are made at scrape time
  by :class:`FeedMetrics.collect`. Counting happens on the loop's thread only; the scrape runs in
  prometheus_client's server thread and reads a ``dict.copy()`` (one C call under the GIL).
- Bounded cardinality: routes are the payload routes given (``feed.app.PAYLOAD_ROUTES``) plus
  ``/releases/download`` and ``other``, folded before they are counted (:meth:`FeedMetrics.route`); client versions come from Sparkle's ``User-Agent: <App>/<version> Sparkle/<version>``
  (``SPUMakeUserAgentWithHost`` in Sparkle's SPUUserAgent.m, ``?`` when the app has no version):
  a malformed or unknown one is ``other``, and so is every version after the first
  ``max_versions`` distinct ones. OS versions (``osVersion``) fold the same way; CPU types
  (``cputype``, mach/machine.h's ``CPU_TYPE_*`` as SUSystemProfiler.m sends them) are named or
  ``other``.
- Privacy: no IP address and no per-client identifier is kept or exported; only counts per route,
  status, version, OS version and CPU type (a parse cache of distinct User-Agent strings, bounded,
  stays in memory and is never exported).
- Served by prometheus_client's HTTP server in a daemon thread, on a loopback address only
  (``feed.cli`` refuses any other).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from .limits import ConnectionLimiter

__all__ = [
    "CHANNELS",
    "DEFAULT_MAX_VERSIONS",
    "OTHER",
    "FeedMetrics",
    "serve_metrics",
]

DEFAULT_MAX_VERSIONS = 50
OTHER = "other"
CHANNELS: Mapping[bytes, str] = {b"/updates/appcast.xml": "stable", b"/updates/appcast-beta.xml": "beta"}
ASSET_PREFIX = "/releases/download/"

# <App>/<version> Sparkle/<version>: the app's name may hold spaces and slashes, its version not.
_USER_AGENT = re.compile(rb"(?:.*)/(\S+) Sparkle/\S+\Z")
_VERSION = re.compile(rb"[0-9][0-9A-Za-z.+_-]{0,31}")
_OS_VERSION = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){0,2}")
# mach/machine.h: CPU_TYPE_X86 7, CPU_TYPE_ARM 12, CPU_TYPE_POWERPC 18, CPU_ARCH_ABI64 0x01000000.
_CPU_TYPES = {"7": "x86", "16777223": "x86_64", "12": "arm", "16777228": "arm64", "18": "powerpc"}
# Distinct User-Agent strings remembered with their label; past this each is parsed again.
_UA_CACHE = 1024


class _Bounded:
    """Label values in the order first seen, at most ``limit`` of them; the rest are ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def label(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


class FeedMetrics(Collector):
    def __init__(
        self,
        routes: Iterable[str],
        limiter: ConnectionLimiter | None = None,
        max_versions: int = DEFAULT_MAX_VERSIONS,
    ) -> None:
        self.routes = frozenset(routes)
        self.limiter = limiter
        self.requests: dict[tuple[bytes | str, int], int] = {}
        self.body_bytes: dict[bytes | str, int] = {}
        self.checks: dict[tuple[str, str], int] = {}
        self.os_versions: dict[tuple[str, str], int] = {}
        self.cpu_types: dict[tuple[str, str], int] = {}
        self.refused: dict[str, int] = {}
        self._versions = _Bounded(max_versions)
        self._os = _Bounded(max_versions)
        self._agents: dict[bytes | None, str] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # The hot path (the event loop's thread)

    def route(self, path: str) -> str:
        """The label of a path the app answered: a payload route, the asset route, or ``other``."""
        if path in self.routes:
            return path
        return "/releases/download" if path.startswith(ASSET_PREFIX) else OTHER

    def request(self, route: bytes | str, status: int, body_size: int) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if body_size:
            self.body_bytes[route] = self.body_bytes.get(route, 0) + body_size

    def check(self, channel: str, user_agent: bytes | None) -> None:
        """One appcast check; its client's version from the User-Agent (cached per distinct string)."""
        version = self._agents.get(user_agent)
        if version is None:
            version = self._version(user_agent)
            if len(self._agents) < _UA_CACHE:
                self._agents[user_agent] = version
        key = (channel, version)
        self.checks[key] = self.checks.get(key, 0) + 1

    def profile(self, channel: str, query: str) -> None:
        """Sparkle's profile parameters (``osVersion``, ``cputype``) of an appcast check, if sent."""
        params = parse_qs(query, max_num_fields=32)
        os_version = params.get("osVersion", [None])[0]
        if os_version is not None:
            label = self._os.label(os_version) if _OS_VERSION.fullmatch(os_version) else OTHER
            key = (channel, label)
            self.os_versions[key] = self.os_versions.get(key, 0) + 1
        cpu = params.get("cputype", [None])[0]
        if cpu is not None:
            key = (channel, _CPU_TYPES.get(cpu, OTHER))
            self.cpu_types[key] = self.cpu_types.get(key, 0) + 1

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def _version(self, user_agent: bytes | None) -> str:
        found = _USER_AGENT.match(user_agent) if user_agent else None
        if found is None or not _VERSION.fullmatch(found.group(1)):
            return OTHER
        return self._versions.label(found.group(1).decode("ascii"))

    # The scrape (prometheus_client's server thread)

    def collect(self) -> Iterator[CounterMetricFamily]:
        requests = CounterMetricFamily(
            "nexy_feed_requests",
            "HTTP answers by route (/health, /updates/health, /updates/appcast.xml,"
            " /updates/appcast-beta.xml, /releases/download, or other) and status code.",
            labels=["route", "status"],
        )
        for (route, status), count in _merged(self.requests.copy(), lambda k: (_text(k[0]), str(k[1]))):
            requests.add_metric([route, status], count)
        yield requests
        sent = CounterMetricFamily(
            "nexy_feed_response_body_bytes",
            "Response body bytes sent, by route (headers not counted; HEAD and 304 send none).",
            labels=["route"],
        )
        for (route,), count in _merged(self.body_bytes.copy(), lambda k: (_text(k),)):
            sent.add_metric([route], count)
        yield sent
        for name, text, label, table in (
            (
                "nexy_feed_appcast_checks",
                "GET/HEAD of an appcast (stable: appcast.xml, beta: appcast-beta.xml, also while the"
                " beta answers 404), by the client's app version: the <version> of the leading"
                " <App>/<version> in Sparkle's User-Agent. A malformed or missing one (not Sparkle's"
                " format, '?' for an app without a version) is other, and so is every version after"
                " the first --metrics-max-versions distinct ones, shared by both channels.",
                "version",
                self.checks,
            ),
            (
                "nexy_feed_appcast_checks_by_os",
                "Appcast checks that carry Sparkle's profile parameter osVersion (sent when the app"
                " enables system profiling), by macOS version; malformed or beyond the bound: other.",
                "os_version",
                self.os_versions,
            ),
            (
                "nexy_feed_appcast_checks_by_cpu",
                "Appcast checks that carry cputype (mach/machine.h's CPU_TYPE_*): x86, x86_64, arm,"
                " arm64, powerpc, else other.",
                "cpu_type",
                self.cpu_types,
            ),
        ):
            family = CounterMetricFamily(name, text, labels=["channel", label])
            for (channel, value), count in sorted(table.copy().items()):
                family.add_metric([channel, value], count)
            yield family
        refused = CounterMetricFamily(
            "nexy_feed_refused",
            "Connections and requests refused by the limits, by reason: max_connections (closed at"
            " accept), status_413, status_414, status_431, header_timeout (a head not complete in"
            " time), tls_handshake_timeout.",
            labels=["reason"],
        )
        reasons = self.refused.copy()
        if self.limiter is not None:
            reasons["max_connections"] = self.limiter.refused
        for reason, count in sorted(reasons.items()):
            refused.add_metric([reason], count)
        yield refused


def _text(route: bytes | str) -> str:
    # The fast path counts the request target's bytes as they are (always a payload route).
    return route.decode("latin-1") if isinstance(route, bytes) else route


def _merged(
    table: Mapping[Any, int], key: Callable[[Any], tuple[str, ...]]
) -> list[tuple[tuple[str, ...], int]]:
    """Counts summed under their label values (the fast path's bytes and the app's text meet here)."""
    out: dict[tuple[str, ...], int] = {}
    for raw, count in table.items():
        labels = key(raw)
        out[labels] = out.get(labels, 0) + count
    return sorted(out.items())


def serve_metrics(metrics: FeedMetrics, address: str, port: int) -> None:
    """Serve the metrics on ``address:port`` from a daemon thread for the life of the process."""
    start_http_server(port, addr=address, registry=metrics.registry)
