"""The sandbox remote: run the reconciler's own CLI in a subprocess, as Run Command would on the VM.

Rules (on top of the ``Remote`` protocol's):
- Each method is one subprocess, ``python -m reconciler --config CFG <command>``, and one line in
  ``<sandbox dir>/remote_calls.jsonl`` (``{"at", "method"}``, written before the call), so a test can
  count remote calls exactly.
- ``accept``, ``status --result`` and ``diff --result`` each answer with their last ``RESULT {json}``
  line, read by ``parse_result_line``. A command that exits non-zero without its answer is a
  ReleaseError naming the command and its last stderr line; stderr is otherwise diagnostics and is
  never parsed.
- The bundle travels on the CLI's stdin, as it does through Run Command (a here-document there):
  never in an argument, which the kernel limits to 128 KiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.remote.base import Document, ResultLineError, parse_result_line
from release.outside.sandbox_layout import sandbox_paths
from schemas import AcceptReport, Bundle, PlanDocument, Status, Target, utcnow
from schemas.target import LocalRemote as LocalRemoteConfig

__all__ = ["LocalRemote"]


class LocalRemote:
    """``Remote`` over a local reconciler; ``python`` (else the target's ``remote.python``, else this
    interpreter), ``env`` and the call log are injectable."""

    def __init__(
        self,
        target: Target,
        *,
        python: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 120.0,
        calls_log: Path | None = None,
    ) -> None:
        if not isinstance(target.remote, LocalRemoteConfig):
            raise ReleaseError(f"target {target.name!r}: LocalRemote needs remote.kind 'local'")
        self.config = target.path(target.remote.reconciler_config)
        self._python = list(python or target.remote.python or [sys.executable])
        self._env = dict(env) if env is not None else None
        self._timeout_s = timeout_s
        self._calls_log = calls_log or sandbox_paths(target).remote_calls

    @property
    def calls_log(self) -> Path:
        """Where each remote call is counted (one JSON line per call)."""
        return self._calls_log

    def describe(self) -> str:
        return f"local reconciler (config {self.config})"

    def _record(self, method: str) -> None:
        line = json.dumps({"at": utcnow().isoformat(), "method": method}) + "\n"
        self._calls_log.parent.mkdir(parents=True, exist_ok=True)
        # An append-only counter: one O_APPEND write of one short line is atomic and never rewrites
        # earlier lines, which is what atomic_write would otherwise guarantee.
        fd = os.open(self._calls_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _run(
        self, method: str, args: list[str], timeout_s: float, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self._record(method)
        argv = [*self._python, "-m", "reconciler", "--config", str(self.config), *args]
        try:
            return subprocess.run(
                argv,
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                env=self._env,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ReleaseError(
                f"reconciler {args[0]} did not finish within {timeout_s:.0f} s", CHECK_FAILED
            ) from None
        except OSError as exc:
            raise ReleaseError(
                f"cannot run the reconciler ({self._python[0]}): {exc.strerror}", CHECK_FAILED
            ) from None

    @staticmethod
    def _failure(command: str, done: subprocess.CompletedProcess[str]) -> ReleaseError:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output on stderr"
        return ReleaseError(f"reconciler {command} failed (exit {done.returncode}): {last}", CHECK_FAILED)

    def _answer(
        self, command: str, args: list[str], model: type[Document], timeout_s: float, stdin: str | None = None
    ) -> Document:
        """One CLI call; its RESULT line as ``model``."""
        done = self._run(command, [command, *args], timeout_s, stdin=stdin)
        try:
            return parse_result_line(done.stdout, model, command)
        except ResultLineError as exc:
            if exc.kind == "missing" and done.returncode != 0:
                raise self._failure(command, done) from None
            raise

    def accept(self, bundle: Bundle, *, wait_s: float = 0.0) -> AcceptReport:
        # Every field present, nulls included: the VM refuses a bundle that omits one.
        args = ["--wait", f"{wait_s:g}"] if wait_s > 0 else []
        return self._answer(
            "accept", args, AcceptReport, self._timeout_s + wait_s, stdin=bundle.model_dump_json()
        )

    def status(self) -> Status:
        return self._answer("status", ["--result"], Status, self._timeout_s)

    def diff(self) -> PlanDocument:
        return self._answer("diff", ["--result"], PlanDocument, self._timeout_s)

    def run_script(
        self, command: str, script: list[str], model: type[Document], extra_s: float = 0.0
    ) -> Document:
        """Run a whole ``script`` with ``/bin/sh``, as Run Command does on the VM (``vm.*`` on the
        sandbox); its last RESULT line as ``model``."""
        self._record(command)
        try:
            done = subprocess.run(
                ["/bin/sh", "-c", "\n".join(script) + "\n"],
                input="",
                capture_output=True,
                text=True,
                env=self._env,
                timeout=self._timeout_s + extra_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ReleaseError(
                f"{command} did not finish within {self._timeout_s + extra_s:.0f} s", CHECK_FAILED
            ) from None
        try:
            return parse_result_line(done.stdout, model, command)
        except ResultLineError as exc:
            if exc.kind == "missing":
                raise self._failure(command, done) from None
            raise
