"""``sandbox.up|down|status``: the production topology on loopback, started and stopped by us alone.

Rules:
- ``up`` is idempotent: certificates and the seeded trees are made once, and a process already
  running (alive, and the very argv we recorded) is left alone; only a missing one is started.
- Three processes: the reconciler (``run``), the production feed and the staging feed (which also
  serves the asset store at /releases/download/{tag}/{name}). Ports come from the target's endpoints.
  Metrics (the target's ``remote.metrics``, loopback ``host:port`` each): the feeds get
  ``--metrics-host``/``--metrics-port``, the reconciler config ``metrics``; those ports are checked
  with the others and ``status`` lists their URLs. When the target has a ``grpc`` block, two more: the gRPC stand-ins (``grpcstub``) on the
  production and staging gRPC endpoints, TLS with the sandbox certificate where the target says
  ``tls: true``; each reads its answer from ``run/<name>.health`` (see grpcstub).
- Ready means ready: a feed answers ``/health`` over TLS trusting the sandbox CA; the reconciler has
  written its ``status.json`` as the pid we started; a gRPC stand-in answers a health Check.
- ``up`` checks every port it is about to listen on before it writes or starts anything: a port
  another program holds (listening, or bound) is one line naming it and the process that wanted it.
  A start that fails midway stops what this ``up`` started, so a failed ``up`` leaves nothing running.
- ``up`` starts the reconciler first, then the feeds and stand-ins together (their readiness waits
  overlap); it says what happened to each in the order above, and a failure names the first in it.
  A launch that fails ends the readiness waits of the launches after it in that order (none of them
  can be the one named), Ctrl-C ends them all, each at its next look: no waiting out a deadline for
  processes about to be stopped. Then what this ``up`` started is stopped.
- ``down`` stops only processes whose pid files we wrote and that still run what we started: the
  feeds and stand-ins together, then the reconciler.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from release.errors import ReleaseError
from release.outside.probes import port_answers, port_free
from release.outside.sandbox_layout import SandboxPaths, endpoint_port, sandbox_paths
from release.sandbox.procs import Ready, read_pid_file, running, start, stop
from release.sandbox.tls import ensure_certificates, ssl_context
from release.sandbox.tree import sandbox_metrics, seed, write_reconciler_config
from schemas import Target
from schemas.adoption import metrics_url
from schemas.target import host_port

__all__ = [
    "PROCESSES",
    "ProcessSpec",
    "down",
    "grpc_status_file",
    "installed_python",
    "process_specs",
    "status",
    "up",
]

PROCESSES = ("reconciler", "production-feed", "staging-feed", "production-grpc", "staging-grpc")
# Outcomes of a Check that never reached a gRPC server (see release.outside.grpcsmoke).
_NOT_ANSWERED = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CA_BUNDLE")


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    url: str | None
    ready: Ready
    # ``host:port`` of its Prometheus endpoint, when the target gives it one
    metrics: str | None = None

    @property
    def metrics_url(self) -> str | None:
        return None if self.metrics is None else metrics_url(*host_port(self.metrics))

    def pid_file(self, paths: SandboxPaths) -> Path:
        return paths.run_dir / f"{self.name}.pid"

    def log(self, paths: SandboxPaths) -> Path:
        return paths.log_dir / f"{self.name}.log"


def _feed_ready(url: str, paths: SandboxPaths) -> Ready:
    def ready(_pid: int) -> bool:
        try:
            with httpx.Client(verify=ssl_context(paths.ca_bundle), timeout=2.0) as client:
                return client.get(f"{url.rstrip('/')}/health").status_code == 200
        except httpx.HTTPError:
            return False

    return ready


def _reconciler_ready(paths: SandboxPaths) -> Ready:
    def ready(pid: int) -> bool:
        try:
            return int(json.loads(paths.status_file.read_text(encoding="utf-8"))["pid"]) == pid
        except (OSError, ValueError, KeyError, TypeError):
            return False

    return ready


def _grpc_ready(endpoint: str, tls: bool, paths: SandboxPaths) -> Ready:
    def ready(_pid: int) -> bool:
        from release.outside.grpcsmoke import health_check

        outcome = health_check(endpoint, tls, ca_bundle=paths.ca_bundle, deadline_s=1.0)
        return outcome.status not in _NOT_ANSWERED

    return ready


def grpc_status_file(paths: SandboxPaths, name: str) -> Path:
    """Where the gRPC stand-in ``name`` reads the health status it answers (``NOT_SERVING`` ...)."""
    return paths.run_dir / f"{name}.health"


def _grpc_specs(target: Target, paths: SandboxPaths, python: str) -> list[ProcessSpec]:
    if target.grpc is None:
        return []
    specs = []
    for name, endpoint in (
        ("production-grpc", target.grpc.production),
        ("staging-grpc", target.grpc.staging),
    ):
        host, port = endpoint.endpoint.rsplit(":", 1)
        argv = [python, "-m", "release.sandbox.grpcstub", "--host", host, "--port", port]
        if endpoint.tls:
            argv += ["--certfile", str(paths.server_cert), "--keyfile", str(paths.server_key)]
        argv += ["--status-file", str(grpc_status_file(paths, name))]
        if target.grpc.service:
            argv += ["--service", target.grpc.service]
        ready = _grpc_ready(endpoint.endpoint, endpoint.tls, paths)
        specs.append(ProcessSpec(name, tuple(argv), endpoint.endpoint, ready))
    return specs


def installed_python(paths: SandboxPaths) -> tuple[str, Path] | None:
    """The build ``vm.install`` made current on this sandbox and its venv's interpreter; None when
    there is none (or it is not complete): then the VM side runs from the workstation's venv."""
    current = paths.vm_opt / "current"
    try:
        build = os.readlink(current)
    except OSError:
        return None
    # The build's own directory, not the link: a restart after vm.upgrade shows in argv.
    python = paths.vm_opt / build / "venv" / "bin" / "python"
    if "/" in build or not (paths.vm_opt / build / ".complete").is_file() or not python.is_file():
        return None
    return build, python


