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
- A pass that fails (I/O after its retries, or any unexpected exception) raises its own
  ``pass_error`` condition, which leaves the drift conditions alone: an I/O error does not
  "resolve" drift nobody healed. While it fails, status shows every resource as ``error`` with the
  reason, and the last desired digest a pass read.
- Writes go in groups (``WRITE_GROUPS``, derived from ``resources.RESOURCES``): the stable
  pair, the legacy copy and the config version move together, config last, and a group with a
  member in error is held back. When a write fails, what the group already wrote gets its old
  bytes back, so the feed (which reads the version from the config, then that version's manifest)
  never sees them disagree; each is ``write_failed``.
- Status, the failed-pass state and owed actions name resources only as the table does.
- A failed write or an unreadable runtime file is that resource's error and alert; the other
  groups are still applied. A status file that cannot be written is a ``state`` alert.
- With metrics injected (the daemon's ``ReconcilerMetrics``), every pass is counted once, after
  its actions: result, drift found, heals, errors, duration, owed actions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas import ExitCode, HealthState, PassRecord, ResourceState, Status, atomic_write, utcnow
from schemas.daemonlog import EventLog, log_event

from .actions import run_owed_actions
from .alerts import Alert, AlertManager
from .conditions import health_conditions, pass_conditions
from .config import Config
from .desired import Desired, migrate_legacy, read_desired
from .documents import build_status, resource_states
from .lock import LockTimeout, vm_lock
from .owedactions import PendingActions
from .plan import FileWrite, Plan, ResourcePlan, apply_write, compute_plan, failure_text, read_bytes
from .probeexpect import Expectation
from .resources import RESOURCE_NAMES, RESOURCES, WRITE_GROUPS
from .statusfile import read_status, write_status

if TYPE_CHECKING:
    from .metrics import ReconcilerMetrics  # loaded only when metrics are on (memory)

__all__ = ["WRITE_GROUPS", "PassOutcome", "Reconciler"]


def _trace(exc: BaseException) -> str:
    """Where an unexpected exception came from (file:line of each frame), without its message,
    which could quote bytes of a file."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-6:]))


def _undo(undo: list[tuple[FileWrite, bytes | None]]) -> bool:
    """Put back the old bytes of files a failed group wrote, newest first; False if any failed."""
    ok = True
    for write, old in reversed(undo):
        try:
            if old is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(write.path)
            else:
                atomic_write(write.path, old, mode=write.mode, below=write.below)
        except OSError:
            ok = False
    return ok


@dataclass(frozen=True)
class PassOutcome:
    result: str  # in_sync | healed | drift | error
    changed: tuple[str, ...]
    plan: Plan | None
    desired: Desired | None
    error: str = ""
    owed: frozenset[str] = frozenset()
    drifted: tuple[str, ...] = ()
    """The resources the pass found differing from the desired state, before it healed them."""

    @property
    def exit_code(self) -> ExitCode:
        ok, drift = ExitCode.OK, ExitCode.CHECK_FAILED
        return {"in_sync": ok, "healed": ok, "drift": drift}.get(self.result, ExitCode.BAD_INPUT)


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
        log: EventLog | None = None,
        metrics: ReconcilerMetrics | None = None,
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
        self._last_good: PassOutcome | None = None
        self._resource_states: dict[str, ResourceState] = {}
        self._log = log or log_event
        self._metrics = metrics
        # Owed actions are kept by resource name; a resource owes one if its action key has a command.
        configured = [r.name for r in RESOURCES if config.actions.get(r.action_key)]
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
        except Exception as exc:  # I/O after its retries, or a bug: an alert, never the end of the daemon
            if isinstance(exc, (OSError, LockTimeout)):
                message = f"{exc.__class__.__name__}: {exc}"[:150]
            else:
                message = f"internal error {exc.__class__.__name__} (details in the journal)"
                self._log(
                    {"event": "pass_exception", "error": exc.__class__.__name__, "trace": _trace(exc)},
                    logging.ERROR,
                )
            self.alerts.update("pass_error", [Alert("pass", "error", found=message, done="will retry")])
            outcome = PassOutcome("error", (), None, None, message)
            # Honest status: nothing is known to be in sync while passes fail.
            self._resource_states = {
                name: ResourceState(sync="error", detail=f"pass failed: {message}"[:160])
                for name in RESOURCE_NAMES
            }
        if outcome.owed:
            try:
                run_owed_actions(self.config, outcome.owed, self._pending, self.alerts, self._log)
            except Exception as exc:  # an action's bookkeeping failed: it stays owed for the next pass
                self._log(
                    {"event": "actions_failed", "error": f"{exc.__class__.__name__}: {exc}"[:150]},
                    logging.ERROR,
                )
        elapsed = self._monotonic() - start
        duration_ms = round(elapsed * 1000, 2)
        record = PassRecord(
            at=self._wall(), duration_ms=duration_ms, result=outcome.result, changed=outcome.changed
        )
        with self._lock:
            self._passes.append(record)
            self._last = outcome
            if outcome.plan is not None:
                self._last_good = outcome
            self._write_status_locked()
            errored = [n for n, state in self._resource_states.items() if state.sync == "error"]
        if self._metrics is not None:
            self._metrics.record_pass(
                outcome.result,
                drifted=outcome.drifted,
                healed=outcome.changed,
                errored=errored if outcome.plan is not None else ["pass"],
                duration_s=elapsed,
                at=record.at.timestamp(),
                owed=len(self._pending.load()),
            )
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

    def _apply(self, plan: Plan) -> tuple[list[str], dict[str, str]]:
        """Write every drifted resource; returns (resources written, resources failed: why).

        The stable pair, the legacy copy and the config version move together: the feed takes the
        version from the config and then reads that version's manifest, so the config is written
        last, and when any of the group fails the ones already written get their old bytes back.
        """
        by_name = {resource.name: resource for resource in plan.resources}
        changed: list[str] = []
        failed: dict[str, str] = {}
        for group in WRITE_GROUPS:
            undo: list[tuple[FileWrite, bytes | None]] = []
            written: list[str] = []
            broken = [n for n in group if n in by_name and by_name[n].state == "error"]
            if broken:
                # Half a group is worse than none: a config version whose pair cannot be written
                # would make the feed look for a manifest that is not there.
                for name in group:
                    if name in by_name and by_name[name].state == "drift" and by_name[name].writes:
                        failed[name] = f"held back: {broken[0]} is in error"
                continue
            for name in group:
                resource = by_name.get(name)
                if resource is None or resource.state != "drift" or not resource.writes:
                    continue
                write = None
                try:
                    for write in resource.writes:
                        # config.env is edited in place, never replaced: nothing to put back.
                        old = read_bytes(write.path, below=write.below) if write.gate is None else None
                        apply_write(write)
                        if write.gate is None:
                            undo.append((write, old))
                    written.append(name)
                except Exception as exc:  # one resource's failure is its own error, and the group's
                    reason = failure_text(exc)
                    if write is not None and str(write.path) not in reason:
                        reason = f"{write.path}: {reason}"  # which file, so which disk is full
                    restored = _undo(undo)
                    note = f"; rolled back {', '.join(written)}" if written and restored else ""
                    note += "" if restored else "; ROLLBACK FAILED"
                    # What the operator acts on is the cause and the note (ROLLBACK FAILED): a long
                    # path gives up its start to make room for them, never them.
                    room = 160 - len("write failed: ") - len(note)
                    reason = reason if len(reason) <= room else "…" + reason[len(reason) - room + 1 :]
                    failed[name] = f"write failed: {reason}{note}"
                    for other in written:
                        failed.setdefault(other, f"rolled back: {name} could not be written"[:160])
                    written = []
                    break
            changed += written
        return changed, failed

    def _pass_body(self) -> PassOutcome:
        config = self.config
        with vm_lock(config.lock_path, timeout_s=config.lock_timeout_s):
            migrated = migrate_legacy(config.desired_dir)
            if migrated:
                self._log({"event": "desired_migrated", "to": "bundle.json", "removed": migrated})
            desired = read_desired(config.desired_dir)
            plan = compute_plan(desired, config)
            changed: list[str] = []
            failed: dict[str, str] = {}
            owed: frozenset[str] = frozenset()
            if config.mode == "enforce":
                to_write = [r for r in plan.resources if r.state == "drift" and r.writes]
                # Owed before written: a kill between the write and the action must not lose it.
                owed = self._pending.add(r.name for r in to_write) if to_write else self._pending.load()
                if to_write:
                    changed, failed = self._apply(plan)
            after = compute_plan(desired, config) if changed or failed else plan
        rollout = plan.digest != self._seen_digest
        self._seen_digest = plan.digest
        if rollout and changed:
            self._log(
                {"event": "applied", "desired_digest": plan.digest, "changed": changed, "mode": config.mode}
            )
        mode = config.mode
        planned: dict[str, ResourcePlan] = {resource.name: resource for resource in plan.resources}
        write_alerts = [
            Alert(
                name,
                "write_failed",
                expected=planned[name].expected,
                found=why,
                done="served state kept consistent; will retry",
            )
            for name, why in failed.items()
        ]
        self.alerts.update(
            "pass", pass_conditions(desired, plan, changed, rollout=rollout, mode=mode) + write_alerts
        )
        if changed or failed:
            self.alerts.update(
                "pass", pass_conditions(desired, after, (), rollout=False, mode=mode) + write_alerts
            )
        if after.has_error or failed:
            result = "error"
        elif not after.in_sync:
            result = "drift"
        else:
            result = "healed" if changed else "in_sync"
        states = resource_states(after, tuple(changed))
        for name, why in failed.items():
            states[name] = ResourceState(sync="error", detail=why)
        self._resource_states = states
        drifted = tuple(r.name for r in plan.resources if r.state == "drift")
        return PassOutcome(result, tuple(changed), after, desired, owed=owed, drifted=drifted)

    def status(self) -> Status:
        with self._lock:
            return self._build_status()

    def _write_status_locked(self) -> None:
        problems: list[Alert] = []
        try:
            write_status(self.config.status_path, self._build_status())
        except Exception as exc:  # a full or read-only state directory: an alert, never an exit
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
            expected = f"{self.config.status_path} written"
            problems.append(Alert("state", "write_failed", expected=expected, found=why, done="will retry"))
        self.alerts.update("state", problems)

    def _build_status(self) -> Status:
        outcome = self._last
        # While passes fail, the last digest a pass read stays the one reported (not "unknown").
        known = outcome if outcome is not None and outcome.plan is not None else self._last_good
        return build_status(
            self.config,
            at=self._wall(),
            pid=self._pid,
            desired=known.desired if known else None,
            digest=known.plan.digest if known and known.plan else "unknown",
            resources=dict(self._resource_states),
            health=self._health,
            passes=tuple(self._passes),
            alerts=self.alerts.recent(),
        )
