"""The rows several stages ask (``release.steps.checks``): ``signature`` and ``grpc``.

Rules:
- ``grpc`` asks ``grpc.health.v1.Health/Check`` (``release.outside.grpcsmoke``) of the production
  endpoint for preflight and verify stable, of the staging one for staging.validate and verify
  beta; a dry run names the call instead (``plan``).
- ``signature``: the bytes served at the public URLs verify against the app's ``SUPublicEDKey``
  (``release.steps.served_signature``); staging.validate checks the files its download rows fetched.
"""

from __future__ import annotations

from typing import Literal

from release.outside.grpcsmoke import check_row, endpoint_of, plan_line
from release.steps.checks.row import Plan
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from release.steps.served_signature import signature_row
from schemas import CheckResult

__all__ = ["grpc", "grpc_needs", "grpc_plan", "signature"]

_PRODUCTION = frozenset({Stage.PREFLIGHT, Stage.PUBLISH, Stage.STABLE})


def _side(subject: Subject) -> Literal["production", "staging"]:
    return "production" if subject.stage in _PRODUCTION else "staging"


def grpc(subject: Subject) -> CheckResult:
    return check_row(subject.target, _side(subject))


def grpc_needs(subject: Subject) -> tuple[str, ...]:
    """The endpoint, for ``reachable`` and the skip; preflight has no ``reachable`` row, so there
    the row is always asked and names a silent endpoint itself."""
    if subject.stage in (Stage.PREFLIGHT, Stage.PUBLISH):
        return ()
    endpoint = endpoint_of(subject.target, _side(subject))
    return () if endpoint is None else (endpoint.endpoint,)


def grpc_plan(subject: Subject) -> Plan:
    side = _side(subject)
    return Plan(plan_line(subject.target, side), endpoint_of(subject.target, side) is not None)


def signature(subject: Subject) -> CheckResult:
    files = subject.files if subject.stage is Stage.STAGING else None
    return signature_row(subject.session, subject.manifest, subject.feed, files)
