"""``verify [--channel stable|beta]``: the rulebook's definition of done (§6) as a table.

Rules:
- Every item runs, so one run names every failure (exit 1), each as its own row:
  assets present in the fixed releases with the manifest's size and sha256 (served bytes hashed);
  the manifest points at the fixed URLs; the repo's pair ``manifest.json`` /
  ``manifest_<version>.json`` is identical; the VM's pair is identical and in sync (``reconciler
  status`` and ``reconciler diff``); ``/health``, ``/updates/health`` and ``/updates/appcast.xml``
  agree on the version; the beta feed is gated as desired; ``signature``: the bytes served at the
  public URLs verify against the app's ``SUPublicEDKey`` (``release.served_signature``);
  ``update controls``: the served item carries the manifest's controls, link and dates;
  ``grpc``: the channel's gRPC endpoint (production for stable, staging for beta) answers
  ``grpc.health.v1.Health/Check``.
- For ``--channel beta`` the same questions are asked of the beta release and the staging feed
  (no repo pair: beta has no versioned manifest; ``appcast`` reads ``appcast-beta.xml``, which
  answers only while the gate is open).
- Read-only: ``--dry-run`` only lists the checks.
"""

from __future__ import annotations

from typing import Literal

from schemas import Channel, CheckResult, Manifest

from .client_view import offered_release
from .console import check_table
from .controls import describe_manifest, served_controls
from .desired import read_beta, read_gate, read_stable, read_versioned
from .errors import CHECK_FAILED, ReleaseError
from .flow import appcast_url
from .grpcsmoke import check_row as grpc_row
from .grpcsmoke import plan_line as grpc_plan
from .probes import fetch_appcast, get_json
from .served_signature import Feed, signature_row
from .session import Session

__all__ = ["CHECK_NAMES", "verify"]

CHECK_NAMES = (
    "assets",
    "fixed URL",
    "repo pair",
    "VM pair",
    "/health",
    "/updates/health",
    "appcast",
    "beta gate",
    "signature",
    "update controls",
    "grpc",
)


def _c(name: str, ok: bool, detail: str) -> CheckResult:
    return CheckResult(name=name, ok=ok, detail=detail[:300])


def _assets(session: Session, manifest: Manifest, channel: Channel) -> CheckResult:
    tags = session.target.channels.tags(channel)
    problems = []
    for tag, artifact in ((tags.dmg_tag, manifest.artifact), (tags.pkg_tag, manifest.installer)):
        try:
            asset = session.store.release(tag).asset(artifact.name)
        except ReleaseError as exc:
            problems.append(str(exc))
            continue
        if asset is None:
            problems.append(f"{tag}/{artifact.name} missing")
        elif asset.size != artifact.size or (asset.sha256 is not None and asset.sha256 != artifact.sha256):
            problems.append(
                f"{tag}/{artifact.name} is {asset.size} bytes, not the manifest's {artifact.size}/sha256"
            )
        elif not session.store.verify(tag, artifact.name, sha256=artifact.sha256, size=artifact.size):
            problems.append(f"{asset.url} does not serve the manifest's sha256")
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
    return _c("fixed URL", not wrong, "; ".join(wrong) or have[0])


def _repo_pair(session: Session, manifest: Manifest) -> CheckResult:
    versioned = read_versioned(session.target, manifest.version)
    if versioned is None:
        return _c("repo pair", False, f"manifest_{manifest.version}.json missing")
    same = versioned == manifest
    return _c("repo pair", same, "identical" if same else f"manifest_{manifest.version}.json differs")


def _vm(session: Session, manifest: Manifest, channel: Channel) -> CheckResult:
    name = "stable" if channel is Channel.STABLE else "beta"
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
    from .desired import to_bundle

    return to_bundle(session.target).digest()


def _served(session: Session, manifest: Manifest, channel: Channel, feed: Feed) -> list[CheckResult]:
    base = str(session.target.endpoint(channel).url).rstrip("/")
    health, detail = get_json(session.http, f"{base}/health")
    ok = bool(health and health.get("status") == "ok")
    if health and channel is Channel.STABLE:
        ok = ok and health.get("version") == manifest.version  # the rulebook's DoD 4: all three agree
    shown = f"status {health.get('status')}, version {health.get('version')}" if health else detail
    checks = [_c("/health", ok, shown)]
    updates, detail = get_json(session.http, f"{base}/updates/health")
    if channel is Channel.STABLE:
        served = (updates or {}).get("latest_version"), (updates or {}).get("latest_build")
    else:
        beta = ((updates or {}).get("channels") or {}).get("beta") or {}
        served = beta.get("version"), beta.get("build")
    state = (updates or {}).get("status")
    ok = served == (manifest.version, manifest.build)
    if channel is Channel.STABLE:
        ok = ok and state == "ok"  # "degraded" means the VM's pair or config disagree (rule 7)
    reason = f" ({(updates or {}).get('reason')})" if state == "degraded" else ""
    shown = f"{channel.value} {served[0]} build {served[1]}, {state}{reason}" if updates else detail
    checks.append(_c("/updates/health", ok, shown))
    _, items, detail = feed
    # Judged as a Sparkle client chooses (release/client_view.py), not by the feed's first item.
    item, shown = offered_release(session.target, manifest, items) if detail == "ok" else (None, detail)
    ok = item is not None and item.short_version == manifest.version and item.length == manifest.artifact.size
    if item is not None and not ok:
        shown += f", but as {item.short_version} with length {item.length}, not {manifest.artifact.size}"
    name = appcast_url(session.target, channel).rsplit("/", 1)[-1]
    checks.append(_c("appcast", ok, f"{name}: {shown}"))
    return checks


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


def verify(session: Session, channel: Channel = Channel.STABLE) -> list[CheckResult]:
    target = session.target
    manifest = read_stable(target) if channel is Channel.STABLE else read_beta(target)
    if manifest is None:
        file = "manifest.json" if channel is Channel.STABLE else "manifest_beta.json"
        raise ReleaseError(f"no {file}: nothing to verify on {channel.value} yet")
    if session.dry_run:
        # The beta channel has no versioned pair in the repo, so it has no "repo pair" row.
        names = [n for n in CHECK_NAMES if channel is Channel.STABLE or n != "repo pair"]
        session.say(f"plan: check {', '.join(names)} for {channel.value} {manifest.version} (read-only)")
        grpc_call = grpc_plan(target, _grpc_side(channel))
        session.say(f"plan: {grpc_call}")
        session.emit({"dry_run": True, "checks": names, "grpc": grpc_call})
        return []
    checks = [_assets(session, manifest, channel), _fixed_url(session, manifest, channel)]
    if channel is Channel.STABLE:
        checks.append(_repo_pair(session, manifest))
    checks.append(_vm(session, manifest, channel))
    feed = fetch_appcast(session.http, appcast_url(target, channel))  # once, for every row that reads it
    checks += _served(session, manifest, channel, feed)
    checks.append(_gate(session))
    checks.append(signature_row(session, manifest, feed))
    checks.append(_controls(manifest, feed))
    checks.append(grpc_row(target, _grpc_side(channel)))
    session.show(
        check_table(f"verify {channel.value} {manifest.version}", [(c.name, c.ok, c.detail) for c in checks])
    )
    session.emit(
        {
            "ok": all(c.ok for c in checks),
            "version": manifest.version,
            "checks": [c.model_dump() for c in checks],
        }
    )
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ReleaseError(
            "verify failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed), CHECK_FAILED
        )
    session.say(f"verified: {channel.value} {manifest.version} is done by the rulebook's definition")
    return checks
