"""The reconciler's Prometheus metrics, and the loopback endpoint that serves them.

Rules:
- One :class:`ReconcilerMetrics` per process, on a ``CollectorRegistry`` made for it (never
  prometheus_client's global registry): the daemon creates it and injects it into the engine and
  the webhook deliverer. ``once``, ``diff`` and ``accept`` count nothing and serve nothing.
- Labels are bounded: resources are the table's names (``resources.RESOURCES``) plus ``pass``,
  results are the pass results, sinks are ``journal`` and ``webhook``.
- Served only when ``metrics.port`` is set, only on a loopback address (the config refuses any
  other), by prometheus_client's own HTTP server in a daemon thread: the exposition format is
  never written by hand. The thread reads the metrics under prometheus_client's own locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from schemas.adoption import metrics_url

__all__ = ["MetricsServer", "ReconcilerMetrics", "metrics_url", "serve_metrics"]

# Passes take milliseconds when in sync and up to seconds when a lock is busy or a disk is slow.
_PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ReconcilerMetrics:
    """What the engine and the deliverer count; read by a scrape of the registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.passes = Counter(
            "nexy_reconciler_passes",
            "Reconcile passes, by result: in_sync, healed, drift (observe mode), error.",
            ["result"],
            registry=registry,
        )
        self.heals = Counter(
            "nexy_reconciler_heals",
            "Resources written back to the desired state.",
            ["resource"],
            registry=registry,
        )
        self.drift = Counter(
            "nexy_reconciler_drift",
            "Passes that found the resource differing from the desired state, before any heal"
            " (a rollout counts too).",
            ["resource"],
            registry=registry,
        )
        self.errors = Counter(
            "nexy_reconciler_errors",
            "Passes that ended with the resource in error (resource=pass: the whole pass failed).",
            ["resource"],
            registry=registry,
        )
        self.alert_deliveries = Counter(
            "nexy_reconciler_alert_deliveries",
            "Alerts delivered, by sink: journal (every alert line), webhook (a 2xx/3xx answer).",
            ["sink"],
            registry=registry,
        )
        self.alert_failures = Counter(
            "nexy_reconciler_alert_delivery_failures",
            "Webhook posts given up: a 4xx, the retries spent, the stop deadline, or dropped from the full"
            " queue.",
            ["sink"],
            registry=registry,
        )
        self.pass_duration = Histogram(
            "nexy_reconciler_pass_duration_seconds",
            "Wall time of one pass, actions included.",
            buckets=_PASS_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "nexy_reconciler_last_success_timestamp_seconds",
            "Unix time of the last pass that did not fail (in_sync, healed or drift).",
            registry=registry,
        )
        self.owed_actions = Gauge(
            "nexy_reconciler_owed_actions",
            "Actions recorded as owed and not yet run (pending_actions.json) after the last pass.",
            registry=registry,
        )

    def record_pass(
        self,
        result: str,
        *,
        drifted: Iterable[str],
        healed: Iterable[str],
        errored: Iterable[str],
        duration_s: float,
        at: float,
        owed: int,
    ) -> None:
        self.passes.labels(result).inc()
        for name in drifted:
            self.drift.labels(name).inc()
        for name in healed:
            self.heals.labels(name).inc()
        for name in errored:
            self.errors.labels(name).inc()
        self.pass_duration.observe(duration_s)
        if result != "error":
            self.last_success.set(at)
        self.owed_actions.set(owed)


class MetricsServer(Protocol):
    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


def serve_metrics(registry: CollectorRegistry, address: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``address:port`` from a daemon thread; the caller shuts it down."""
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return server
