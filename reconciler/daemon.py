"""The daemon: a main loop that waits for a reason to reconcile and runs passes.

Rules:
- Reasons: a file event (watch thread), SIGHUP (now), the periodic resync (with jitter), a retry
  after an error. SIGTERM/SIGINT stop cleanly after the current pass.
- The main thread waits on a ``queue.SimpleQueue``: signal handlers and the watch thread only put
  a word in it (SimpleQueue.put is safe in a signal handler), so no lock is taken in a handler.
- systemd: READY=1 after the first full pass, WATCHDOG=1 from this loop at half of WATCHDOG_USEC,
  STATUS= a one-line summary after every pass, STOPPING=1 on the way out.
- On start and at every resync, temp files a kill left behind are swept (under the VM lock).
- Alert memory lives in the state directory, so a restart does not re-alert known drift.
"""

from __future__ import annotations

import queue
import random
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from schemas import HealthState, utcnow
from schemas.sdnotify import Notifier, watchdog_interval

from .alerts import AlertManager, AlertSink, LogSink
from .alertstate import FileAlertStore
from .config import Config
from .engine import PassOutcome, Reconciler
from .inbox import inbox_dir, serve_requests
from .lock import LockTimeout, vm_lock
from .logline import log_event
from .owned import owned_files, sweep_temp_files
from .watch import Watcher

if TYPE_CHECKING:
    from .probe import ProbeRunner
    from .webhooks import Deliverer

__all__ = ["build_alerts", "new_deliverer", "run_daemon", "summary", "sweep"]

ERROR_RETRY_S = 10.0


def build_alerts(config: Config, deliverer: Deliverer | None) -> AlertManager:
    sinks: list[AlertSink] = [LogSink(sys.stderr)]
    if deliverer is not None:
        from .webhooks import WebhookSink  # the HTTP client is loaded only when webhooks are configured

        sinks += [WebhookSink(webhook, deliverer) for webhook in config.alerts.webhooks]
    store = FileAlertStore(config.alert_state_path)
    return AlertManager(sinks, config.alerts.rate_limit_seconds, config.mode, time.monotonic, utcnow, store)


def summary(outcome: PassOutcome) -> str:
    if outcome.plan is None:
        return f"error: {outcome.error}"[:200]
    states = " ".join(f"{r.name}={r.state}" for r in outcome.plan.resources)
    return f"{outcome.result}; {states}"[:200]


def sweep(config: Config) -> None:
    """Remove temp files a kill left behind; skipped (until the next resync) if the lock is busy."""
    try:
        with vm_lock(config.lock_path, timeout_s=5.0):
            removed = sweep_temp_files(config)
    except (OSError, LockTimeout) as exc:
        removed, error = [], str(exc)[:150]
        log_event({"event": "sweep_skipped", "error": error})
    if removed:
        log_event({"event": "swept", "files": [str(p) for p in removed]})


def new_deliverer() -> Deliverer:
    import httpx  # loaded only when webhooks are configured: it costs ~10 MB of RSS

    from .webhooks import Deliverer

    return Deliverer(httpx.Client())


def _probes(config: Config, report: Callable[[dict[str, HealthState]], None]) -> ProbeRunner:
    from .probe import ProbeRunner

    return ProbeRunner({str(name): probe for name, probe in config.probes.items()}, report)


def run_daemon(
    config: Config, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic
) -> int:
    rng = rng or random.Random()
    events: queue.SimpleQueue[str] = queue.SimpleQueue()
    config.desired_dir.mkdir(parents=True, exist_ok=True)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    inbox_dir(config).mkdir(mode=0o700, exist_ok=True)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        events.put("hup" if signum == signal.SIGHUP else "term")

    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    notifier = Notifier()
    deliverer = new_deliverer() if config.alerts.webhooks else None
    alerts = build_alerts(config, deliverer)
    probes = _probes(config, lambda health: reconciler.report_health(health)) if config.probes else None
    reconciler = Reconciler(config, alerts, request_probe=probes.request if probes else None)
    watcher: Watcher | None = None
    try:
        sweep(config)
        serve_requests(config, log_event)
        outcome = reconciler.run_pass(probe=True)
        watched = [*owned_files(config), (inbox_dir(config), "*.json")]
        watcher = Watcher(watched, lambda: events.put("fs"), config.watch)
        watcher.start()
        # Writes between the first pass and the watch start would be missed without this pass.
        outcome = reconciler.run_pass()
        notifier.send(READY="1", STATUS=summary(outcome))
        ping = watchdog_interval()

        def resync_delay() -> float:
            return config.resync_seconds * (1 + rng.uniform(-config.resync_jitter, config.resync_jitter))

        now = clock()
        next_resync = now + (ERROR_RETRY_S if outcome.result == "error" else resync_delay())
        next_ping = now + ping if ping else float("inf")
        while True:
            timeout = max(0.0, min(next_resync, next_ping) - clock())
            words: set[str] = set()
            try:
                words.add(events.get(timeout=min(timeout, 3600.0)))
                while True:
                    words.add(events.get_nowait())
            except queue.Empty:
                pass
            if "term" in words:
                break
            now = clock()
            if ping and now >= next_ping:
                notifier.send(WATCHDOG="1")
                next_ping = now + ping
            resync = now >= next_resync
            if resync:
                sweep(config)
            if words or resync:
                watcher.touch()
                serve_requests(config, log_event)
                outcome = reconciler.run_pass(probe=resync or "hup" in words)
                notifier.send(STATUS=summary(outcome))
                if resync or outcome.result == "error":
                    next_resync = clock() + (ERROR_RETRY_S if outcome.result == "error" else resync_delay())
        notifier.send(STOPPING="1", STATUS="stopping")
        return 0
    finally:
        if watcher is not None:
            watcher.stop()
        if probes is not None:
            probes.close()
        if deliverer is not None:
            deliverer.close()
