"""``verify [--channel stable|beta]``: the definition of done (docs/rules.md#r9) as a table.

Rules:
- Every item runs, so one run names every failure (exit 1), each as its own row, and the table is
  printed whatever is down. The first row, ``reachable``, asks every endpoint the other rows read
  (feeds, asset downloads, gRPC) whether it answers at all; a row that needs a silent one is
  skipped, naming it, so one cause is one failed row, and the ``reachable`` row says what to do
  (``./inv sandbox.up`` on the sandbox; the silent URLs in production). A ReleaseError inside a row
  (a store or VM that cannot be asked) is that row's detail, never an exit without the table.
- Rows: assets present in the fixed releases with the manifest's size and sha256
  (``release.steps.stored``: the store's metadata, with expected and found sha256 and the fix on a
  mismatch; then the bytes served at the public URLs hashed);
  the manifest points at the fixed URLs; the repo's pair ``manifest.json`` /
  ``manifest_<version>.json`` is identical; the VM's pair is identical and in sync (``reconciler
  status`` and ``reconciler diff``); ``/health``, ``/updates/health`` and ``/updates/appcast.xml``
  agree on the version (``/updates/health`` serves the manifest: ``FeedHealth.serves``, version and
  dmg sha256); the beta feed is gated as desired; ``signature``: the bytes served at the
  public URLs verify against the app's ``SUPublicEDKey`` (``release.steps.served_signature``);
  ``update controls``: the served item carries the manifest's controls, link and dates;
  ``grpc``: the channel's gRPC endpoint (production for stable, staging for beta) answers
  ``grpc.health.v1.Health/Check``.
- For ``--channel beta`` the same questions are asked of the beta release and the staging feed
  (no repo pair: beta has no versioned manifest; ``appcast`` reads ``appcast-beta.xml``, which
  answers only while the gate is open).
- Read-only: ``--dry-run`` only lists the checks.
- The checks are one ordered table, ``CHECKS``: a row's name, the function that answers it, the
  channels it applies to and the endpoints it reads. The dry run lists it and the real run runs it, so adding a check is one
  entry (and its function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from release.errors import ReleaseError
from release.outside.grpcsmoke import check_row as grpc_row
from release.outside.grpcsmoke import endpoint_of
from release.outside.grpcsmoke import plan_line as grpc_plan
from release.outside.probes import Reach, down_fix, fetch_appcast, get_health
from release.parts.client_view import offered_release
from release.parts.controls import describe_manifest, served_controls
from release.parts.desired import read_beta, read_gate, read_stable, read_versioned
from release.parts.session import Session
from release.steps.flow import appcast_url
from release.steps.served_signature import Feed, signature_row
from release.steps.stored import fix, short, stored
from schemas import Channel, CheckResult, FeedHealth, Manifest, ResourceName, ServerHealth, Target

__all__ = ["CHECKS", "Check", "Subject", "checks_for", "verify"]


@dataclass
class Subject:
    """What every check of one run reads: the session, the channel's manifest, the served appcast."""

    session: Session
    manifest: Manifest
    channel: Channel

    @cached_property
    def reach(self) -> Reach:
        """Which endpoints answer, each asked once per run."""
        return Reach(self.session.http)

    @cached_property
    def feed(self) -> Feed:
        """The channel's appcast, fetched once for every row that reads it."""
        return fetch_appcast(self.session.http, appcast_url(self.session.target, self.channel))


def _none(_target: Target, _channel: Channel) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Check:
    """One row of the table: its name, the function that answers it, the channels it is asked on,
    and the endpoints it reads (``needs``): while one of them does not answer, the row is skipped,
    because the ``reachable`` row already says so (one cause, one row)."""

    name: str
    run: Callable[[Subject], CheckResult]
    channels: tuple[Channel, ...] = (Channel.STABLE, Channel.BETA)
    needs: Callable[[Target, Channel], tuple[str, ...]] = _none


