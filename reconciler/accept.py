"""``accept``: the one validated door through which desired state reaches the VM.

Rules:
- Input is a ``schemas.Bundle`` as JSON on stdin (``--base64`` in an argument is still read, for
  old workstations, but an argument is limited to 128 KiB: payloads travel on stdin). It must name
  stable, beta and gate (null removes a desired file); anything invalid is refused with one line
  and nothing is written.
- The bundle is committed whole, under the VM lock, by one rename (``desired.write_bundle``).
- ``--wait S``: when a daemon is running (its status.json is fresh and its pid alive) the bundle is
  handed to it through its inbox (``inbox.hand_over``) and accept waits until it reports this
  digest with every resource settled. With no daemon, accept commits the bundle itself, runs no
  pass (that is the daemon's job, as the service user), says so on stderr and in the result
  (``"daemon": "not running"``) and exits 1: the bundle applies when the daemon starts.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

from schemas import AcceptReport, Bundle, ExitCode, Status, SyncState, utcnow

from .config import Config
from .desired import parse_bundle_bytes, write_bundle
from .documents import dry_view, max_status_age
from .inbox import hand_over
from .lock import vm_lock
from .statusfile import is_fresh, read_status

__all__ = ["AcceptError", "accept", "exit_code", "parse_bundle"]

NO_DAEMON = "no reconciler daemon is running: the bundle is committed and applies when it starts"


class AcceptError(ValueError):
    """Invalid input: nothing was written."""


def exit_code(report: AcceptReport) -> ExitCode:
    """OK committed (and converged when waited for), CHECK_FAILED refused or not converged."""
    return ExitCode.CHECK_FAILED if not report.ok or report.converged is False else ExitCode.OK


def parse_bundle(raw: bytes | None, b64: str | None) -> Bundle:
    if b64 is not None:
        try:
            raw = base64.b64decode(b64.encode(), validate=True)
        except (binascii.Error, ValueError):
            raise AcceptError("--base64: not valid base64") from None
    try:
        return parse_bundle_bytes(raw or b"")
    except ValueError as exc:
        raise AcceptError(f"bundle invalid: {exc}") from None


def _settled(status: Status | None, digest: str) -> bool:
    return (
        status is not None
        and status.desired_digest == digest
        and all(state.sync.settled for state in status.resources.values())
    )


def _resources(status: Status | None) -> dict[str, SyncState]:
    return {name: state.sync for name, state in status.resources.items()} if status else {}


def accept(
    config: Config,
    bundle: Bundle,
    wait_s: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> AcceptReport:
    digest = bundle.digest()
    if wait_s > 0 and is_fresh(read_status(config.status_path), utcnow(), max_status_age(config)):
        deadline = monotonic() + wait_s
        answer = hand_over(config, bundle, deadline, monotonic)
        if answer is None:
            return AcceptReport(
                ok=False,
                desired_digest=digest,
                error=f"the reconciler daemon did not take the bundle within {wait_s:g} s; nothing changed",
            )
        if not answer.get("ok"):
            return AcceptReport(
                ok=False, desired_digest=digest, error=str(answer.get("error", "refused"))[:200]
            )
        status = read_status(config.status_path)
        while not _settled(status, digest) and monotonic() < deadline:
            time.sleep(0.02)
            status = read_status(config.status_path)
        return AcceptReport(
            ok=True,
            changed=[str(name) for name in answer.get("changed", [])],
            desired_digest=digest,
            waited_for="daemon",
            converged=_settled(status, digest),
            resources=_resources(status),
        )
    config.desired_dir.mkdir(parents=True, exist_ok=True)
    with vm_lock(config.lock_path, timeout_s=30.0):
        changed = write_bundle(config.desired_dir, bundle)
    if wait_s <= 0:
        return AcceptReport(ok=True, changed=changed, desired_digest=digest)
    _plan, status = dry_view(config)
    return AcceptReport(
        ok=True,
        changed=changed,
        desired_digest=digest,
        waited_for="none",
        daemon="not running",
        converged=False,
        resources=_resources(status),
    )