def process_specs(target: Target, paths: SandboxPaths, python: str = sys.executable) -> list[ProcessSpec]:
    metrics = sandbox_metrics(target)
    specs = [
        ProcessSpec(
            "reconciler",
            (python, "-m", "reconciler", "--config", str(paths.reconciler_config), "run"),
            None,
            _reconciler_ready(paths),
            metrics.reconciler,
        )
    ]
    for name, endpoint, assets, scrape in (
        ("production-feed", target.endpoints.production, None, metrics.production),
        ("staging-feed", target.endpoints.staging, paths.store_root, metrics.staging),
    ):
        url = str(endpoint.url).rstrip("/")
        host, port = endpoint_port(url)
        argv = [python, "-m", "feed", "--root", str(paths.vm_root), "--host", host, "--port", str(port)]
        argv += ["--certfile", str(paths.server_cert), "--keyfile", str(paths.server_key)]
        # Written by the feed only while it handles SIGHUP: the gate action reads it, not procfs.
        argv += ["--pid-file", str(paths.run_dir / f"{name}.serving.json")]
        if assets is not None:
            argv += ["--assets-dir", str(assets)]
        if scrape is not None:
            scrape_host, scrape_port = host_port(scrape)
            argv += ["--metrics-host", scrape_host, "--metrics-port", str(scrape_port)]
        specs.append(ProcessSpec(name, tuple(argv), url, _feed_ready(url, paths), scrape))
    # The gRPC stand-ins are the sandbox's own (release.sandbox), not the VM side: the workstation's.
    return specs + _grpc_specs(target, paths, sys.executable)


