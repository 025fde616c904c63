"""``status.json`` on disk: written by every pass, read by ``status`` and ``accept --wait``; and its
table for humans. ``documents`` builds the document.

Rules:
- The document is ``schemas.Status`` and stays under 2,900 bytes of UTF-8 as compact JSON (Azure Run
  Command returns only 4 KB): ``schemas.fit`` drops the oldest passes and cuts details to fit.
- A status file is fresh when the pid it names is alive and it was written within two resync
  periods; otherwise readers compute a fresh view themselves.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from schemas import Status, atomic_write, dump_model
from schemas.fileio import FileRefused, read_regular
from schemas.fit import fit_document

__all__ = ["MAX_BYTES", "fit", "is_fresh", "read_status", "render_table", "write_status"]

MAX_BYTES = 2900


def fit(status: Status) -> Status:
    """``status`` fitted into MAX_BYTES bytes of compact JSON."""
    return fit_document(status, MAX_BYTES)


def write_status(path: Path, status: Status) -> None:
    atomic_write(path, dump_model(fit(status)))


def read_status(path: Path) -> Status | None:
    try:
        # Not followed through a link, never blocked on a FIFO; a refused file is no status.
        data = read_regular(path, max_bytes=16 * MAX_BYTES)
        return None if data is None else Status.model_validate_json(data)
    except (FileNotFoundError, FileRefused, ValidationError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_fresh(status: Status | None, now: datetime, max_age: timedelta) -> bool:
    return (
        status is not None
        and status.pid != os.getpid()
        and _alive(status.pid)
        and now - status.updated_at <= max_age
    )


def render_table(status: Status) -> str:
    lines = [
        f"mode {status.mode}   pid {status.pid or '-'}   updated {status.updated_at.isoformat()}",
        f"desired digest {status.desired_digest[:16]}   stable {status.stable_version or '-'}   "
        f"beta {status.beta_version or '-'}   gate {'-' if status.gate is None else status.gate}",
        "",
        f"{'resource':<16}{'sync':<10}detail",
    ]
    lines += [f"{name:<16}{state.sync:<10}{state.detail}" for name, state in status.resources.items()]
    if status.health:
        lines += ["", f"{'endpoint':<16}{'healthy':<10}detail"]
        for name, health in status.health.items():
            ok = "-" if health.ok is None else "yes" if health.ok else "NO"
            lines.append(f"{name:<16}{ok:<10}{health.detail}")
    lines += [
        "",
        "env keys: "
        + (", ".join(f"{k}={'set' if v else 'MISSING'}" for k, v in status.env_keys.items()) or "-"),
    ]
    for record in status.passes[-3:]:
        lines.append(
            f"pass {record.at.isoformat()} {record.result} {record.duration_ms:.1f} ms {','.join(record.changed)}"
        )
    for alert in status.alerts[-3:]:
        lines.append(f"alert {alert.at.isoformat()} {alert.resource} {alert.kind}: {alert.message}")
    return "\n".join(lines)
