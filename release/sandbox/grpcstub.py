"""The sandbox's gRPC stand-in for the app server: grpc's standard health service on one loopback port.

Run as its own process: ``python -m release.sandbox.grpcstub --host 127.0.0.1 --port N
[--certfile F --keyfile K] [--status-file S] [--service NAME ...] [--no-health]``.

Rules:
- TLS exactly when a certificate is given (the sandbox passes one when the target marks the
  endpoint ``tls: true``); without one it serves plain text, so a test can put plain text on a
  TLS-marked port. Only a loopback host is accepted.
- The health service is grpcio-health-checking's own ``HealthServicer`` (the reference
  implementation of grpc/grpc doc/health-checking.md), SERVING for the whole server ("") and for
  every ``--service``. ``--no-health`` registers no service at all, so Check answers UNIMPLEMENTED.
- ``--status-file``: while that file holds a ServingStatus name (``NOT_SERVING``, ``SERVING``,
  ``UNKNOWN``), every service reports it; a missing or empty file means SERVING. It is read a few
  times a second, so a test flips the answer without restarting the process.
- The port is bound exclusively (``grpc.so_reuseport`` off): a second server on the same port
  fails to start instead of sharing the connections.
- SIGTERM or SIGINT stops it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType

from schemas import ExitCode
from schemas.loopback import is_loopback

__all__ = ["main"]

POLL_S = 0.2
STATUSES = ("SERVING", "NOT_SERVING", "UNKNOWN")


def _wanted(status_file: Path | None) -> str:
    if status_file is None:
        return "SERVING"
    try:
        text = status_file.read_text(encoding="utf-8").strip().upper()
    except OSError:
        return "SERVING"
    return text if text in STATUSES else "SERVING"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m release.sandbox.grpcstub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certfile", type=Path)
    parser.add_argument("--keyfile", type=Path)
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--service", action="append", default=[])
    parser.add_argument("--no-health", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not is_loopback(args.host):
        print(f"grpcstub: --host {args.host} is not a loopback address", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if (args.certfile is None) != (args.keyfile is None):
        print("grpcstub: --certfile and --keyfile go together", file=sys.stderr)
        return ExitCode.BAD_INPUT
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    servicer = None
    if not args.no_health:
        servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"{args.host}:{args.port}"
    try:
        if args.certfile is not None:
            pair = (args.keyfile.read_bytes(), args.certfile.read_bytes())
            server.add_secure_port(address, grpc.ssl_server_credentials([pair]))
        else:
            server.add_insecure_port(address)
    except (OSError, RuntimeError) as exc:
        print(f"grpcstub: cannot serve on {address}: {exc}", file=sys.stderr)
        return ExitCode.CHECK_FAILED
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    shown = ""
    transport = "TLS" if args.certfile is not None else "plain text"
    while not stop.is_set():
        wanted = _wanted(args.status_file)
        if servicer is not None and wanted != shown:
            value = health_pb2.HealthCheckResponse.ServingStatus.Value(wanted)
            for name in ("", *args.service):
                servicer.set(name, value)
            print(f"grpcstub: health {wanted}", flush=True)
        if not shown:
            # Started only once the status is set, so the first answer is already the one asked for.
            server.start()
            health_on = "off" if servicer is None else "on"
            print(f"grpcstub: serving {address} ({transport}), health {health_on}", flush=True)
        shown = wanted
        stop.wait(POLL_S)
    server.stop(grace=1.0).wait()
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