def _c(name: str, ok: bool, detail: str) -> CheckResult:
    return CheckResult(name=name, ok=ok, detail=detail[:300])


def _assets(session: Session, manifest: Manifest, channel: Channel) -> CheckResult:
    tags = session.target.channels.tags(channel)
    held = stored(session, channel, manifest)
    problems = [asset.describe() for asset in held if not asset.ok]
    if problems:
        problems.append(f"fix: {fix(channel, manifest.version)}")
    else:
        # The store's metadata agrees; now the bytes clients really download (a CDN may lag behind).
        for asset in held:
            if not session.store.verify(
                asset.tag, asset.want.name, sha256=asset.want.sha256, size=asset.want.size
            ):
                url = session.target.download_url(asset.tag, asset.want.name)
                problems.append(f"{url} does not serve the manifest's sha256 {short(asset.want.sha256)}")
    return _c(
        "assets",
        not problems,
        "; ".join(problems) or f"{tags.dmg_tag}, {tags.pkg_tag}: size and sha256 match",
    )


def _fixed_url(session: Session, manifest: Manifest, channel: Channel) -> CheckResult:
    target = session.target
    if channel is Channel.STABLE:
        want = (str(target.release_target.update.dmg_url), str(target.release_target.update.pkg_url))
    else:
        tags = target.channels.beta
        want = (
            target.download_url(tags.dmg_tag, target.dmg_name),
            target.download_url(tags.pkg_tag, target.pkg_name),
        )
    have = (str(manifest.artifact.url), str(manifest.installer.url))
    wrong = [f"{h} is not {w}" for h, w in zip(have, want, strict=True) if h != w]
    # The URLs are the target's own; naming the assets keeps the row readable at 80 columns.
    named = ", ".join("/".join(url.rsplit("/", 2)[-2:]) for url in have)
    return _c("fixed URL", not wrong, "; ".join(wrong) or f"{named}: the target's fixed URLs")


def _repo_pair(session: Session, manifest: Manifest) -> CheckResult:
    versioned = read_versioned(session.target, manifest.version)
    if versioned is None:
        return _c("repo pair", False, f"manifest_{manifest.version}.json missing")
    same = versioned == manifest
    return _c("repo pair", same, "identical" if same else f"manifest_{manifest.version}.json differs")


def _vm(session: Session, manifest: Manifest, channel: Channel) -> CheckResult:
    name = ResourceName.STABLE if channel is Channel.STABLE else ResourceName.BETA
    try:
        status = session.remote.status()
        plan = session.remote.diff()
    except ReleaseError as exc:
        return _c("VM pair", False, str(exc))
    problems = []
    runtime = status.stable_version if channel is Channel.STABLE else status.beta_version
    if runtime != manifest.version:
        problems.append(f"VM {name} is {runtime}")
    if status.desired_digest and status.desired_digest != _digest(session):
        problems.append("VM desired state is not the repo's (run sync)")
    drifted = plan.unsettled()
    if drifted:
        problems.append(f"drift in {', '.join(drifted)}")
    state = status.resources.get(name)
    if state is not None and not state.sync.settled:
        problems.append(f"{name} {state.sync} {state.detail}".strip())
    return _c(
        "VM pair",
        not problems,
        "; ".join(problems) or f"{manifest.version}: runtime files identical, no drift",
    )


def _digest(session: Session) -> str:
    from release.parts.desired import to_bundle

    return to_bundle(session.target).digest()


def _base(subject: Subject) -> str:
    return str(subject.session.target.endpoint(subject.channel).url).rstrip("/")


def _health(subject: Subject) -> CheckResult:
    manifest, channel = subject.manifest, subject.channel
    health, detail = get_health(subject.session.http, f"{_base(subject)}/health", ServerHealth)
    if health is None:
        return _c("/health", False, detail)
    # On production all three agree on the version (docs/rules.md#r9); /health names stable only.
    ok = channel is not Channel.STABLE or health.version == manifest.version
    return _c("/health", ok, f"status {health.status}, version {health.version}")


