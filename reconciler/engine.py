"""One reconcile pass: read all desired and runtime state, compare, apply, alert, act, record.

Rules:
- Level-triggered: a pass never trusts what triggered it; it reads everything under the VM lock.
- ``enforce`` writes (atomically, keeping mode and owner) and then re-plans to verify the heal;
  ``observe`` writes nothing but the status file and alerts on every drift.
- Transient errors (I/O, a busy lock) retry with tenacity, exponential and capped; a resource
  whose desired file is invalid gets an alert and no writes until the desired state changes.
- Actions run once per pass in which their resource was written, after the pass, and their exit
  status is logged (and alerted when not 0). They are recorded as owed before the write and
  forgotten after they ran, so a kill in between makes the next pass run them (at-least-once).
- A pass that fails (I/O after its retries) raises its own ``pass_error`` condition, which leaves
  the drift conditions alone: an I/O error does not "resolve" drift nobody healed.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas import HealthState, PassRecord, ResourceState, Status, utcnow

from .actions import run_owed_actions
from .alerts import Alert, AlertManager
from .conditions import health_conditions, pass_conditions
from .config import Config
from .desired import Desired, read_desired
from .expectation import Expectation
from .lock import LockTimeout, vm_lock
from .logline import log_event
from .pending import PendingActions
from .plan import Plan, apply_write, compute_plan
from .statusfile import read_status, write_status
from .view import build_status, resource_states

__all__ = ["PassOutcome", "Reconciler"]


@dataclass(frozen=True)
class PassOutcome:
    result: str  # in_sync | healed | drift | error
    changed: tuple[str, ...]
    plan: Plan | None
    desired: Desired | None
    error: str = ""
    owed: frozenset[str] = frozenset()

    @property
    def exit_code(self) -> int:
        return {"in_sync": 0, "healed": 0, "drift": 1}.get(self.result, 2)


class Reconciler:
    def __init__(
        self,
        config: Config,
        alerts: AlertManager,
        *,
        wall: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        request_probe: Callable[[Expectation], None] | None = None,
        pid: int | None = None,
        log: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.config = config
        self.alerts = alerts
        self._wall = wall
        self._monotonic = monotonic
        self._request_probe = request_probe
        self._pid = os.getpid() if pid is None else pid
        self._lock = threading.Lock()
        self._passes: deque[PassRecord] = deque(maxlen=5)
        self._health: dict[str, HealthState] = {}
        self._last: PassOutcome | None = None
        self._resource_states: dict[str, ResourceState] = {}
        self._log = log or log_event
        configured = [name for name, argv in config.actions.items() if argv]
        self._pending = PendingActions(config.pending_actions_path, configured)
        previous = read_status(config.status_path)
        # A difference right after the desired digest changed is a rollout, not drift.
        self._seen_digest = previous.desired_digest if previous else ""

    def run_pass(self, *, probe: bool = False) -> PassOutcome:
        start = self._monotonic()
        retrying = Retrying(
            stop=stop_after_attempt(4),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            retry=retry_if_exception_type((OSError, LockTimeout)),
            reraise=True,
        )
        try:
            outcome = retrying(self._pass_body)
            self.alerts.update("pass_error", [])
        except (OSError, LockTimeout) as exc:
            message = f"{exc.__class__.__name__}: {exc}"[:150]
            self.alerts.update("pass_error", [Alert("pass", "error", found=message, done="will retry")])
            outcome = PassOutcome("error", (), None, None, message)
        if outcome.owed:
            run_owed_actions(self.config, outcome.owed, self._pending, self.alerts, self._log)
        duration_ms = round((self._monotonic() - start) * 1000, 2)
        record = PassRecord(
            at=self._wall(), duration_ms=duration_ms, result=outcome.result, changed=outcome.changed
        )
        with self._lock:
            self._passes.append(record)
            self._last = outcome
            self._write_status_locked()
        desired = outcome.desired
        if self._request_probe is not None and desired is not None and (probe or outcome.changed):
            self._request_probe(desired.expectation())
        return outcome

    def report_health(self, health: dict[str, HealthState]) -> None:
        """Called from the probe thread with fresh results."""
        self.alerts.update("probes", health_conditions(health))
        with self._lock:
            self._health = dict(health)
            self._write_status_locked()

    def _pass_body(self) -> PassOutcome:
        config = self.config
        with vm_lock(config.lock_path, timeout_s=10.0):
            desired = read_desired(config.desired_dir)
            plan = compute_plan(desired, config)
            changed: list[str] = []
            owed: frozenset[str] = frozenset()
            if config.mode == "enforce":
                to_write = [r for r in plan.resources if r.state == "drift" and r.writes]
                # Owed before written: a kill between the write and the action must not lose it.
                owed = self._pending.add(r.name for r in to_write) if to_write else self._pending.load()
                for resource in to_write:
                    for write in resource.writes:
                        apply_write(write)
                    changed.append(resource.name)
            after = compute_plan(desired, config) if changed else plan
        rollout = plan.digest != self._seen_digest
        self._seen_digest = plan.digest
        if rollout and changed:
            self._log(
                {"event": "applied", "desired_digest": plan.digest, "changed": changed, "mode": config.mode}
            )
        mode = config.mode
        self.alerts.update("pass", pass_conditions(desired, plan, changed, rollout=rollout, mode=mode))
        if changed:
            self.alerts.update("pass", pass_conditions(desired, after, (), rollout=False, mode=mode))
        if after.has_error:
            result = "error"
        elif not after.in_sync:
            result = "drift"
        else:
            result = "healed" if changed else "in_sync"
        self._resource_states = resource_states(after, tuple(changed))
        return PassOutcome(result, tuple(changed), after, desired, owed=owed)

    def status(self) -> Status:
        with self._lock:
            return self._build_status()

    def _write_status_locked(self) -> None:
        write_status(self.config.status_path, self._build_status())

    def _build_status(self) -> Status:
        outcome = self._last
        return build_status(
            self.config,
            at=self._wall(),
            pid=self._pid,
            desired=outcome.desired if outcome else None,
            digest=outcome.plan.digest if outcome and outcome.plan else "unknown",
            resources=dict(self._resource_states),
            health=self._health,
            passes=tuple(self._passes),
            alerts=self.alerts.recent(),
        )
