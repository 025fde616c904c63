"""``rollback [--channel stable|beta] --to X.Y.Z.W --yes``: republish an archived release into the fixed channels.

Rules:
- Needs ``--yes`` (it replaces what stable clients are offered) and ``manifest_<version>.json``
  (a stable release of that version at the fixed URLs, as promote wrote it) plus the archived
  bytes of its dmg and pkg, hashed again so bit rot cannot stop it midway; anything missing or
  wrong is exit 2 naming it, before anything changes.
- No new tag, ever: the archived bytes are uploaded into ``Update``/``App`` in place (skipped
  where the sha256 already matches) and ``manifest.json`` becomes that version's manifest, so the
  VM's pair is identical again. One remote call, then ``/updates/health`` must report the version.
- Always warns: Sparkle never downgrades a client that already has a newer build, so a rollback
  only stops new installs and older clients from taking the bad release; clients already on it
  need a roll forward (a newer version with the fix through beta → validate → promote).
- What changes is decided once, in the plan (``_actions``: each asset, the release notes, the
  stable release's body, the manifest, the sync, each marked do or skip from the store, the
  archive and the tree), which the dry run prints and the real run executes, skip for skip.
- A stable rollback rewrites the stable fixed release's body (its description on GitHub) with the
  notes of the version it puts back (``manifest_<version>.json``'s release notes, as promote wrote
  them), after the assets and before the manifest, as promote does; skipped when the body already
  is that text. A beta rollback leaves it alone (only promote and a stable rollback write it).
- A rollback to what the channel already is (every asset in place, the body already its notes,
  the manifest already that version's, the sync changing nothing) is a no-op:
  "nothing changed (stable already is V)", journaled ``skip``.
- ``--channel beta`` (a staged rollback) does the same inside the beta channel and never touches
  stable: the version must be in the archive's beta history (``publish`` records every beta
  manifest there) with its bytes intact, else exit 2 in one line. The archived bytes go into
  ``UpdateBeta``/``AppBeta``, ``manifest_beta.json`` becomes that version's beta manifest (the
  current one is recorded first, so it can be restored in turn), one sync, and while the beta
  gate is open the staging endpoint must serve it (like publish: staging runs only in a beta
  window). A version older than stable is refused: beta clients would be offered stable instead.
  The beta validation does not carry over: promote needs a new ``staging.validate``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.errors import ReleaseError
from release.outside.store.base import FixedRelease, UploadResult
from release.outside.stream import hash_file
from release.parts.announce import plan_lines
from release.parts.artifacts import (
    archive_beta_manifest,
    archive_has,
    archive_object,
    archived_beta,
    archived_beta_versions,
)
from release.parts.desired import (
    beta_path,
    manifests_dir,
    read_beta,
    read_gate,
    read_stable,
    read_versioned,
    stable_path,
    write,
)
from release.parts.plan import Action, Plan
from release.parts.session import Session
from release.steps import flow
from release.steps.flow import (
    asset_map,
    base_url,
    body_action,
    dry_run_done,
    sync,
    sync_step,
    tell,
    upload,
    wait_served,
    write_body,
)
from schemas import Channel, Manifest, Target, atomic_write, compare_versions, parse_version
from schemas.fileio import dump_model

__all__ = ["BETA_WARNING", "WARNING", "rollback"]

WARNING = (
    "Sparkle never downgrades: clients that already installed a newer build keep it. "
    "To fix them, roll forward: bump to a newer version with the fix, publish --channel beta, "
    "staging.validate, promote."
)
BETA_WARNING = (
    "Sparkle never downgrades: beta clients that already installed a newer build keep it. "
    "To fix them, roll forward: bump to a newer version with the fix, publish --channel beta, "
    "staging.validate."
)


def _check_history(session: Session, manifest: Manifest, version: str) -> None:
    """The history file must be a stable release of ``version`` at the fixed URLs, or nothing starts."""
    target = session.target
    name = f"manifest_{version}.json"
    if manifest.version != version:
        raise ReleaseError(f"{name} names {manifest.version}, not {version}: restore it from git")
    update = target.release_target.update
    fixed = (str(update.dmg_url), str(update.pkg_url))
    if (
        manifest.channel is not Channel.STABLE
        or (str(manifest.artifact.url), str(manifest.installer.url)) != fixed
    ):
        raise ReleaseError(
            f"{name} is not a stable release at the fixed URLs (channel {manifest.channel.value}, "
            f"{manifest.artifact.url}): only versions promote released can be rolled back to"
        )


def _intact(target: Target, sha256: str, size: int) -> bool:
    """The archived object exists and still hashes to its name (bit rot would stop a rollback midway)."""
    return archive_has(target, sha256) and hash_file(archive_object(target, sha256)) == (sha256, size)


def _objects(session: Session, manifest: Manifest) -> dict[str, str]:
    target = session.target
    wanted = {"dmg": manifest.artifact.sha256, "pkg": manifest.installer.sha256}
    sizes = {"dmg": manifest.artifact.size, "pkg": manifest.installer.size}
    missing = [f"{role} {sha[:12]}" for role, sha in wanted.items() if not _intact(target, sha, sizes[role])]
    if missing:
        where = target.path(target.archive_dir)
        raise ReleaseError(
            f"the archive {where} lacks {', '.join(missing)} of {manifest.version} (missing or damaged); "
            "cannot roll back"
        )
    return wanted


@dataclass(frozen=True, slots=True)
class _Plan:
    """One checked rollback: what goes back into which channel, and how its steps name it."""

    channel: Channel
    version: str
    manifest: Manifest
    objects: dict[str, str]
    current: Manifest | None
    path: Path
    step: str
    """The write step's text of what ``path`` becomes."""
    wrote: str
    """The log line's text of what ``path`` became."""
    wait: str | None
    """The health condition waited for; None: nothing is served yet to wait for."""
    warning: str
    report: dict[str, Any]
    """The report's opening keys (the common ones follow)."""
    done: str


