"""``nexy-feed``: run the update feed server.

Rules:
- Bad input (a missing root, half a TLS pair, an unreadable certificate, a bad host or port) is one
  line on stderr and exit 2 (``schemas.ExitCode.BAD_INPUT``), before anything listens. A listen
  failure (port taken) is uvicorn's logged error and its startup-failure exit status 3
  (``ExitCode.STARTUP_FAILED``); a server that never started for another reason exits 1.
- Before anything listens, the uvicorn, uvloop and asyncio internals the limits layer uses are
  checked (``feed.internals``): one ``nexy-feed: error:`` line per missing one, exit 3.
- The log is ``schemas.daemonlog``'s JSON lines on stderr, uvicorn's records included.
- Runtime files are located exactly as ``schemas.RuntimeLayout`` says, with the same overrides the
  reconciler takes. TLS is on when a certificate is given, whatever the port (docs/rules.md#r10).
- uvloop and httptools, no access log: the feed answers thousands of polls a second.
- It faces the internet: every limit of :class:`feed.limits.Limits` is an option with a safe
  default; a bad value is exit 2. The descriptor soft limit is raised (up to the hard limit) to fit
  ``--max-connections``; when the hard limit is lower, the cap is lowered to fit, with a warning.
- SIGTERM/SIGINT stop cleanly with exit 0; SIGHUP forces a reload.
- Metrics (``feed.metrics``) are off unless ``--metrics-port`` is given, and listen only on a
  loopback address: any other ``--metrics-host`` is refused with one line, exit 2. A metrics port
  that cannot be bound is one line and exit 2 too, before the feed listens.
- ``--pid-file`` is written (atomically: ``{"pid": N}``) only once the server listens and its SIGHUP
  handler is installed, and removed before that handler goes: whoever finds it may send SIGHUP
  without killing the feed, on any system (no procfs needed to ask whether SIGHUP is caught).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import logging
import os
import re
import resource
import signal
import socket
import ssl
import sys
from pathlib import Path
from typing import NoReturn

import uvicorn

from schemas import ExitCode, RuntimeLayout, atomic_write, dump_json
from schemas.daemonlog import setup_logging

from .app import PAYLOAD_ROUTES, create_app
from .internals import missing_internals
from .limits import DESCRIPTOR_RESERVE, Limits, descriptor_limit
from .metrics import DEFAULT_MAX_VERSIONS, FeedMetrics, serve_metrics
from .server import FeedServer
from .service import FeedService

__all__ = ["main", "parse_args"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# RFC 1123 host names; an all-digit last label is a mistyped address, never a name to look up.
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]*[A-Za-z-][A-Za-z0-9-]*"
)


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nexy-feed", description="Serve Sparkle appcasts and health from the runtime files."
    )
    parser.add_argument(
        "--root", type=Path, required=True, help="the app's runtime tree; the layout paths are relative to it"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the IP address or host name to listen on (default %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="the TCP port to listen on, 1-65535; TLS follows --certfile, never the port (default %(default)s)",
    )
    parser.add_argument("--certfile", type=Path, help="TLS certificate chain (PEM); needs --keyfile")
    parser.add_argument("--keyfile", type=Path, help="TLS private key (PEM); needs --certfile")
    parser.add_argument("--assets-dir", type=Path, help="serve <dir>/<tag>/<name> at /releases/download/")
    parser.add_argument("--title", help="appcast title (default: update.appcast_title, else 'Nexy Updates')")
    parser.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=LOG_LEVELS,
        help="the least severe log line written, in any letter case; there is no access log (default %(default)s)",
    )
    parser.add_argument(
        "--resync-seconds",
        type=float,
        default=60.0,
        help="re-read every runtime file this often, catching what file events missed (default %(default)s)",
    )
    parser.add_argument(
        "--pid-file", type=Path, help="written once serving with SIGHUP handled; removed on exit"
    )
    _add_limit_args(parser)
    _add_metrics_args(parser)
    for name in ("manifests_dir", "unified_config", "legacy_manifest", "config_env"):
        default = RuntimeLayout.model_fields[name].default
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=Path,
            default=default,
            help=f"{_LAYOUT_HELP[name]}; relative to --root unless absolute (default %(default)s)",
        )
    return parser


# What the feed does with each runtime path (RuntimeLayout describes them for the reconciler).
_LAYOUT_HELP = {
    "manifests_dir": "the runtime manifests: manifest.json, manifest_<version>.json, manifest_beta.json",
    "unified_config": "the app's config: update.default_version/default_build decide the stable item",
    "legacy_manifest": "the legacy manifest copy: taken as the reconciler takes it, never read by the feed",
    "config_env": "the app's env file: UPDATE_BETA_ENABLED=true opens the beta appcast",
}

_LIMIT_HELP = {
    "max_request_line": "bytes in the request target; more is 414",
    "max_header_bytes": "bytes in a request head; more is 431",
    "max_headers": "header fields in a request; more is 431",
    "header_timeout": "seconds to receive a whole request head (idle new connections too)",
    "keep_alive_timeout": "seconds an idle keep-alive connection stays open",
    "tls_handshake_timeout": "seconds a TLS client has to finish its handshake",
    "max_body_bytes": "largest request body accepted; more is 413",
    "max_connections": "concurrent connections; more are closed at once",
}


def _add_limit_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (the defaults are the production settings)")
    for name, field in Limits.__dataclass_fields__.items():
        default = field.default
        group.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"{_LIMIT_HELP[name]} (default %(default)s)",
        )


def _add_metrics_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("metrics (Prometheus, off by default)")
    group.add_argument(
        "--metrics-port",
        type=int,
        help="serve http://<metrics-host>:<port>/metrics; without it no metrics are counted or served",
    )
    group.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="the loopback address of the metrics endpoint; any other is refused (default %(default)s)",
    )
    group.add_argument(
        "--metrics-max-versions",
        type=int,
        default=DEFAULT_MAX_VERSIONS,
        help="distinct client and OS versions labelled; later ones count as 'other' (default %(default)s)",
    )


def _check_metrics(args: argparse.Namespace) -> None:
    try:
        loopback = ipaddress.ip_address(args.metrics_host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"--metrics-host {args.metrics_host} is not a loopback IP address: the metrics endpoint is never exposed"
        )
    if args.metrics_port is not None and not 1 <= args.metrics_port <= 65535:
        raise UsageError(f"--metrics-port {args.metrics_port} is outside 1-65535")
    if args.metrics_port is not None and args.metrics_port == args.port:
        raise UsageError("--metrics-port must differ from --port")
    if not 1 <= args.metrics_max_versions <= 10000:
        raise UsageError("--metrics-max-versions must be within 1-10000")


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(**{name: getattr(args, name) for name in Limits.__dataclass_fields__})


def _fit_descriptors(limits: Limits) -> Limits:
    """Raise the soft RLIMIT_NOFILE to fit the cap, or lower the cap to fit the hard limit."""
    wanted = limits.max_connections + DESCRIPTOR_RESERVE
    if descriptor_limit() < wanted:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    available = descriptor_limit() - DESCRIPTOR_RESERVE
    if available < limits.max_connections:
        logging.getLogger("nexy.feed").warning(
            "descriptor limit %d: --max-connections lowered from %d to %d (raise LimitNOFILE)",
            descriptor_limit(),
            limits.max_connections,
            max(available, 1),
        )
        return dataclasses.replace(limits, max_connections=max(available, 1))
    return limits


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(host):
        raise UsageError(f"--host {host!r} is neither an IP address nor a host name")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from exc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the arguments; raise UsageError with a one-line reason."""
    args = _build_parser().parse_args(argv)
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root} is not a directory")
    args.root = args.root.resolve()
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is outside 1-65535")
    _check_host(args.host)
    if (args.certfile is None) != (args.keyfile is None):
        raise UsageError("--certfile and --keyfile go together: give both or neither")
    if args.certfile is not None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load the TLS certificate/key: {exc}") from exc
    if args.assets_dir is not None and not args.assets_dir.is_dir():
        raise UsageError(f"--assets-dir {args.assets_dir} is not a directory")
    if args.resync_seconds <= 0:
        raise UsageError("--resync-seconds must be positive")
    _check_metrics(args)
    problems = limits_from(args).problems()
    if problems:
        raise UsageError("; ".join(problems))
    return args