def _updates_health(subject: Subject) -> CheckResult:
    manifest, channel = subject.manifest, subject.channel
    updates, detail = get_health(subject.session.http, f"{_base(subject)}/updates/health", FeedHealth)
    if updates is None:
        return _c("/updates/health", False, detail)
    ok = updates.serves(channel, manifest)
    if channel is Channel.STABLE:
        # "degraded" means the VM's pair or config disagree (docs/rules.md#r7)
        ok = ok and updates.status == "ok"
    served = updates.release(channel)
    shown = f"{channel.value} {served.version} build {served.build}" if served else f"{channel.value} none"
    if served and served.sha256 != manifest.artifact.sha256:
        shown += f", sha256 {served.sha256[:12]}… not the manifest's {manifest.artifact.sha256[:12]}…"
    reason = f" ({updates.reason})" if updates.reason else ""
    return _c("/updates/health", ok, f"{shown}, {updates.status}{reason}")


def _appcast(subject: Subject) -> CheckResult:
    session, manifest, channel = subject.session, subject.manifest, subject.channel
    _, items, detail = subject.feed
    # Judged as a Sparkle client chooses (release/parts/client_view.py), not by the feed's first item.
    item, shown = offered_release(session.target, manifest, items) if detail == "ok" else (None, detail)
    ok = item is not None and item.short_version == manifest.version and item.length == manifest.artifact.size
    if item is not None and not ok:
        shown += f", but as {item.short_version} with length {item.length}, not {manifest.artifact.size}"
    name = appcast_url(session.target, channel).rsplit("/", 1)[-1]
    return _c("appcast", ok, f"{name}: {shown}")


def _gate(session: Session) -> CheckResult:
    gate = read_gate(session.target)
    want_open = gate is not None and gate.enabled
    code, _, detail = fetch_appcast(session.http, appcast_url(session.target, Channel.BETA))
    ok = code == (200 if want_open else 404)
    return _c(
        "beta gate",
        ok,
        f"desired {'open' if want_open else 'closed'}, appcast-beta.xml answers {code or detail}",
    )


def _controls(manifest: Manifest, feed: Feed) -> CheckResult:
    _, items, detail = feed
    found = served_controls(items, manifest.build)
    want = describe_manifest(manifest)
    if found is None:
        return _c("update controls", False, f"{want}; no item for build {manifest.build} ({detail})")
    item, have = found
    problems = [] if have == want else [f"served '{have}', manifest '{want}'"]
    link = str(manifest.product_link) if manifest.product_link is not None else None
    if item.info_url != link:
        problems.append(f"link {item.info_url} != {link}")
    date = manifest.promoted_at or manifest.published_at
    if item.pub_date != date:
        problems.append(f"pubDate {item.pub_date} != {date}")
    return _c(
        "update controls", not problems, "; ".join(problems) or f"{want}; pubDate {date:%Y-%m-%d %H:%M}Z"
    )


def _grpc_side(channel: Channel) -> Literal["production", "staging"]:
    return "production" if channel is Channel.STABLE else "staging"


def _feed(target: Target, channel: Channel) -> tuple[str, ...]:
    return (str(target.endpoint(channel).url),)


def _downloads(target: Target, channel: Channel) -> tuple[str, ...]:
    tags = target.channels.tags(channel)
    return (
        target.download_url(tags.dmg_tag, target.dmg_name),
        target.download_url(tags.pkg_tag, target.pkg_name),
    )


def _grpc(target: Target, channel: Channel) -> tuple[str, ...]:
    endpoint = endpoint_of(target, _grpc_side(channel))
    return () if endpoint is None else (endpoint.endpoint,)


