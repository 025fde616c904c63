"""Health probes (httpx) of the feed endpoints, reported apart from sync.

Rules:
- production: ``/health`` answers its document, ``/updates/health`` reports the desired stable
  version (``FeedHealth.version``; both parsed with ``schemas.parse_health``, whose one line a wrong
  document is) and ``/updates/appcast.xml`` carries it. staging: ``/updates/appcast-beta.xml`` answers 404 iff the
  desired gate is closed, and carries the desired beta version when open.
- TLS trusts ``ca_bundle`` when given, else the system store; which scheme is used is the URL's.
- The feed rebuilds after the runtime files change, so a failing probe retries (tenacity) for a
  while before it counts; ``ProbeRunner`` does this on its own thread so passes never wait.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable

import httpx
from defusedxml import ElementTree
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from schemas import (
    Channel,
    FeedHealth,
    HealthDocument,
    HealthDocumentError,
    HealthState,
    ServerHealth,
    parse_health,
)

from .config import ProbeConfig
from .probeexpect import Expectation

__all__ = ["Expectation", "ProbeRunner", "probe_endpoint"]

SPARKLE = "{http://www.andymatuschak.org/xml-namespaces/sparkle}"


def _versions(xml: bytes) -> set[str]:
    root = ElementTree.fromstring(xml)
    found = {el.text.strip() for el in root.iter(f"{SPARKLE}shortVersionString") if el.text}
    for enclosure in root.iter("enclosure"):
        value = enclosure.get(f"{SPARKLE}shortVersionString")
        if value:
            found.add(value)
    return found


def _document(client: httpx.Client, url: str, kind: type[HealthDocument]) -> HealthDocument | str:
    """The health document ``url`` answers, or the one line saying why it is none."""
    response = client.get(url)
    if response.status_code != 200:
        return f"{url} answered {response.status_code}"
    try:
        return parse_health(kind, url, response.content)
    except HealthDocumentError as exc:
        return str(exc)


def _production(client: httpx.Client, base: str, want: Expectation) -> str | None:
    health = _document(client, f"{base}/health", ServerHealth)
    if isinstance(health, str):
        return health
    if want.stable_version is None:
        return None
    updates = _document(client, f"{base}/updates/health", FeedHealth)
    if isinstance(updates, str):
        return updates
    served = updates.version(Channel.STABLE)
    if served != want.stable_version:
        return f"/updates/health serves stable {served}, not {want.stable_version}"
    appcast = client.get(f"{base}/updates/appcast.xml")
    if appcast.status_code != 200 or want.stable_version not in _versions(appcast.content):
        return f"/updates/appcast.xml ({appcast.status_code}) lacks {want.stable_version}"
    return None


def _staging(client: httpx.Client, base: str, want: Expectation) -> str | None:
    if want.gate is None:
        return None
    response = client.get(f"{base}/updates/appcast-beta.xml")
    if not want.gate:
        return (
            None
            if response.status_code == 404
            else f"appcast-beta answered {response.status_code}, gate is closed"
        )
    if response.status_code != 200:
        return f"appcast-beta answered {response.status_code}, gate is open"
    if want.beta_version and want.beta_version not in _versions(response.content):
        return f"appcast-beta lacks {want.beta_version}"
    return None


def probe_endpoint(name: str, probe: ProbeConfig, want: Expectation) -> HealthState:
    verify: ssl.SSLContext | bool = True
    if probe.ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(probe.ca_bundle))
    base = str(probe.url).rstrip("/")
    check = _production if name == "production" else _staging
    try:
        with httpx.Client(verify=verify, timeout=probe.timeout_s, follow_redirects=False) as client:
            problem = check(client, base, want)
    except (httpx.HTTPError, ValueError, ssl.SSLError, OSError) as exc:
        problem = f"{exc.__class__.__name__}: {exc}"
    return HealthState(ok=problem is None, detail=(problem or "ok")[:160])


class ProbeRunner:
    """Runs the probes for the latest requested expectation on a background thread."""

    def __init__(
        self,
        probes: dict[str, ProbeConfig],
        report: Callable[[dict[str, HealthState]], None],
        attempts: int = 6,
    ) -> None:
        self._probes = probes
        self._report = report
        self._attempts = attempts
        self._wanted: Expectation | None = None
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probes", daemon=True)
        if probes:
            self._thread.start()

    def request(self, want: Expectation) -> None:
        with self._ready:
            self._wanted = want
            self._ready.notify()

    def close(self) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._wanted is None and not self._stop.is_set():
                    self._ready.wait()
                if self._stop.is_set():
                    return
                want, self._wanted = self._wanted, None
            assert want is not None
            self._report(self._probe_all(want))

    def _should_retry(self, result: dict[str, HealthState]) -> bool:
        # A newer request supersedes this one; a stop request ends it.
        return not all(h.ok for h in result.values()) and self._wanted is None and not self._stop.is_set()

    def _probe_all(self, want: Expectation) -> dict[str, HealthState]:
        def once() -> dict[str, HealthState]:
            return {name: probe_endpoint(name, probe, want) for name, probe in self._probes.items()}

        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.25, max=4.0),
            retry=retry_if_result(self._should_retry),
            sleep=self._pause,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else {},
        )
        result: dict[str, HealthState] = retrying(once)
        return result
