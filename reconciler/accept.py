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
from dataclasses import dataclass, field
from typing import Any

from schemas import Bundle, Status, utcnow

from .config import Config
from .desired import parse_bundle_bytes, write_bundle
from .inbox import hand_over
from .lock import vm_lock
from .statusfile import is_fresh, read_status
from .view import dry_view, max_status_age

__all__ = ["AcceptError", "AcceptResult", "accept", "parse_bundle"]

SETTLED = ("in_sync", "healed", "absent")
NO_DAEMON = "no reconciler daemon is running: the bundle is committed and applies when it starts"


class AcceptError(ValueError):
    """Invalid input: nothing was written."""


@dataclass
class AcceptResult:
    ok: bool
    changed: list[str]
    desired_digest: str
    extra: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {"ok": self.ok, "changed": self.changed, "desired_digest": self.desired_digest, **self.extra}

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return 2 if self.extra.get("refused") else 1
        return 1 if "converged" in self.extra and not self.extra["converged"] else 0


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
        and all(state.sync in SETTLED for state in status.resources.values())
    )


def _resources(status: Status | None) -> dict[str, str]:
    return {name: state.sync for name, state in status.resources.items()} if status else {}


def accept(
    config: Config,
    bundle: Bundle,
    wait_s: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> AcceptResult:
    digest = bundle.digest()
    if wait_s > 0 and is_fresh(read_status(config.status_path), utcnow(), max_status_age(config)):
        deadline = monotonic() + wait_s
        answer = hand_over(config, bundle, deadline, monotonic)
        if answer is None:
            return AcceptResult(
                False,
                [],
                digest,
                {
                    "error": f"the reconciler daemon did not take the bundle within {wait_s:g} s; nothing changed"
                },
            )
        if not answer.get("ok"):
            return AcceptResult(False, [], digest, {"error": str(answer.get("error", "refused"))[:200]})
        status = read_status(config.status_path)
        while not _settled(status, digest) and monotonic() < deadline:
            time.sleep(0.02)
            status = read_status(config.status_path)
        changed = [str(name) for name in answer.get("changed", [])]
        extra = {
            "waited_for": "daemon",
            "converged": _settled(status, digest),
            "resources": _resources(status),
        }
        return AcceptResult(True, changed, digest, extra)
    config.desired_dir.mkdir(parents=True, exist_ok=True)
    with vm_lock(config.lock_path, timeout_s=30.0):
        changed = write_bundle(config.desired_dir, bundle)
    result = AcceptResult(True, changed, digest)
    if wait_s > 0:
        _plan, status = dry_view(config)
        result.extra.update(
            {
                "waited_for": "none",
                "daemon": "not running",
                "converged": False,
                "resources": _resources(status),
            }
        )
    return result
