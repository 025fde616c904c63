"""``accept``: the one validated door through which desired state reaches the VM.

Rules:
- Input is a ``schemas.Bundle`` as JSON (stdin, or base64 in an argument); anything invalid is
  refused with one line and nothing is written.
- Under the VM lock, only desired files whose bytes change are written (atomically); a null field
  removes that desired file (the resource becomes unmanaged; runtime files stay).
- ``--wait S``: when a daemon is running (its status.json is fresh and its pid alive) wait until it
  reports this digest with every resource in sync; otherwise run one pass here.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas import Bundle, Status, utcnow
from schemas.errors import first_error

from .config import Config
from .desired import write_bundle
from .lock import vm_lock
from .statusfile import is_fresh, read_status
from .view import max_status_age

__all__ = ["AcceptError", "AcceptResult", "accept", "parse_bundle"]

_MAX_INPUT = 2 << 20
SETTLED = ("in_sync", "healed", "absent")


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


def parse_bundle(raw: bytes | None, b64: str | None) -> Bundle:
    if b64 is not None:
        try:
            raw = base64.b64decode(b64.encode(), validate=True)
        except (binascii.Error, ValueError):
            raise AcceptError("--base64: not valid base64") from None
    if raw is None or not raw.strip():
        raise AcceptError("empty input: expected a desired-state bundle as JSON")
    if len(raw) > _MAX_INPUT:
        raise AcceptError("input larger than 2 MiB")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AcceptError(f"bundle is not valid JSON ({exc.__class__.__name__})") from None
    try:
        return Bundle.model_validate(document)
    except ValidationError as exc:
        raise AcceptError(f"bundle invalid: {first_error(exc)}") from None


def _settled(status: Status | None, digest: str) -> bool:
    return (
        status is not None
        and status.desired_digest == digest
        and all(state.sync in SETTLED for state in status.resources.values())
    )


def accept(
    config: Config,
    bundle: Bundle,
    wait_s: float,
    run_pass: Callable[[], Status],
    monotonic: Callable[[], float] = time.monotonic,
) -> AcceptResult:
    digest = bundle.digest()
    config.desired_dir.mkdir(parents=True, exist_ok=True)
    with vm_lock(config.lock_path, timeout_s=30.0):
        changed = write_bundle(config.desired_dir, bundle)
    result = AcceptResult(True, changed, digest)
    if wait_s <= 0:
        return result
    status = read_status(config.status_path)
    if is_fresh(status, utcnow(), max_status_age(config)):
        deadline = monotonic() + wait_s
        while not _settled(status, digest) and monotonic() < deadline:
            time.sleep(0.02)
            status = read_status(config.status_path)
        result.extra["waited_for"] = "daemon"
    else:
        status = run_pass()
        result.extra["waited_for"] = "own pass"
    result.extra["converged"] = _settled(status, digest)
    result.extra["resources"] = (
        {name: state.sync for name, state in status.resources.items()} if status else {}
    )
    return result