def _layout(args: argparse.Namespace) -> RuntimeLayout:
    return RuntimeLayout(
        root=args.root,
        manifests_dir=args.manifests_dir,
        unified_config=args.unified_config,
        legacy_manifest=args.legacy_manifest,
        config_env=args.config_env,
    )


class _PidFileServer(FeedServer):
    """Announces the pid only while SIGHUP is handled (the lifespan installs the handler first)."""

    def __init__(
        self,
        config: uvicorn.Config,
        pid_file: Path | None,
        *,
        limits: Limits,
        service: FeedService,
        metrics: FeedMetrics | None = None,
    ) -> None:
        super().__init__(config, limits=limits, service=service, metrics=metrics)
        self.pid_file = pid_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # SIG_DFL would mean no handler (the lifespan could not install one): SIGHUP would kill us.
        handled = signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        if self.started and handled and self.pid_file is not None:
            atomic_write(self.pid_file, dump_json({"pid": os.getpid()}))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.pid_file is not None:
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
        await super().shutdown(sockets=sockets)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"nexy-feed: error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    missing = missing_internals()
    if missing:
        for line in missing:
            print(f"nexy-feed: error: {line}", file=sys.stderr)
        return ExitCode.STARTUP_FAILED
    setup_logging(args.log_level)
    limits = _fit_descriptors(limits_from(args))
    service = FeedService(_layout(args), title=args.title)
    metrics = None
    if args.metrics_port is not None:
        metrics = FeedMetrics(PAYLOAD_ROUTES, max_versions=args.metrics_max_versions)
        try:
            serve_metrics(metrics, args.metrics_host, args.metrics_port)
        except OSError as exc:
            print(
                f"nexy-feed: error: --metrics-port {args.metrics_port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return ExitCode.BAD_INPUT
    app = create_app(service, assets_dir=args.assets_dir, resync_seconds=args.resync_seconds, metrics=metrics)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=str(args.certfile) if args.certfile else None,
        ssl_keyfile=str(args.keyfile) if args.keyfile else None,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=limits.keep_alive_timeout,
        ws="none",
    )
    server = _PidFileServer(config, args.pid_file, limits=limits, service=service, metrics=metrics)
    # uvicorn re-raises the stop signal after a graceful shutdown; a no-op handler turns that into
    # a clean exit 0 instead of death by signal.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    server.run()
    return ExitCode.OK if server.started else ExitCode.CHECK_FAILED
