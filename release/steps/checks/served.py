"""verify's rows (``release.steps.checks``): what a channel serves against its manifest.

Rules:
- ``assets``: present in the fixed releases with the manifest's size and sha256
  (``release.steps.stored``: the store's metadata, with expected and found sha256 and the fix on a
  mismatch; then the bytes served at the public URLs hashed); ``fixed URL``: the manifest points at
  the fixed URLs; ``repo pair`` (stable only): ``manifest.json`` / ``manifest_<version>.json``
  identical; ``VM pair``: the VM's pair identical and in sync (``reconciler status`` and
  ``reconciler diff``); ``/health``, ``/updates/health`` and the appcast agree on the version
  (``FeedHealth.serves``: version and dmg sha256); ``beta gate``: gated as desired; ``update
  controls``: the served item carries the manifest's controls, link and dates.
"""

from __future__ import annotations

from release.errors import ReleaseError
from release.outside.probes import fetch_appcast, get_health
from release.parts.client_view import offered_release
from release.parts.controls import describe_manifest, served_controls
from release.parts.desired import read_gate, read_versioned
from release.steps.checks.row import check
from release.steps.checks.subject import Subject
from release.steps.flow import appcast_url
from release.steps.stored import fix, short, stored
from schemas import Channel, CheckResult, FeedHealth, ResourceName, ServerHealth

__all__ = [
    "appcast",
    "assets",
    "beta_feed",
    "controls",
    "downloads",
    "feed",
    "fixed_url",
    "gate",
    "health",
    "repo_pair",
    "updates_health",
    "vm_pair",
]


def feed(subject: Subject) -> tuple[str, ...]:
    return (str(subject.target.endpoint(subject.channel).url),)


def beta_feed(subject: Subject) -> tuple[str, ...]:
    return (str(subject.target.endpoint(Channel.BETA).url),)


def downloads(subject: Subject) -> tuple[str, ...]:
    target = subject.target
    tags = target.channels.tags(subject.channel)
    return (
        target.download_url(tags.dmg_tag, target.dmg_name),
        target.download_url(tags.pkg_tag, target.pkg_name),
    )


def assets(subject: Subject) -> CheckResult:
    session, manifest, channel = subject.session, subject.manifest, subject.channel
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
    return check(
        "assets",
        not problems,
        "; ".join(problems) or f"{tags.dmg_tag}, {tags.pkg_tag}: size and sha256 match",
    )


def fixed_url(subject: Subject) -> CheckResult:
    target, manifest = subject.target, subject.manifest
    if subject.channel is Channel.STABLE:
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
    return check("fixed URL", not wrong, "; ".join(wrong) or f"{named}: the target's fixed URLs")


def repo_pair(subject: Subject) -> CheckResult:
    manifest = subject.manifest
    versioned = read_versioned(subject.target, manifest.version)
    if versioned is None:
        return check("repo pair", False, f"manifest_{manifest.version}.json missing")
    same = versioned == manifest
    return check("repo pair", same, "identical" if same else f"manifest_{manifest.version}.json differs")


def vm_pair(subject: Subject) -> CheckResult:
    session, manifest, channel = subject.session, subject.manifest, subject.channel
    name = ResourceName.STABLE if channel is Channel.STABLE else ResourceName.BETA
    try:
        status = session.remote.status()
        plan = session.remote.diff()
    except ReleaseError as exc:
        return check("VM pair", False, str(exc))
    problems = []
    runtime = status.stable_version if channel is Channel.STABLE else status.beta_version
    if runtime != manifest.version:
        problems.append(f"VM {name} is {runtime}")
    if status.desired_digest and status.desired_digest != _digest(subject):
        problems.append("VM desired state is not the repo's (run sync)")
    drifted = plan.unsettled()
    if drifted:
        problems.append(f"drift in {', '.join(drifted)}")
    state = status.resources.get(name)
    if state is not None and not state.sync.settled:
        problems.append(f"{name} {state.sync} {state.detail}".strip())
    return check(
        "VM pair",
        not problems,
        "; ".join(problems) or f"{manifest.version}: runtime files identical, no drift",
    )


def _digest(subject: Subject) -> str:
    from release.parts.desired import to_bundle

    return to_bundle(subject.target).digest()


def health(subject: Subject) -> CheckResult:
    manifest, channel = subject.manifest, subject.channel
    document, detail = get_health(subject.session.http, f"{subject.base}/health", ServerHealth)
    if document is None:
        return check("/health", False, detail)
    # On production all three agree on the version (docs/rules.md#r9); /health names stable only.
    ok = channel is not Channel.STABLE or document.version == manifest.version
    return check("/health", ok, f"status {document.status}, version {document.version}")


def updates_health(subject: Subject) -> CheckResult:
    manifest, channel = subject.manifest, subject.channel
    updates, detail = get_health(subject.session.http, f"{subject.base}/updates/health", FeedHealth)
    if updates is None:
        return check("/updates/health", False, detail)
    ok = updates.serves(channel, manifest)
    if channel is Channel.STABLE:
        # "degraded" means the VM's pair or config disagree (docs/rules.md#r7)
        ok = ok and updates.status == "ok"
    served = updates.release(channel)
    shown = f"{channel.value} {served.version} build {served.build}" if served else f"{channel.value} none"
    if served and served.sha256 != manifest.artifact.sha256:
        shown += f", sha256 {served.sha256[:12]}… not the manifest's {manifest.artifact.sha256[:12]}…"
    reason = f" ({updates.reason})" if updates.reason else ""
    return check("/updates/health", ok, f"{shown}, {updates.status}{reason}")


def appcast(subject: Subject) -> CheckResult:
    session, manifest, channel = subject.session, subject.manifest, subject.channel
    _, items, detail = subject.feed
    # Judged as a Sparkle client chooses (release/parts/client_view.py), not by the feed's first item.
    item, shown = offered_release(session.target, manifest, items) if detail == "ok" else (None, detail)
    ok = item is not None and item.short_version == manifest.version and item.length == manifest.artifact.size
    if item is not None and not ok:
        shown += f", but as {item.short_version} with length {item.length}, not {manifest.artifact.size}"
    name = appcast_url(session.target, channel).rsplit("/", 1)[-1]
    return check("appcast", ok, f"{name}: {shown}")


def gate(subject: Subject) -> CheckResult:
    session = subject.session
    desired = read_gate(session.target)
    want_open = desired is not None and desired.enabled
    code, _, detail = fetch_appcast(session.http, appcast_url(session.target, Channel.BETA))
    ok = code == (200 if want_open else 404)
    return check(
        "beta gate",
        ok,
        f"desired {'open' if want_open else 'closed'}, appcast-beta.xml answers {code or detail}",
    )


def controls(subject: Subject) -> CheckResult:
    manifest = subject.manifest
    _, items, detail = subject.feed
    found = served_controls(items, manifest.build)
    want = describe_manifest(manifest)
    if found is None:
        return check("update controls", False, f"{want}; no item for build {manifest.build} ({detail})")
    item, have = found
    problems = [] if have == want else [f"served '{have}', manifest '{want}'"]
    link = str(manifest.product_link) if manifest.product_link is not None else None
    if item.info_url != link:
        problems.append(f"link {item.info_url} != {link}")
    date = manifest.promoted_at or manifest.published_at
    if item.pub_date != date:
        problems.append(f"pubDate {item.pub_date} != {date}")
    return check(
        "update controls", not problems, "; ".join(problems) or f"{want}; pubDate {date:%Y-%m-%d %H:%M}Z"
    )
