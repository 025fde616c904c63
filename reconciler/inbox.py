"""The daemon's inbox: how ``accept --wait`` hands a bundle to the running daemon.

Rules:
- A request is ``<state_dir>/inbox/<id>.json``: the bundle bytes ``accept`` already validated,
  written atomically. The daemon's watcher wakes on it; the daemon validates it again (the inbox is
  a door too), commits it under the VM lock in one rename and answers in ``<id>.result``.
- The daemon claims a request by renaming it to ``<id>.taken`` before reading it, and ``accept``
  withdraws an unanswered one by unlinking ``<id>.json``: exactly one of the two succeeds, so a
  bundle is never committed behind the back of an ``accept`` that reported "nothing changed".
- So the pass that applies a bundle is always the daemon's, never one run by the CLI (which Run
  Command starts as root). Answers nobody collected (an ``accept`` killed while waiting) are
  removed after ``STALE_S``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas import Bundle, atomic_write
from schemas.daemonlog import EventLog
from schemas.fileio import atomic_stream, read_regular

from .config import Config
from .desired import MAX_BUNDLE_BYTES, bundle_bytes, parse_bundle_bytes, write_bundle
from .lock import LockTimeout, vm_lock

__all__ = ["STALE_S", "hand_over", "inbox_dir", "serve_requests"]

STALE_S = 600.0
_ANSWER_CAP = 64 << 10


def inbox_dir(config: Config) -> Path:
    return config.state_dir / "inbox"


def _read_answer(path: Path) -> dict[str, Any] | None:
    try:
        data = read_regular(path, max_bytes=_ANSWER_CAP)
        document = json.loads(data) if data is not None else None
    except (OSError, ValueError):
        return {"ok": False, "error": "the daemon's answer is unreadable"}
    return (
        document if isinstance(document, dict) or document is None else {"ok": False, "error": "bad answer"}
    )


def hand_over(
    config: Config,
    bundle: Bundle,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Give ``bundle`` to the daemon and wait for its answer; None when it never took the bundle."""
    inbox = inbox_dir(config)
    inbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    request_id = f"{os.getpid()}-{secrets.token_hex(6)}"
    request, answer = inbox / f"{request_id}.json", inbox / f"{request_id}.result"
    owner = os.stat(inbox)
    with atomic_stream(request, mode=0o600) as handle:
        handle.write(bundle_bytes(bundle))
        if (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
            # Run as root (a Run Command script that did not drop privileges): the daemon, which
            # owns the inbox, must still be able to read and remove the request.
            with contextlib.suppress(PermissionError):
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
    withdrawn_at: float | None = None
    while True:
        document = _read_answer(answer)
        if document is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(answer)
            return document
        now = monotonic()
        if withdrawn_at is None and now >= deadline:
            try:
                os.unlink(request)
                return None
            except FileNotFoundError:
                withdrawn_at = now  # taken: the answer is on its way
        if withdrawn_at is not None and now - withdrawn_at > 60.0:
            return {"ok": False, "error": "the daemon took the bundle but gave no answer within 60 s"}
        sleep(0.02)


def _answer(config: Config, data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {"ok": False, "error": "request vanished"}
    try:
        bundle = parse_bundle_bytes(data)
    except ValueError as exc:
        return {"ok": False, "error": f"bundle invalid: {exc}"[:200]}
    with vm_lock(config.lock_path, timeout_s=10.0):
        changed = write_bundle(config.desired_dir, bundle)
    return {"ok": True, "changed": changed, "desired_digest": bundle.digest()}


def serve_requests(config: Config, log: EventLog, now: float | None = None) -> int:
    """Commit every waiting request (oldest name first) and answer it; returns how many were served.

    Every failure is an answer or a log line: nothing here raises into the daemon's loop.
    """
    inbox = inbox_dir(config)
    now = time.time() if now is None else now
    try:
        entries = sorted(os.scandir(inbox), key=lambda entry: entry.name)
    except OSError:
        return 0
    served = 0
    for entry in entries:
        name = entry.name
        if name.endswith(".result") or name.endswith(".taken"):
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_S:
                    os.unlink(entry.path)
            continue
        if name.startswith(".") or not name.endswith(".json"):
            continue
        request_id = name[: -len(".json")]
        taken = inbox / f"{request_id}.taken"
        try:
            os.rename(entry.path, taken)
        except OSError:
            continue  # withdrawn by its accept, or not ours to take
        try:
            answer = _answer(config, read_regular(taken, max_bytes=MAX_BUNDLE_BYTES))
        except ValueError as exc:
            answer = {"ok": False, "error": f"request refused: {exc}"}
        except (OSError, LockTimeout) as exc:
            answer = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:200]}
        try:
            atomic_write(inbox / f"{request_id}.result", (json.dumps(answer) + "\n").encode(), mode=0o600)
        except OSError as exc:
            log(
                {
                    "event": "inbox_answer_not_written",
                    "request": request_id,
                    "error": exc.strerror or str(exc),
                },
                logging.ERROR,
            )
        with contextlib.suppress(OSError):
            os.unlink(taken)
        log(
            {
                "event": "inbox_served",
                "request": request_id,
                "ok": answer.get("ok"),
                "changed": answer.get("changed", []),
            }
        )
        served += 1
    return served