def _ports(spec: ProcessSpec) -> list[tuple[str, int]]:
    """The hosts and ports ``spec`` listens on (feeds: an https URL; gRPC and metrics: host:port)."""
    found = []
    if spec.url is not None and "://" in spec.url:
        found.append(endpoint_port(spec.url))
    for where in (spec.url if spec.url is not None and "://" not in spec.url else None, spec.metrics):
        if where is not None:
            found.append(host_port(where))
    return found


def _in_use(host: str, port: int) -> bool:
    """True when another socket holds ``host:port``: something accepts there, or a bind is refused."""
    return port_answers(host, port, timeout_s=1.0)[0] or not port_free(host, port)


def _check_ports(specs: list[ProcessSpec], running_now: Mapping[str, object]) -> None:
    busy = []
    for spec in specs:
        for where in _ports(spec) if running_now[spec.name] is None else []:
            if _in_use(*where):
                busy.append(f"{where[0]}:{where[1]} ({spec.name})")
    if busy:
        raise ReleaseError(
            f"sandbox: port {', '.join(busy)} already in use by another program: stop it or give the "
            "target other ports; nothing was started"
        )


class _Abandoned(Exception):
    """A launch's readiness wait ended because an earlier launch failed or the up was interrupted."""


def up(
    target: Target,
    *,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
    deadline_s: float = 45.0,
    say: Callable[[str], None] = lambda _line: None,
) -> dict[str, str]:
    """Bring the sandbox up; return what happened to each process ("started" / "already running").

    The VM side (reconciler, feeds, the gate action) runs from the build ``vm.install`` made
    current on this sandbox when there is one, as it runs from ``/opt/nexy-release/current`` on a
    VM; otherwise from ``python`` (the workstation's venv)."""
    paths = sandbox_paths(target)
    installed = installed_python(paths)
    if installed is not None and python == sys.executable:
        python = str(installed[1])
        say(f"VM side: build {installed[0]} (installed by vm.install in {paths.vm_opt})")
    specs = process_specs(target, paths, python)
    running_now = {spec.name: running(spec.pid_file(paths)) for spec in specs}
    for spec in specs:
        alive = running_now[spec.name]
        # Checked before anything is written. The interpreter may differ (another venv); the
        # arguments say which sandbox a process serves.
        if alive is not None and alive.argv[1:] != spec.argv[1:]:
            raise ReleaseError(
                f"sandbox: {spec.name} (pid {alive.pid}) runs with other arguments than this target "
                "asks for: run ./inv sandbox.down, then ./inv sandbox.up"
            )
    _check_ports(specs, running_now)
    if ensure_certificates(paths):
        say(f"made the sandbox CA {paths.ca_bundle} and a certificate for 127.0.0.1/localhost")
    for made in seed(target, paths):
        say(f"seeded {made}")
    if write_reconciler_config(target, paths, python):
        say(f"wrote the reconciler config {paths.reconciler_config}")
    child_env = dict(env) if env is not None else dict(os.environ)
    outcome: dict[str, str] = {}

    said: dict[str, str] = {}
    interrupted = threading.Event()
    failed: set[int] = set()  # the places in ``specs`` of the launches that failed
    lock = threading.Lock()

    def launch(place: int, spec: ProcessSpec) -> None:
        alive = running_now[spec.name]
        if alive is not None:
            outcome[spec.name] = "already running"
            said[spec.name] = f"{spec.name}: already running (pid {alive.pid})"
            return
        outcome[spec.name] = "starting"

        def ready(pid: int) -> bool:
            # An earlier launch failed, or Ctrl-C: this process is about to be stopped, so stop waiting.
            with lock:
                earlier = any(other < place for other in failed)
            if earlier or interrupted.is_set():
                raise _Abandoned(spec.name)
            return spec.ready(pid)

        try:
            record = start(
                spec.name,
                spec.argv,
                pid_file=spec.pid_file(paths),
                log=spec.log(paths),
                cwd=paths.dir,
                ready=ready,
                env=child_env,
                deadline_s=deadline_s,
            )
        except _Abandoned:
            raise
        except BaseException:
            with lock:
                failed.add(place)
            raise
        outcome[spec.name] = "started"
        said[spec.name] = f"{spec.name}: started (pid {record.pid}){' at ' + spec.url if spec.url else ''}"

    # The reconciler first; then the feeds and stand-ins side by side (none waits for another, so
    # their readiness waits overlap). The lines follow the specs' order, whatever finished first.
    first = [(place, spec) for place, spec in enumerate(specs) if spec.name == "reconciler"]
    rest = [(place, spec) for place, spec in enumerate(specs) if spec.name != "reconciler"]
    failure: BaseException | None = None
    launches: list[Future[None]] = []
    pool = ThreadPoolExecutor(max_workers=max(1, len(rest)))
    try:
        for place, spec in first:
            launch(place, spec)
        launches = [pool.submit(launch, place, spec) for place, spec in rest]
        wait(launches)
    except BaseException as exc:  # Ctrl-C included
        failure = exc
        interrupted.set()  # every launch still waiting for readiness ends at its next look
    finally:
        # Every launch has ended before anything is stopped: none writes its pid file after.
        pool.shutdown(wait=True)
    if failure is None:
        # The first real failure in the specs' order is the one reported, never an abandoned wait.
        failure = next(
            (
                error
                for launched in launches
                if (error := launched.exception()) is not None and not isinstance(error, _Abandoned)
            ),
            None,
        )
    for spec in specs:
        if spec.name in said:
            say(said[spec.name])
    if failure is not None:
        # Half a sandbox is worse than none: stop what this call started (kept: what already ran).
        for spec in reversed(specs):
            if outcome.get(spec.name) in ("started", "starting"):
                stop(spec.pid_file(paths))
        raise failure
    return outcome