def _every(target: Target, channel: Channel) -> tuple[str, ...]:
    """Every endpoint some row of ``channel`` reads, in table order (what ``reachable`` asks)."""
    urls: list[str] = []
    for check in checks_for(channel):
        urls += [url for url in check.needs(target, channel) if url not in urls]
    return tuple(urls)


def _reachable(subject: Subject) -> CheckResult:
    silent = subject.reach.silent(_every(subject.session.target, subject.channel))
    if not silent:
        return _c("reachable", True, "every endpoint the checks read answers")
    return _c("reachable", False, f"{', '.join(silent)} did not answer: {down_fix(subject.session.target)}")


# The definition of done, in the order the table shows it. The beta channel has no versioned pair
# in the repo, so it has no "repo pair" row.
CHECKS = (
    Check("reachable", _reachable),
    Check("assets", lambda s: _assets(s.session, s.manifest, s.channel), needs=_downloads),
    Check("fixed URL", lambda s: _fixed_url(s.session, s.manifest, s.channel)),
    Check("repo pair", lambda s: _repo_pair(s.session, s.manifest), channels=(Channel.STABLE,)),
    Check("VM pair", lambda s: _vm(s.session, s.manifest, s.channel)),
    Check("/health", _health, needs=_feed),
    Check("/updates/health", _updates_health, needs=_feed),
    Check("appcast", _appcast, needs=_feed),
    Check("beta gate", lambda s: _gate(s.session), needs=lambda t, _c: _feed(t, Channel.BETA)),
    Check(
        "signature",
        lambda s: signature_row(s.session, s.manifest, s.feed),
        needs=lambda t, c: _feed(t, c) + _downloads(t, c),
    ),
    Check("update controls", lambda s: _controls(s.manifest, s.feed), needs=_feed),
    Check("grpc", lambda s: grpc_row(s.session.target, _grpc_side(s.channel)), needs=_grpc),
)


def _run(check: Check, subject: Subject) -> CheckResult:
    """One row: skipped while an endpoint it reads is silent; a ReleaseError is its detail, not an exit."""
    silent = subject.reach.silent(check.needs(subject.session.target, subject.channel))
    if silent:
        return CheckResult(
            name=check.name, ok=False, skipped=True, detail=f"skipped: {', '.join(silent)} did not answer"
        )
    try:
        result = check.run(subject)
    except ReleaseError as exc:
        result = _c(check.name, False, str(exc))
    return result.model_copy(update={"name": check.name})


def checks_for(channel: Channel) -> list[Check]:
    """The rows asked on ``channel``, in order: what the dry run lists and the real run runs."""
    return [check for check in CHECKS if channel in check.channels]


def verify(session: Session, channel: Channel = Channel.STABLE) -> list[CheckResult]:
    target = session.target
    manifest = read_stable(target) if channel is Channel.STABLE else read_beta(target)
    if manifest is None:
        file = "manifest.json" if channel is Channel.STABLE else "manifest_beta.json"
        raise ReleaseError(f"no {file}: nothing to verify on {channel.value} yet")
    table = checks_for(channel)
    if session.dry_run:
        names = [check.name for check in table]
        session.say(f"plan: check {', '.join(names)} for {channel.value} {manifest.version} (read-only)")
        grpc_call = grpc_plan(target, _grpc_side(channel))
        session.say(f"plan: {grpc_call}")
        session.emit({"dry_run": True, "checks": names, "grpc": grpc_call})
        return []
    subject = Subject(session, manifest, channel)
    # Each row carries its table name, so the real run's rows are the dry run's list, by construction.
    checks = [_run(check, subject) for check in table]
    session.finish_checks(
        f"verify {channel.value} {manifest.version}",
        checks,
        {
            "ok": all(c.ok for c in checks),
            "version": manifest.version,
            "checks": [c.model_dump() for c in checks],
        },
        "verify failed",
    )
    session.say(f"verified: {channel.value} {manifest.version} is done by the rulebook's definition")
    return checks