def _confirm(session: Session, channel: Channel, version: str, yes: bool) -> None:
    if not yes and not session.dry_run:
        raise ReleaseError(
            f"rollback replaces what {channel.value} clients are offered with {version}; rerun with --yes"
        )


def rollback(
    session: Session,
    to: str,
    *,
    yes: bool = False,
    wait_s: float = flow.SYNC_WAIT_S,
    channel: Channel = Channel.STABLE,
) -> dict[str, Any]:
    try:
        version = parse_version(to)
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    if channel is Channel.BETA:
        plan = _plan_beta(session, version, yes=yes)
    else:
        plan = _plan_stable(session, version, yes=yes)
    return _republish(session, plan, wait_s)


def _plan_stable(session: Session, version: str, *, yes: bool) -> _Plan:
    target = session.target
    manifest = read_versioned(target, version)
    if manifest is None:
        known = sorted(p.name[len("manifest_") : -5] for p in manifests_dir(target).glob("manifest_*.json"))
        known = [name for name in known if name != "beta"]
        raise ReleaseError(f"no manifest_{version}.json; released versions: {', '.join(known) or 'none'}")
    _check_history(session, manifest, version)
    objects = _objects(session, manifest)
    _confirm(session, Channel.STABLE, version, yes)
    return _Plan(
        channel=Channel.STABLE,
        version=version,
        manifest=manifest,
        objects=objects,
        current=read_stable(target),
        path=stable_path(target),
        step=f"manifest_{version}.json",
        wrote=f"manifest_{version}.json",
        wait=f"reports {version}",
        warning=WARNING,
        report={},
        done=f"rolled back stable to {version}",
    )