def down(target: Target, *, say: Callable[[str], None] = lambda _line: None) -> dict[str, str]:
    """Stop what we started, feeds first so the reconciler's probes see them go; return the outcomes.

    The feeds and the gRPC stand-ins are stopped side by side (each ``stop`` waits for its own
    process only: the waits overlap instead of adding up), then the reconciler."""
    paths = sandbox_paths(target)
    first = [name for name in reversed(PROCESSES) if name != "reconciler"]
    with ThreadPoolExecutor(max_workers=len(first)) as pool:
        stopped = pool.map(lambda name: stop(paths.run_dir / f"{name}.pid"), first)
        outcome = dict(zip(first, stopped, strict=True))
    outcome["reconciler"] = stop(paths.run_dir / "reconciler.pid")
    for name in reversed(PROCESSES):
        say(f"{name}: {outcome[name]}")
    return outcome


def status(target: Target, python: str = sys.executable) -> dict[str, Any]:
    """URLs, pids and alive flags per process (the ``sandbox.status --json`` document)."""
    paths = sandbox_paths(target)
    processes: dict[str, Any] = {}
    for spec in process_specs(target, paths, python):
        record = read_pid_file(spec.pid_file(paths))
        alive = running(spec.pid_file(paths)) is not None
        processes[spec.name] = {
            "alive": alive,
            "pid": record.pid if record is not None and alive else None,
            "url": spec.url,
            "metrics_url": spec.metrics_url,
            "pid_file": str(spec.pid_file(paths)),
            "log": str(spec.log(paths)),
        }
    return {
        "target": target.name,
        "dir": str(paths.dir),
        "all_alive": all(p["alive"] for p in processes.values()),
        "processes": processes,
        "store": str(paths.store_root),
        "download_url": target.store.download_url,
        "ca_bundle": str(paths.ca_bundle),
        "reconciler_config": str(paths.reconciler_config),
        "status_file": str(paths.status_file),
        # The VM side's build as vm.install made it current here; None: the workstation's venv runs it.
        "vm_build": installed[0] if (installed := installed_python(paths)) is not None else None,
    }
