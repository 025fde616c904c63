"""The one ordered table of checks (``ROWS``) and the two readers of it: the dry run and the real run.

Rules:
- One order fits every stage: preflight's first rows (credentials, inbox, server health), then
  ``reachable`` and what verify and staging.validate ask of a channel, ``grpc``, then preflight's
  VM, store, secret, signing and archive rows.
- ``rows_for(subject)``: the rows of the subject's stage the target has, in table order; ``listed``
  their result names (what a dry run shows); ``run`` asks them (what the real run shows), each
  result named as listed; ``plans`` the calls a dry run names instead of making.
- ``reachable`` asks every endpoint the stage's rows read (their ``needs``) whether it answers
  at all; a row that needs a silent one is skipped naming it, so one cause is one failed row.
"""

from __future__ import annotations

from release.errors import ReleaseError
from release.outside.probes import down_fix
from release.steps.checks import beta, checklist, served, shared
from release.steps.checks.row import Row, check, skipped
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from schemas import CheckResult

__all__ = ["ROWS", "listed", "plans", "rows_for", "run"]

_CHANNEL = frozenset({Stage.STABLE, Stage.BETA})  # verify: what a channel serves
_STAGING = frozenset({Stage.STAGING})
_SERVED = _CHANNEL | _STAGING  # what the feeds serve: verify and staging.validate
_PREFLIGHT = frozenset({Stage.PREFLIGHT, Stage.PUBLISH})  # publish's own preflight: no VM rows
_SIDES: tuple[beta.Side, ...] = ("production", "staging")


def _every(subject: Subject) -> tuple[str, ...]:
    """Every endpoint some row of the subject's stage reads, in table order (what ``reachable`` asks)."""
    urls: list[str] = []
    for row in rows_for(subject):
        urls += [url for url in row.needs(subject) if url not in urls]
    return tuple(urls)


def _reachable(subject: Subject) -> CheckResult:
    silent = subject.reach.silent(_every(subject))
    if not silent:
        reader = "validation reads" if subject.stage is Stage.STAGING else "the checks read"
        return check("reachable", True, f"every endpoint {reader} answers")
    return check("reachable", False, f"{', '.join(silent)} did not answer: {down_fix(subject.target)}")


def _both(subject: Subject) -> tuple[str, ...]:
    return served.feed(subject) + served.downloads(subject)


# Every check of every stage, in the one order they are shown. The beta channel has no versioned
# pair in the repo, so verify beta has no "repo pair" row.
ROWS: tuple[Row, ...] = (
    Row("credentials", checklist.credentials, _PREFLIGHT),
    Row("inbox artifacts", checklist.inbox, _PREFLIGHT),
    Row("server health", checklist.server_health, _PREFLIGHT),
    Row("reachable", _reachable, _SERVED),
    Row("assets", served.assets, _CHANNEL, needs=served.downloads),
    Row("fixed URL", served.fixed_url, _CHANNEL),
    Row("repo pair", served.repo_pair, frozenset({Stage.STABLE})),
    Row("VM pair", served.vm_pair, _CHANNEL),
    Row("/health", served.health, _CHANNEL, needs=served.feed),
    Row("/updates/health", served.updates_health, _CHANNEL, needs=served.feed),
    Row("appcast", served.appcast, _CHANNEL, needs=served.feed),
    Row("beta gate", served.gate, _CHANNEL, needs=served.beta_feed),
    Row("beta appcast", beta.appcast, _STAGING, needs=beta.staging),
    Row("staging /health", beta.health, _STAGING, needs=beta.staging),
    Row("staging /updates/health", beta.updates_health, _STAGING, needs=beta.staging),
    Row(
        "downloads",
        beta.downloads,
        _STAGING,
        needs=beta.fetched,
        cause=beta.fetched_cause,
        names=beta.download_names,
    ),
    Row("signature", shared.signature, _CHANNEL, needs=_both),
    Row("signature", shared.signature, _STAGING, needs=beta.fetched, cause=beta.fetched_cause),
    Row("update controls", served.controls, _CHANNEL, needs=served.feed),
    *(
        Row(
            f"TLS {side}",
            beta.tls(side),
            _STAGING,
            needs=beta.tls_needs(side),
            applies=beta.tls_applies(side),
        )
        for side in _SIDES
    ),
    Row("grpc", shared.grpc, _PREFLIGHT | _SERVED, needs=shared.grpc_needs, plan=shared.grpc_plan),
    Row("VM", checklist.vm, frozenset({Stage.PREFLIGHT}), names=lambda _s: checklist.VM_ROWS),
    Row("fixed releases", checklist.fixed_releases, _PREFLIGHT),
    Row("secret scan", checklist.secrets, _PREFLIGHT),
    Row("signing key", checklist.signing_key, _PREFLIGHT),
    Row("archives", checklist.archives, _PREFLIGHT),
)


def rows_for(subject: Subject) -> list[Row]:
    """The rows asked on the subject's stage that its target has, in table order."""
    return [row for row in ROWS if subject.stage in row.stages and row.applies(subject)]


def listed(subject: Subject) -> list[str]:
    """The names a run of the subject's stage shows, in order: what the dry run lists."""
    return [name for row in rows_for(subject) for name in row.listed(subject)]


def plans(subject: Subject) -> dict[str, str]:
    """The calls out of the house a dry run names instead of making, by row name."""
    rows = rows_for(subject)
    return {row.name: row.plan(subject).line for row in rows if row.plan is not None}


def _named(row: Row, subject: Subject, answer: CheckResult | list[CheckResult]) -> list[CheckResult]:
    if isinstance(answer, CheckResult):
        return [answer.model_copy(update={"name": row.name})]
    if row.names is None:
        return answer  # preflight's archive rows: named by what the archives hold
    return [
        result.model_copy(update={"name": name})
        for result, name in zip(answer, row.names(subject), strict=True)
    ]


def _ask(row: Row, subject: Subject) -> list[CheckResult]:
    """One row: skipped naming its cause; a ReleaseError is its detail, not an exit. A row with a
    ``plan`` run under ``--dry-run`` (preflight's dry run is its real run) names its call instead."""
    if row.plan is not None and subject.session.dry_run:
        plan = row.plan(subject)
        subject.session.say(f"plan: {plan.line}")
        return [check(row.name, plan.ok, f"not called (dry run): {plan.line}")]
    cause = row.why_skipped(subject)
    if cause:
        return [skipped(name, cause) for name in row.listed(subject)]
    try:
        answer = row.run(subject)
    except ReleaseError as exc:
        return [check(name, False, str(exc)) for name in row.listed(subject)]
    return _named(row, subject, answer)


def run(subject: Subject) -> list[CheckResult]:
    """Every row of the subject's stage asked, in order: each result carries its listed name, so the
    real run shows the dry run's list by construction. Downloads made on the way are removed."""
    with subject:
        return [result for row in rows_for(subject) for result in _ask(row, subject)]