def _beta_history(session: Session, version: str) -> Manifest:
    """The manifest ``version`` was published to beta with, checked, or exit 2 before anything starts."""
    target = session.target
    manifest = archived_beta(target, version)
    current = read_beta(target)
    if manifest is None and current is not None and current.version == version:
        manifest = current  # published before the history existed, and still the current beta
    if manifest is None:
        known = archived_beta_versions(target)
        raise ReleaseError(
            f"{version} was never published to beta; beta versions in the archive: {', '.join(known) or 'none'}"
        )
    tags = target.channels.beta
    fixed = (
        target.download_url(tags.dmg_tag, target.dmg_name),
        target.download_url(tags.pkg_tag, target.pkg_name),
    )
    if (
        manifest.version != version
        or manifest.channel is not Channel.BETA
        or (str(manifest.artifact.url), str(manifest.installer.url)) != fixed
    ):
        raise ReleaseError(
            f"the beta history of {version} is not a beta release of it at the fixed URLs "
            f"(version {manifest.version}, channel {manifest.channel.value}, {manifest.artifact.url})"
        )
    stable = read_stable(target)
    if stable is not None and compare_versions(version, stable.version) < 0:
        raise ReleaseError(
            f"{version} is older than stable {stable.version}: beta clients would be offered stable instead; "
            f"roll beta back to {stable.version} or newer"
        )
    return manifest


def _plan_beta(session: Session, version: str, *, yes: bool) -> _Plan:
    target = session.target
    manifest = _beta_history(session, version)
    objects = _objects(session, manifest)
    _confirm(session, Channel.BETA, version, yes)
    current = read_beta(target)
    gate = read_gate(target)
    return _Plan(
        channel=Channel.BETA,
        version=version,
        manifest=manifest,
        objects=objects,
        current=current,
        path=beta_path(target),
        step=f"beta {version} {manifest.fingerprint[:12]}",
        wrote=f"beta {version}",
        # While the gate is closed staging serves nothing: it serves the beta once staging.open runs.
        wait=f"serves beta {version}" if gate is not None and gate.enabled else None,
        warning=BETA_WARNING,
        report={"channel": "beta"},
        done=f"rolled back beta to {version}; promote needs a new staging.validate",
    )


def _notes(manifest: Manifest) -> bytes:
    """The release notes asset a rollback puts back: the manifest's own text."""
    return manifest.release_notes.encode("utf-8") or b"\n"


def _notes_source(version: str) -> str:
    return f"the release notes of {version}"


def _actions(session: Session, plan: _Plan) -> Plan:
    """What the rollback will change, read from the store, the archive and the tree before it starts."""
    target, channel, manifest, current = session.target, plan.channel, plan.manifest, plan.current
    actions = []
    if channel is Channel.BETA and current is not None:
        recorded = archived_beta(target, current.version) == current
        text = f"record beta {current.version} in the archive's beta history"
        actions.append(Action("history", text, "skip" if recorded else "do", "already recorded"))
    wanted = plan.objects | {"notes": hashlib.sha256(_notes(manifest)).hexdigest()}
    listings: dict[str, FixedRelease] = {}
    for role, tag, name in asset_map(target, channel):
        if tag not in listings:
            listings[tag] = session.store.release(tag)
        there, sha = listings[tag].asset(name), wanted[role]
        what = f"archived {role} {sha[:12]}" if role != "notes" else _notes_source(plan.version)
        text = f"upload {what} into {tag}/{name}"
        if there is not None and there.sha256 is None:
            actions.append(Action(f"upload:{role}", text, "check", "it is already there (no digest)"))
        elif there is None or there.sha256 != sha:
            actions.append(Action(f"upload:{role}", text))
        else:
            actions.append(Action(f"upload:{role}", text, "skip", "already there"))
    if channel is Channel.STABLE:
        listing = listings[target.channels.stable.dmg_tag]  # read above for the dmg and notes
        actions.append(body_action(target, listing, manifest.release_notes, _notes_source(plan.version)))
    was = current.version if current else "none"
    kept = plan.path.is_file() and plan.path.read_bytes() == dump_model(manifest)
    write = f"write {plan.path.name} = {plan.step} (was {was})"
    actions.append(Action("write", write, "skip" if kept else "do", f"already {plan.wrote}"))
    actions.append(Action("sync", sync_step(session)))
    if plan.wait is not None:
        actions.append(Action("wait", f"wait until {base_url(target, channel)}/updates/health {plan.wait}"))
    elif channel is Channel.BETA:
        actions.append(
            Action("gate", "the beta gate is closed: staging serves it once staging.open runs", "note")
        )
    actions += [Action("announce", line) for line in plan_lines(target)]
    return Plan(tuple(actions))


