"""The daemon: a main loop that waits for a reason to reconcile and runs passes.

Rules:
- Reasons: a file event (watch thread), SIGHUP (now), the periodic resync (with jitter), a retry
  after an error. SIGTERM/SIGINT stop cleanly after the current pass; a pass stuck on a file gets
  ``STOP_GRACE_S`` and is then cut short, so a stop is always prompt.
- While a pass runs, an interval timer ticks every ``TICK_S``. A tick interrupts a call blocked on
  a file, so the SIGTERM handler runs even when the signal landed just before the call blocked
  (CPython runs Python handlers between bytecodes only), and it cuts the pass short once a stop
  has waited ``STOP_GRACE_S``. No timer runs between passes.
- No file can stop it: every parse or I/O failure is a resource's error or a pass error with an
  alert, an unexpected exception is logged (where, not what was read) and the loop goes on; a
  full state directory (ENOSPC, or EFBIG under RLIMIT_FSIZE, whose SIGXFSZ is ignored) is an
  alert. Watchdog pings come from this loop, so they stop only if a pass really hangs.
- READY is sent once the watcher is watching (``Watcher.start`` returns with the watch set up).
- A bundle ``accept --wait`` left in the inbox is committed before each pass (``inbox``).
- The main thread sleeps on a ``Wakeup`` (a self-pipe): the C-level signal handler and the watch
  thread write to it, so a signal that lands just before the sleep, or on another thread, still
  ends the sleep at once. The Python handlers only record a word, note when a stop was asked and
  cut a pass short; no lock is taken in a handler.
- systemd: READY=1 after the first full pass, WATCHDOG=1 from this loop at half of WATCHDOG_USEC,
  STATUS= a one-line summary after every pass, STOPPING=1 on the way out.
- On start and at every resync, temp files a kill left behind are swept (under the VM lock).
- Alert memory lives in the state directory, so a restart does not re-alert known drift.
- With ``metrics.port`` set, the daemon makes its own registry (``metrics.ReconcilerMetrics``),
  injects it into the engine, the journal sink and the deliverer, and serves it on loopback before
  the first pass; a port it cannot bind is one error line and exit 2.
"""

from __future__ import annotations

import functools
import logging
import random
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from schemas import ExitCode, HealthState, utcnow
from schemas.daemonlog import log_event
from schemas.sdnotify import Notifier, watchdog_interval

from .alerts import AlertManager, AlertSink, LogSink
from .alertstate import FileAlertStore
from .config import Config
from .engine import PassOutcome, Reconciler
from .inbox import inbox_dir, serve_requests
from .lock import LockTimeout, vm_lock
from .ownedfiles import owned_files, sweep_temp_files
from .wakeup import Wakeup
from .watch import Watcher

if TYPE_CHECKING:
    from .metrics import MetricsServer, ReconcilerMetrics
    from .probe import ProbeRunner
    from .webhooks import Deliverer

__all__ = ["build_alerts", "new_deliverer", "run_daemon", "summary", "sweep"]

ERROR_RETRY_S = 10.0
STOP_GRACE_S = 3.0
TICK_S = 1.0


def build_alerts(
    config: Config, deliverer: Deliverer | None, metrics: ReconcilerMetrics | None = None
) -> AlertManager:
    journal = metrics.alert_deliveries.labels("journal").inc if metrics is not None else None
    sinks: list[AlertSink] = [LogSink(delivered=journal)]
    if deliverer is not None:
        from .webhooks import WebhookSink  # the HTTP client is loaded only when webhooks are configured

        sinks += [WebhookSink(webhook, deliverer) for webhook in config.alerts.webhooks]
    store = FileAlertStore(config.alert_state_path)
    return AlertManager(sinks, config.alerts.rate_limit_seconds, config.mode, time.monotonic, utcnow, store)


def summary(outcome: PassOutcome | None) -> str:
    if outcome is None:
        return "starting"
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
        log_event({"event": "sweep_skipped", "error": error}, logging.WARNING)
    if removed:
        log_event({"event": "swept", "files": [str(p) for p in removed]})


def new_deliverer(metrics: ReconcilerMetrics | None = None) -> Deliverer:
    import httpx  # loaded only when webhooks are configured: it costs ~10 MB of RSS

    from .webhooks import Deliverer

    return Deliverer(httpx.Client(), metrics=metrics)


def _probes(config: Config, report: Callable[[dict[str, HealthState]], None]) -> ProbeRunner:
    from .probe import ProbeRunner

    return ProbeRunner({str(name): probe for name, probe in config.probes.items()}, report)


class _Stop(BaseException):
    """SIGTERM arrived and the pass did not end within STOP_GRACE_S: unwind it. Atomic writes
    remove their temp file on the way out, and the VM lock is released by its context manager."""


def _guarded(what: str, step: Callable[[], object]) -> None:
    """Run one housekeeping step; a failure is a log line, never the end of the daemon."""
    try:
        step()
    except Exception as exc:
        log_event({"event": f"{what}_failed", "error": exc.__class__.__name__}, logging.ERROR)


