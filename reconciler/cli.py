"""``nexy-reconciler --config PATH <command>``: run, once, diff, status, accept.

Rules: exit (``schemas.ExitCode``) OK done / in sync, CHECK_FAILED drift remains (or accept --wait
did not converge), BAD_INPUT bad input, bad config or error. Event lines are
``schemas.daemonlog``'s JSON on stderr, for every command. Expected errors are one line on stderr, never a traceback. The commands the
workstation calls answer with one ``RESULT {json}`` line, the last on stdout, printed by
``_result`` alone, fitted into Run Command's 4,096-byte answer (``schemas.fit``): ``accept`` always
(an ``AcceptReport``, also when refused; from stdin, or ``--staged`` parts), ``diff --result``
(a ``PlanDocument``) and ``status --result`` (a ``Status``, with the feeds' adoption figures
read at call time; ``accept`` records their baseline when it changes a channel's version). ``--json`` prints the same document
for operators as one JSON object on one line; without either, the output is a table for humans.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from schemas import RESULT_PREFIX, AcceptReport, ExitCode, Status, utcnow
from schemas.daemonlog import setup_logging
from schemas.fit import result_line

from .accept import NO_DAEMON, AcceptError, accept, exit_code, parse_bundle
from .config import Config, ConfigError, load_config
from .desired import MAX_BUNDLE_BYTES
from .documents import dry_view, max_status_age, plan_document, sync_state
from .lock import LockTimeout
from .staged import read_staged
from .statusfile import fit, is_fresh, read_status, render_table

if TYPE_CHECKING:
    from .engine import PassOutcome

__all__ = ["main"]

CLOSE_S = 3.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexy-reconciler", description="Keep the VM's runtime state equal to the desired state."
    )
    parser.add_argument("--config", required=True, type=Path, help="YAML config file")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="the daemon (systemd Type=notify)")
    commands.add_parser("once", help="one pass; exit 0 in sync, 1 drift remains, 2 error")
    for name, text in (
        ("diff", "the plan without applying"),
        ("status", "sync, health, env keys, passes, alerts"),
    ):
        sub = commands.add_parser(name, help=text)
        output = sub.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="one JSON object on one line")
        output.add_argument(
            "--result", action="store_true", help="one RESULT {json} line (what the workstation reads)"
        )
    sub = commands.add_parser("accept", help="commit a desired-state bundle read from stdin")
    sub.add_argument(
        "--base64",
        dest="b64",
        help="the bundle JSON, base64-encoded (old workstations; stdin has no size limit)",
    )
    sub.add_argument("--wait", type=float, default=0.0, help="seconds to wait for convergence")
    sub.add_argument(
        "--staged",
        type=Path,
        help="read the bundle from the parts staged in this directory (root's), not stdin",
    )
    sub.add_argument("--parts", type=int, default=1, help="how many parts --staged has")
    sub.add_argument(
        "--sha256", default="", help="the staged bundle's sha256, which names and checks its parts"
    )
    return parser


def _one_pass(config: Config) -> tuple[PassOutcome, Status]:
    """One pass outside the daemon; its alerts reach the webhooks too, since the alert memory it
    saves tells the daemon they were delivered. Exit waits for webhooks at most ``CLOSE_S``."""
    from .daemon import build_alerts, new_deliverer
    from .engine import Reconciler

    deliverer = new_deliverer() if config.alerts.webhooks else None
    try:
        reconciler = Reconciler(config, build_alerts(config, deliverer))
        outcome = reconciler.run_pass()
        return outcome, reconciler.status()
    finally:
        if deliverer is not None:
            deliverer.close(CLOSE_S)


def _result(document: BaseModel, *, prefix: str = RESULT_PREFIX) -> None:
    """The one way a document leaves the CLI: every field, nulls included, on one line; a RESULT
    line fitted into the 4,096 bytes Run Command brings back (``schemas.fit``)."""
    print(result_line(document) if prefix == RESULT_PREFIX else document.model_dump_json())


def _answer(document: BaseModel, as_json: bool, as_result: bool) -> bool:
    """Print ``document`` for a machine when asked to; False when the caller prints for humans."""
    if as_result or as_json:
        _result(document, prefix=RESULT_PREFIX if as_result else "")
        return True
    return False


def _diff(config: Config, as_json: bool, as_result: bool) -> int:
    plan, _status = dry_view(config)
    code = ExitCode.BAD_INPUT if plan.has_error else ExitCode.OK if plan.in_sync else ExitCode.CHECK_FAILED
    if _answer(plan_document(plan, config.mode), as_json, as_result):
        return code
    for r in plan.resources:
        print(f"{r.name:<16}{sync_state(r.state):<10}{r.detail()}")
        for write in r.writes:
            print(f"{'':<16}would write {write.path}")
    print("in sync" if plan.in_sync else "drift" if code == ExitCode.CHECK_FAILED else "error")
    return code


def _status(config: Config, as_json: bool, as_result: bool) -> int:
    status: Status | None = read_status(config.status_path)
    if not is_fresh(status, utcnow(), max_status_age(config)):
        _plan, status = dry_view(config)
    assert status is not None
    # Read now, never by the daemon (a pass does not wait on a feed): see reconciler.adoption.
    # Imported here, not at the top: its HTTP client and metrics parser cost the daemon ~8 MB of RSS.
    from .adoption import adoption

    status = fit(status).model_copy(update={"adoption": adoption(config)})
    if not _answer(status, as_json, as_result):
        print(render_table(status))
    return ExitCode.OK


def _bundle_bytes(args: argparse.Namespace) -> bytes | None:
    """The bundle as sent: staged parts, stdin, or None when ``--base64`` carries it."""
    if args.staged is not None:
        try:
            return read_staged(args.staged, args.sha256, args.parts, MAX_BUNDLE_BYTES)
        except FileNotFoundError as exc:
            raise AcceptError(f"staged bundle: {exc.filename} is missing; nothing written") from None
        except ValueError as exc:
            raise AcceptError(str(exc)) from None
    return None if args.b64 is not None else sys.stdin.buffer.read(MAX_BUNDLE_BYTES + 1)


def _accept(config: Config, args: argparse.Namespace) -> int:
    b64, wait_s = args.b64, args.wait
    try:
        bundle = parse_bundle(_bundle_bytes(args), b64)
    except AcceptError as exc:
        print(f"nexy-reconciler accept: {exc}", file=sys.stderr)
        _result(AcceptReport(ok=False, error=str(exc)))
        return ExitCode.BAD_INPUT
    from .adoption import record_baseline  # not at the top: see _status (the daemon's memory)

    commit_baseline = record_baseline(config, bundle)
    report = accept(config, bundle, wait_s)
    if report.ok:
        try:
            commit_baseline()
        except OSError as exc:
            # Figures, not state: a baseline not written never fails the accept that was committed.
            print(f"nexy-reconciler accept: adoption baseline not written: {exc}", file=sys.stderr)
    if report.daemon == "not running":
        print(f"nexy-reconciler accept: {NO_DAEMON}", file=sys.stderr)
    elif not report.ok:
        print(f"nexy-reconciler accept: {report.error}", file=sys.stderr)
    _result(report)
    return exit_code(report)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    try:
        config = load_config(args.config)
        if args.command in ("run", "once"):
            # Imported by the two commands that run passes: the sandbox's remote runs this CLI for
            # each status, diff and accept, and those never need the daemon (watchfiles, alerts).
            from .daemon import run_daemon, summary, sweep
        if args.command == "run":
            return run_daemon(config)
        if args.command == "once":
            sweep(config)
            outcome, _ = _one_pass(config)
            print(summary(outcome))
            return outcome.exit_code
        if args.command == "diff":
            return _diff(config, args.json, args.result)
        if args.command == "status":
            return _status(config, args.json, args.result)
        return _accept(config, args)
    except ConfigError as exc:
        print(f"nexy-reconciler: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except (OSError, LockTimeout) as exc:
        message = f"{exc.__class__.__name__}: {exc}"
        print(f"nexy-reconciler: {message}", file=sys.stderr)
        if args.command == "accept":
            _result(AcceptReport(ok=False, error=message))
        return ExitCode.BAD_INPUT