def _republish(session: Session, plan: _Plan, wait_s: float) -> dict[str, Any]:
    """Put the archived release back into its channel: the plan (or dry run), then the change."""
    target, version, manifest = session.target, plan.version, plan.manifest
    current, channel = plan.current, plan.channel
    was = current.version if current else "none"
    actions = _actions(session, plan)
    session.say(f"[yellow]warning:[/] {plan.warning}")
    report: dict[str, Any] = plan.report | {
        "version": version,
        "from": current.version if current else None,
        "steps": actions.lines(),
        "plan": actions.as_json(),
        "dry_run": session.dry_run,
        "warning": plan.warning,
    }
    if session.dry_run:
        return dry_run_done(session, actions, report)
    sizes = {"dmg": manifest.artifact.size, "pkg": manifest.installer.size}
    with session.change() as change:
        change.channel, change.version, change.fingerprint = channel, version, manifest.fingerprint
        change.details.append(f"rollback from {was}")
        moved = False
        if current is not None and channel is Channel.BETA and actions.wants("history"):
            moved = archive_beta_manifest(target, current)  # the rolled-back-from beta stays restorable
        for role, tag, name in asset_map(target, channel):
            if not actions.wants(f"upload:{role}"):
                session.say(f"already there: {tag}/{name}")
                continue
            if role == "notes":
                result = _restore_notes(session, manifest, channel)
            else:
                sha = plan.objects[role]
                result = upload(session, tag, name, archive_object(target, sha), sha256=sha, size=sizes[role])
            moved |= result.transferred
            session.say(f"{'restored' if result.transferred else 'already there'}: {tag}/{name}")
        if channel is Channel.STABLE:
            written, report["body"] = write_body(
                session, actions, manifest.release_notes, _notes_source(version)
            )
            moved |= written
        if actions.wants("write"):
            moved = True
            write(plan.path, manifest)
            session.say(f"wrote {plan.path.name} = {plan.wrote}")
        else:
            session.say(f"kept {plan.path.name}: already {plan.wrote}")
        moved |= bool(sync(session, wait_s).changed)
        if plan.wait is not None:
            wait_served(session, channel, manifest)
        elif channel is Channel.BETA:
            session.say("the beta gate is closed: staging serves it once staging.open runs")
        if not moved:
            # Rolled back to what the channel already serves: a no-op, and it must read as one.
            change.result = "skip"
            change.details.append(f"nothing changed ({channel.value} already is {version})")
        else:
            tell(session, change, manifest, report)
    session.say(plan.done if moved else f"nothing changed ({channel.value} already is {version})")
    session.emit(report | {"ok": True})
    return report


def _restore_notes(session: Session, manifest: Manifest, channel: Channel) -> UploadResult:
    """Put the release's notes back beside the dmg, from the manifest's own text."""
    target = session.target
    tag = target.channels.tags(channel).dmg_tag
    scratch = target.path(target.archive_dir) / "tmp" / f"notes-{manifest.version}.md"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(scratch, _notes(manifest))
    try:
        sha, size = hash_file(scratch)
        return session.store.upload(tag, target.notes_name, scratch, sha256=sha, size=size)
    finally:
        scratch.unlink(missing_ok=True)
