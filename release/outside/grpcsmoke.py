"""The gRPC smoke: ``grpc.health.v1.Health/Check`` on the production and staging gRPC endpoints.

Rules:
- TLS is the target's ``tls`` flag for that endpoint, never the port number (the rulebook's old
  smoke script did TLS only on 443, so staging on :4443 could not be checked).
- A TLS channel trusts the target's ``ca_bundle`` when it names one; otherwise the operating
  system's store where the OS keeps it as one PEM file (``ssl.get_default_verify_paths()``: Linux's
  ``ca-certificates``, Homebrew's OpenSSL on a Mac), and grpcio's bundled Mozilla roots where it
  does not (a python.org Python on macOS: the keychain has no file, and grpc cannot read it). The
  host name is always checked: no ``ssl_target_name_override``. For an IP endpoint the certificate
  must carry that IP address as a SAN.
- Outcomes, from the health protocol (grpc/grpc doc/health-checking.md): SERVING passes;
  NOT_SERVING, UNKNOWN and SERVICE_UNKNOWN fail; UNIMPLEMENTED passes with a note (the server
  answered gRPC, on the transport the target states, but has no health service); NOT_FOUND (the
  service name is unknown to the server) and every TLS or transport error fail, as one line that
  names the endpoint and the cause.
- One deadline per call (``grpc.deadline_s``). A check returns a verdict and never raises for the
  endpoint's fault, so a table shows every failure at once.
- grpc is imported only here and only when a check runs, after ``GRPC_VERBOSITY`` defaults to
  ERROR: the C core would otherwise log every failed handshake to stderr, around our one line.
  The variable is left alone when grpc was imported already (it would have no effect) or is set.
"""

from __future__ import annotations

import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

from schemas import CheckResult, Target
from schemas.target import GrpcEndpoint

__all__ = ["GrpcOutcome", "check_row", "endpoint_of", "health_check", "plan_line"]

Which = Literal["production", "staging"]

# The transport cause behind UNAVAILABLE, as grpc's C core words it, and what it means here.
_HINTS = (
    ("WRONG_VERSION_NUMBER", True, "the port answered without TLS: does it serve plain text?"),
    ("CERTIFICATE_VERIFY_FAILED", True, "its certificate is not trusted by {trust}"),
    ("Hostname Verification", True, "its certificate does not name {host}"),
    ("Socket closed", False, "the port closed a plain-text connection: does it expect TLS?"),
    ("Connection refused", None, "nothing listens there"),
)


@dataclass(frozen=True)
class GrpcOutcome:
    ok: bool
    status: str  # a ServingStatus name, or the RPC status code name of a failed call
    detail: str


def _grpc() -> tuple[ModuleType, ModuleType, ModuleType]:
    # grpc has no Python API for its log level: the C core reads GRPC_VERBOSITY once, when grpc is
    # first imported (grpc/grpc TROUBLESHOOTING.md, src/core/util/log.cc). So it is set only before
    # that import, and only as a default that an operator's own value (say DEBUG) overrides.
    if "grpc" not in sys.modules:
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    return grpc, health_pb2, health_pb2_grpc


def _label(endpoint: str, tls: bool) -> str:
    return f"{endpoint} ({'TLS' if tls else 'plain text'})"


def system_roots() -> tuple[bytes | None, str]:
    """(PEM roots, where from): the OS store's file when there is one, else grpcio's own roots."""
    paths = ssl.get_default_verify_paths()
    for candidate in dict.fromkeys((paths.cafile, paths.openssl_cafile)):
        if candidate and os.path.isfile(candidate):
            try:
                return Path(candidate).read_bytes(), f"the system store ({candidate})"
            except OSError:
                continue
    return None, "grpcio's bundled roots"


def _cause(details: str, endpoint: str, tls: bool, trust: str) -> str:
    host = endpoint.rsplit(":", 1)[0]
    for marker, when_tls, hint in _HINTS:
        if marker in details and when_tls in (None, tls):
            return hint.format(host=host, trust=trust)
    return ""


def health_check(
    endpoint: str, tls: bool, *, ca_bundle: Path | None = None, service: str = "", deadline_s: float = 5.0
) -> GrpcOutcome:
    """One ``Health/Check`` on ``endpoint`` (``host:port``) over TLS or plain text as told."""
    label = _label(endpoint, tls)
    roots: bytes | None = None
    trust = str(ca_bundle)
    if tls and ca_bundle is not None:
        try:
            roots = ca_bundle.read_bytes()
        except OSError as exc:
            return GrpcOutcome(
                False, "CA_BUNDLE", f"{label}: cannot read ca_bundle {ca_bundle}: {exc.strerror}"
            )
    elif tls:
        roots, trust = system_roots()
    grpc, health_pb2, health_pb2_grpc = _grpc()
    channel = (
        grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(root_certificates=roots))
        if tls
        else grpc.insecure_channel(endpoint)
    )
    asked = f"service {service!r}" if service else "the server"
    try:
        with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline_s)
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = " ".join(str(error.details() if isinstance(error, grpc.Call) else error).split())
        if code is grpc.StatusCode.UNIMPLEMENTED:
            return GrpcOutcome(
                True, code.name, f"{label}: answered gRPC, but has no health service (UNIMPLEMENTED)"
            )
        if code is grpc.StatusCode.NOT_FOUND:
            return GrpcOutcome(False, code.name, f"{label}: the health service does not know {asked}")
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return GrpcOutcome(False, code.name, f"{label}: no answer within {deadline_s:g}s")
        cause = _cause(details, endpoint, tls, trust)
        shown = f"{cause} ({details})" if cause else details
        return GrpcOutcome(False, code.name, f"{label}: {code.name}: {shown}")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return GrpcOutcome(status == "SERVING", status, f"{label}: {asked} is {status}")


def endpoint_of(target: Target, which: Which) -> GrpcEndpoint | None:
    return None if target.grpc is None else getattr(target.grpc, which)


def plan_line(target: Target, which: Which) -> str:
    """What a dry run says the check would call."""
    endpoint = endpoint_of(target, which)
    if target.grpc is None or endpoint is None:
        return f"grpc {which}: the target names no grpc block (the check fails until it does)"
    service = f"service {target.grpc.service!r}" if target.grpc.service else "the whole server"
    return (
        f"grpc {which}: grpc.health.v1.Health/Check ({service}) on {_label(endpoint.endpoint, endpoint.tls)}, "
        f"deadline {target.grpc.deadline_s:g}s"
    )


def check_row(target: Target, which: Which) -> CheckResult:
    """The ``grpc`` row of a check table for the target's ``which`` endpoint."""
    endpoint = endpoint_of(target, which)
    if target.grpc is None or endpoint is None:
        return CheckResult(name="grpc", ok=False, detail=f"the target names no grpc block ({which} endpoint)")
    ca_bundle = target.path(target.ca_bundle) if target.ca_bundle else None
    outcome = health_check(
        endpoint.endpoint,
        endpoint.tls,
        ca_bundle=ca_bundle,
        service=target.grpc.service,
        deadline_s=target.grpc.deadline_s,
    )
    return CheckResult(name="grpc", ok=outcome.ok, detail=f"{which} {outcome.detail}"[:300])
