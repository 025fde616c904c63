"""The daemons' one log format (schemas.daemonlog): the feed's records, uvicorn's included, are
JSON lines with a level, as the reconciler's events are; an event keeps its fields in order."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from uvicorn.config import STARTUP_FAILURE

from schemas import ExitCode
from schemas.daemonlog import JsonFormatter
from tests.feed.feedkit import FeedProcess, RuntimeTree, wait_until


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("nexy", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_an_event_keeps_its_fields_in_order_and_gains_its_level() -> None:
    document = {"event": "alert", "resource": "beta", "status": "firing"}
    line = JsonFormatter().format(_record("alert", logging.WARNING, nexy_document=document))
    assert line == '{"event":"alert","resource":"beta","status":"firing","level":"warning"}'


def test_any_other_record_is_a_log_event_naming_its_logger() -> None:
    line = JsonFormatter().format(_record("reload requested"))
    assert json.loads(line) == {
        "event": "log",
        "logger": "nexy",
        "message": "reload requested",
        "level": "info",
    }


def test_every_feed_log_line_is_json_with_a_level(
    tree: RuntimeTree, start_feed: Callable[..., FeedProcess]
) -> None:
    feed = start_feed(tree.root)
    feed.signal(signal.SIGHUP)
    wait_until(lambda: "reload requested" in feed.log())
    assert feed.stop() == ExitCode.OK
    lines = [json.loads(line) for line in feed.log().splitlines()]
    assert lines and all(line["event"] == "log" and line["level"] in {"info", "warning"} for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines), (
        "uvicorn's records bypassed the formatter"
    )


def test_a_taken_port_is_uvicorns_startup_failure_status_with_a_json_error_line(
    tree: RuntimeTree, start_feed: Callable[..., FeedProcess], tmp_path: Path
) -> None:
    assert STARTUP_FAILURE == ExitCode.STARTUP_FAILED  # one number for systemd, whichever side exits
    first = start_feed(tree.root)
    second = FeedProcess(tree.root, tmp_path / "second.log", "--port", str(first.port))
    done = subprocess.run(second.args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.STARTUP_FAILED, done.stderr
    errors = [json.loads(line) for line in done.stderr.splitlines() if '"level":"error"' in line]
    assert errors and "address already in use" in errors[0]["message"].lower(), done.stderr
