"""One reconcile pass: read all desired and runtime state, compare, apply, alert, act, record.

Rules:
- Level-triggered: a pass never trusts what triggered it; it reads everything under the VM lock.
- ``enforce`` writes (atomically, keeping mode and owner) and then re-plans to verify the heal;
  ``observe`` writes nothing but the status file and alerts on every drift.
- Transient errors (I/O, a busy lock) retry with tenacity, exponential and capped; a resource
  whose desired file is invalid gets an alert and no writes until the desired state changes.
- Actions run once per pass in which their resource was written, and their exit status is kept.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas import HealthState, PassRecord, ResourceState, Status, atomic_write, utcnow

from .actions import run_action
from .alerts import Alert, AlertManager
from .config import Config
from .desired import DESIRED_FILES, Desired, read_desired
from .envfile import present_keys
from .expectation import Expectation
from .lock import LockTimeout, vm_lock
from .plan import Plan, compute_plan, read_bytes
from .statusfile import read_status, write_status
from .view import sync_state

__all__ = ["PassOutcome", "Reconciler"]


@dataclass(frozen=True)
class PassOutcome:
    result: str  # in_sync | healed | drift | error
    changed: tuple[str, ...]
    plan: Plan | None
    desired: Desired | None
    error: str = ""

    @property
    def exit_code(self) -> int:
        return {"in_sync": 0, "healed": 0, "drift": 1}.get(self.result, 2)


def _log_line(document: dict[str, object]) -> None:
    sys.stderr.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stderr.flush()


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
        self._log = log or _log_line
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
        except (OSError, LockTimeout) as exc:
            message = f"{exc.__class__.__name__}: {exc}"[:150]
            self.alerts.update("pass", [Alert("pass", "error", found=message, done="will retry")])
            outcome = PassOutcome("error", (), None, None, message)
        record = PassRecord(
            at=self._wall(),
            duration_ms=round((self._monotonic() - start) * 1000, 2),
            result=outcome.result if outcome.result != "drift" else "drift",
            changed=outcome.changed,
        )
        with self._lock:
            self._passes.append(record)
            self._last = outcome
            self._write_status_locked()
        desired = outcome.desired
        if self._request_probe is not None and desired is not None and (probe or outcome.changed):
            gate = desired.gate.enabled if desired.gate else None
            self._request_probe(
                Expectation(
                    desired.stable.version if desired.stable else None,
                    desired.beta.version if desired.beta else None,
                    gate,
                )
            )
        return outcome

    def report_health(self, health: dict[str, HealthState]) -> None:
        """Called from the probe thread with fresh results."""
        problems = [
            Alert(
                name,
                "unhealthy",
                expected="endpoints serve the desired state",
                found=state.detail,
                done="reported; sync unaffected",
            )
            for name, state in health.items()
            if not state.ok
        ]
        self.alerts.update("probes", problems)
        with self._lock:
            self._health = dict(health)
            self._write_status_locked()

    def _pass_body(self) -> PassOutcome:
        config = self.config
        with vm_lock(config.lock_path, timeout_s=10.0):
            desired = read_desired(config.desired_dir)
            plan = compute_plan(desired, config.layout)
            changed: list[str] = []
            if config.mode == "enforce":
                for resource in plan.resources:
                    if resource.state == "drift" and resource.writes:
                        for write in resource.writes:
                            atomic_write(write.path, write.data, mode=write.mode)
                        changed.append(resource.name)
            after = compute_plan(desired, config.layout) if changed else plan
        rollout = plan.digest != self._seen_digest
        self._seen_digest = plan.digest
        if rollout and changed:
            self._log(
                {"event": "applied", "desired_digest": plan.digest, "changed": changed, "mode": config.mode}
            )
        self._alert(desired, plan, after, changed, rollout=rollout)
        for name in changed:
            self._act(name)
        if after.has_error:
            result = "error"
        elif not after.in_sync:
            result = "drift"
        else:
            result = "healed" if changed else "in_sync"
        self._resource_states = {
            r.name: ResourceState(sync=sync_state(r.state, r.name in changed), detail=r.detail())
            for r in after.resources
        }
        return PassOutcome(result, tuple(changed), after, desired)

    def _alert(self, desired: Desired, plan: Plan, after: Plan, changed: list[str], *, rollout: bool) -> None:
        def conditions(current: Plan, healed: list[str], in_rollout: bool) -> list[Alert]:
            found = [
                Alert(
                    "desired",
                    f"invalid_{name}",
                    expected=f"a valid {DESIRED_FILES[name]}",
                    found=error,
                    done="nothing written; waiting for the desired state to change",
                )
                for name, error in desired.errors.items()
            ]
            for r in current.resources:
                if r.state == "drift" and in_rollout and self.config.mode == "enforce" and r.writes:
                    continue
                if r.state == "drift":
                    done = (
                        "healed (rewrote atomically)"
                        if r.name in healed
                        else ("left alone (observe mode)" if self.config.mode == "observe" else "not healed")
                    )
                    found.append(Alert(r.name, "drift", expected=r.expected, found=r.found, done=done))
                elif r.state == "error" and not r.from_desired:
                    found.append(
                        Alert(r.name, "error", expected=r.expected, found=r.found, done="nothing written")
                    )
            return found

        self.alerts.update("pass", conditions(plan, changed, rollout))
        if changed:
            self.alerts.update("pass", conditions(after, [], False))

    def _act(self, name: str) -> None:
        argv = self.config.actions.get(name)  # type: ignore[call-overload]
        if not argv:
            return
        result = run_action(name, tuple(argv), self.config.action_timeout_s)
        if not result.ok:
            self.alerts.event(
                Alert(
                    name,
                    "action_failed",
                    expected="exit 0",
                    found=result.describe(),
                    done="runtime files kept; action not retried",
                )
            )

    def status(self) -> Status:
        with self._lock:
            return self._build_status()

    def _write_status_locked(self) -> None:
        write_status(self.config.status_path, self._build_status())

    def _build_status(self) -> Status:
        outcome = self._last
        desired = outcome.desired if outcome else None
        env_data = read_bytes(self.config.layout.config_env_path) or b""
        return Status(
            updated_at=self._wall(),
            mode=self.config.mode,
            pid=self._pid,
            desired_digest=(outcome.plan.digest if outcome and outcome.plan else "unknown"),
            stable_version=desired.stable.version if desired and desired.stable else None,
            beta_version=desired.beta.version if desired and desired.beta else None,
            gate=desired.gate.enabled if desired and desired.gate else None,
            resources=dict(self._resource_states),
            health=dict(self._health),
            env_keys=present_keys(env_data, self.config.required_env_keys),
            passes=tuple(self._passes),
            alerts=self.alerts.recent(),
        )