def run_daemon(
    config: Config, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic
) -> int:
    with Wakeup() as wakeup:
        return _run(config, wakeup, rng or random.Random(), clock)


def _run(config: Config, wakeup: Wakeup, rng: random.Random, clock: Callable[[], float]) -> int:
    busy = [False]  # a pass is running (read by the signal handlers, which run in this thread)
    stop_asked: list[float] = []  # when SIGTERM or SIGINT first came, by ``clock``

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            wakeup.record("hup")
        elif signum != signal.SIGALRM:
            wakeup.record("term")
            if not stop_asked:
                stop_asked.append(clock())
        elif busy[0] and stop_asked and clock() - stop_asked[0] >= STOP_GRACE_S:
            # A pass stuck on a file (a FIFO, a hung mount) had its grace: cut it short.
            raise _Stop

    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(signum, on_signal)
    # A write past RLIMIT_FSIZE must fail with EFBIG (an alert), not kill the daemon with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def reconcile(**kwargs: bool) -> PassOutcome | None:
        busy[0] = True
        signal.setitimer(signal.ITIMER_REAL, TICK_S, TICK_S)
        try:
            _guarded("inbox", lambda: serve_requests(config, log_event))
            return reconciler.run_pass(**kwargs)
        except Exception as exc:  # run_pass reports its own failures; this is the last net
            log_event({"event": "pass_crashed", "error": exc.__class__.__name__}, logging.ERROR)
            return None
        finally:
            busy[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    notifier = Notifier()
    metrics: ReconcilerMetrics | None = None
    if config.metrics.port is not None:
        # prometheus_client is loaded only when metrics are on: the daemon's memory on a small VM.
        from prometheus_client import CollectorRegistry

        from .metrics import ReconcilerMetrics, metrics_url, serve_metrics

        metrics = ReconcilerMetrics(CollectorRegistry())
    # Bound before anything else starts: a taken port is the caller's one error line, exit 2.
    server: MetricsServer | None = None
    if metrics is not None and config.metrics.port is not None:
        server = serve_metrics(metrics.registry, config.metrics.address, config.metrics.port)
        log_event({"event": "metrics", "url": metrics_url(config.metrics.address, config.metrics.port)})
    deliverer = new_deliverer(metrics) if config.alerts.webhooks else None
    alerts = build_alerts(config, deliverer, metrics)
    probes = _probes(config, lambda health: reconciler.report_health(health)) if config.probes else None
    reconciler = Reconciler(config, alerts, request_probe=probes.request if probes else None, metrics=metrics)
    watcher: Watcher | None = None
    try:
        for directory in (config.state_dir, config.desired_dir, inbox_dir(config)):
            _guarded("mkdir", functools.partial(directory.mkdir, mode=0o700, parents=True, exist_ok=True))
        _guarded("sweep", lambda: sweep(config))
        outcome = reconcile(probe=True)
        watched = [*owned_files(config), (inbox_dir(config), "*.json")]
        watcher = Watcher(watched, wakeup.notify, config.watch)
        watcher.start()  # watching when it returns: READY below means no edit can be missed
        # Writes between the first pass and the watch start would be missed without this pass.
        outcome = reconcile()
        notifier.send(READY="1", STATUS=summary(outcome))
        ping = watchdog_interval()

        def resync_delay() -> float:
            return config.resync_seconds * (1 + rng.uniform(-config.resync_jitter, config.resync_jitter))

        now = clock()
        next_resync = now + (ERROR_RETRY_S if _failed(outcome) else resync_delay())
        next_ping = now + ping if ping else float("inf")
        while True:
            words = wakeup.wait(min(next_resync, next_ping) - clock())
            if "term" in words:
                break
            now = clock()
            if ping and now >= next_ping:
                notifier.send(WATCHDOG="1")
                next_ping = now + ping
            resync = now >= next_resync
            if resync:
                _guarded("sweep", lambda: sweep(config))
            if words or resync:
                watcher.touch()
                outcome = reconcile(probe=resync or "hup" in words)
                notifier.send(STATUS=summary(outcome))
                if resync or _failed(outcome):
                    next_resync = clock() + (ERROR_RETRY_S if _failed(outcome) else resync_delay())
        notifier.send(STOPPING="1", STATUS="stopping")
        return ExitCode.OK
    except _Stop:
        log_event(
            {"event": "stopped", "detail": f"a pass did not end within {STOP_GRACE_S:g} s of SIGTERM"},
            logging.WARNING,
        )
        notifier.send(STOPPING="1", STATUS="stopping")
        return ExitCode.OK
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if watcher is not None:
            watcher.stop()
        if probes is not None:
            probes.close()
        if deliverer is not None:
            deliverer.close()
        if server is not None:
            server.shutdown()
            server.server_close()


def _failed(outcome: PassOutcome | None) -> bool:
    return outcome is None or outcome.result == "error"
