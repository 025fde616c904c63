"""``promote``: step C of the funnel (docs/rules.md#r2), beta → stable without a rebuild.

Rules:
- Refused (exit 1) unless ``validation_beta.json`` passed for the current beta fingerprint; the
  only override is ``--force --reason TEXT``, journaled as "forced".
- Copies the verified bytes: each of dmg, pkg and notes is downloaded from the beta fixed release
  (hash checked against the manifest), archived and uploaded into the stable fixed release. An
  asset the stable release already holds (same sha256) and the archive has is skipped, download
  included. What is copied and what is skipped is decided once, in the plan (``_plan``), which
  the dry run prints and the real run executes. The stable manifest is the beta one re-pointed at the rulebook's fixed
  URLs (``release_target.update``), written as ``manifest.json`` and ``manifest_<version>.json``.
- The stable fixed release's body (its description on GitHub) becomes the release notes
  (``LATEST_CHANGES.md``, as the manifest carries them), after the copies and before the manifest:
  the plan marks it skip when the listing it reads already holds that text (a store that does
  not report bodies: decided by ``set_notes`` itself); the tag is never touched.
- One remote call (sync with a wait), then ``/updates/health`` must report the version.
- The same fingerprint again is a reported skip (exit 0): nothing transferred, nothing rewritten;
  the sync is still sent once so a VM that missed the first one converges.
- A beta whose version was already released with other bytes is refused (exit 2) before anything:
  ``manifest_<version>.json`` is history and is never rewritten.
- A beta older than stable is refused: Sparkle never offers a downgrade; use rollback.
- The signatures are carried unchanged (the same bytes, so the same ``sparkle:edSignature``); the
  stable manifest's ``promoted_at`` is the promote time, the stable item's ``pubDate``, from which a
  phased rollout counts (SUAppcastDriver.m).
- Update controls: the beta's, with those given on the command line laid over them. A promote of
  the release stable already has, asking for other controls, is refused (exit 2): released
  history is never rewritten.
- Promoting a release again after a rollback (``manifest_<version>.json`` exists with the same
  fingerprint) restores that manifest unchanged (same bytes: its ``promoted_at`` and controls);
  controls given that differ from it are refused (exit 2).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.store.base import Asset, FixedRelease
from release.parts.announce import plan_lines
from release.parts.artifacts import archive_has, archive_put
from release.parts.controls import UpdateControls, describe_manifest, manifest_controls
from release.parts.desired import (
    read_beta,
    read_stable,
    read_validation,
    read_versioned,
    refuse_rebuilt_release,
    stable_path,
    versioned_path,
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
from schemas import Channel, Manifest, compare_versions

__all__ = ["promote", "stable_manifest"]


def stable_manifest(session: Session, beta: Manifest, controls: UpdateControls | None = None) -> Manifest:
    update = session.target.release_target.update
    stable = beta.for_channel(Channel.STABLE, str(update.dmg_url), str(update.pkg_url))
    if controls is None or not controls.given:
        return stable
    return stable.model_copy(update=manifest_controls(controls, beta.version, beta))


def _short(signature: str | None) -> str:
    return f"{signature[:16]}…" if signature else "unsigned"


def _gate(session: Session, beta: Manifest, force: bool, reason: str) -> str | None:
    """None when validated; the override reason when forced; else refuse."""
    validation = read_validation(session.target)
    if validation is not None and validation.ok and validation.fingerprint == beta.fingerprint:
        return None
    if validation is None:
        why = "beta was never validated"
    elif validation.fingerprint != beta.fingerprint:
        why = (
            f"validation_beta.json is for {validation.fingerprint[:12]}, beta is now {beta.fingerprint[:12]}"
        )
    else:
        why = f"the last validation of {beta.version} failed"
    if not force:
        raise ReleaseError(f"promote refused: {why}; run staging.validate first", CHECK_FAILED)
    return f"forced past '{why}': {reason.strip()}"


def _copy_actions(session: Session, beta: Manifest, listings: dict[str, FixedRelease]) -> list[Action]:
    """One action per asset, from what both releases hold now: copy, skip, or check (no digest)."""
    target = session.target
    wanted = {"dmg": beta.artifact.sha256, "pkg": beta.installer.sha256}
    stable_tags = {role: (tag, name) for role, tag, name in asset_map(target, Channel.STABLE)}

    def held(tag: str, name: str) -> Asset | None:
        if tag not in listings:
            listings[tag] = session.store.release(tag)
        return listings[tag].asset(name)

    actions = []
    for role, tag, name in asset_map(target, Channel.BETA):
        source = held(tag, name)
        if source is None:
            raise ReleaseError(
                f"{tag}/{name} is missing from the beta release: publish beta again", CHECK_FAILED
            )
        dest_tag, dest_name = stable_tags[role]
        text = f"copy {tag}/{name} → {dest_tag}/{dest_name}"
        expected = wanted.get(role, source.sha256)
        there = held(dest_tag, dest_name)
        if expected is None or (there is not None and there.sha256 is None):
            why = f"{dest_tag}/{dest_name} already holds these bytes (the store reports no digest)"
            actions.append(Action(f"copy:{role}", text, "check", why))
        elif there is None or there.sha256 != expected:
            actions.append(Action(f"copy:{role}", text))
        elif archive_has(target, expected):
            actions.append(
                Action(f"copy:{role}", text, "skip", f"{dest_tag}/{dest_name} already holds these bytes")
            )
        else:
            # Stable has the bytes (a promote stopped midway), the archive not: rollback needs them.
            text = f"download {tag}/{name} into the archive ({dest_tag}/{dest_name} already holds it)"
            actions.append(Action(f"copy:{role}", text))
    return actions


def _plan(session: Session, beta: Manifest, stable: Manifest, released: Manifest | None, skip: bool) -> Plan:
    target = session.target
    if skip:
        actions = [
            Action(
                "promote",
                f"stable already is {beta.version} ({beta.fingerprint[:12]}): nothing transferred or rewritten",
                "skip",
            )
        ]
    else:
        write = (
            f"write {stable_path(target).name} and {versioned_path(target, beta.version).name}"
            if released is None
            else f"write {stable_path(target).name} = {versioned_path(target, beta.version).name}"
        )
        controls = (
            f"update controls: {describe_manifest(stable)}; pubDate = the promote time"
            if released is None
            else f"restore {versioned_path(target, beta.version).name} unchanged "
            f"(update controls: {describe_manifest(stable)}; pubDate {stable.promoted_at})"
        )
        signatures = (
            f"carry sparkle:edSignature unchanged: dmg {_short(stable.artifact.ed_signature)}, "
            f"pkg {_short(stable.installer.ed_signature)}"
        )
        tag = target.channels.stable.dmg_tag
        listings: dict[str, FixedRelease] = {}
        copies = _copy_actions(session, beta, listings)
        # The listing the copies read holds the body too: no second read to tell do from skip.
        listing = listings.get(tag) or session.store.release(tag)
        actions = [
            *copies,
            body_action(target, listing, stable.release_notes, target.notes_name),
            Action("write", write),
            Action("signatures", signatures, "note"),
            Action("controls", controls, "note"),
        ]
    endpoint = base_url(target, Channel.STABLE)
    actions += [
        Action("sync", sync_step(session)),
        Action("wait", f"wait until {endpoint}/updates/health reports {beta.version}"),
    ]
    if not skip:
        actions += [Action("announce", line) for line in plan_lines(target)]
    return Plan(tuple(actions))


def _copy(session: Session, plan: Plan, beta: Manifest, scratch: Path) -> list[str]:
    """Carry out the plan's copy actions: download (hash checked), archive, upload (skipped if there)."""
    target = session.target
    # The notes have no manifest entry: their size is not known beforehand, their hash not checked.
    known = {"dmg": beta.artifact, "pkg": beta.installer}
    stable_tags = {role: (tag, name) for role, tag, name in asset_map(target, Channel.STABLE)}
    done = []
    for role, tag, name in asset_map(target, Channel.BETA):
        action = plan.get(f"copy:{role}")
        dest_tag, dest_name = stable_tags[role]
        if not plan.wants(action.key):
            done.append(f"skipped {tag}/{name} → {dest_tag}/{dest_name}: {action.why}")
            session.say(done[-1])
            continue
        local = scratch / name
        artifact = known.get(role)
        with session.progress(f"download {tag}/{name}", artifact.size if artifact else None) as advance:
            sha256 = session.store.download(tag, name, local, progress=advance)
        if artifact is not None and sha256 != artifact.sha256:
            raise ReleaseError(
                f"{tag}/{name} hashes to {sha256[:12]}, expected {artifact.sha256[:12]}", CHECK_FAILED
            )
        archive_put(target, local, sha256)
        size = local.stat().st_size
        result = upload(session, dest_tag, dest_name, local, sha256=sha256, size=size)
        verb = "copied" if result.transferred else "archived" if action.mode == "do" else "skipped"
        done.append(f"{verb} {tag}/{name} → {dest_tag}/{dest_name}")
        session.say(done[-1])
    return done


def promote(
    session: Session,
    *,
    force: bool = False,
    reason: str = "",
    wait_s: float = flow.SYNC_WAIT_S,
    controls: UpdateControls | None = None,
) -> dict[str, Any]:
    if force and not reason.strip():
        # Bad input whatever the state: an override is always explained, even when it turns out unneeded.
        raise ReleaseError("--force needs --reason TEXT saying why validation is skipped")
    if reason.strip() and not force:
        # A reason alone overrides nothing; saying so beats journaling an explanation for no override.
        raise ReleaseError(
            "--reason goes with --force (it explains skipping validation); drop it or add --force"
        )
    target = session.target
    beta = read_beta(target)
    if beta is None:
        raise ReleaseError("no manifest_beta.json: publish --channel beta first")
    stable = stable_manifest(session, beta, controls)
    refuse_rebuilt_release(target, stable)
    released = read_versioned(target, beta.version)
    if released is not None and released.fingerprint == stable.fingerprint:
        if (
            controls is not None
            and controls.given
            and describe_manifest(stable) != describe_manifest(released)
        ):
            raise ReleaseError(
                f"{beta.version} was released with update controls '{describe_manifest(released)}', "
                f"not '{describe_manifest(stable)}': released history is not rewritten; publish a new version"
            )
        stable = released
    current = read_stable(target)
    skip = current is not None and current.fingerprint == stable.fingerprint
    if skip and current is not None and describe_manifest(current) != describe_manifest(stable):
        raise ReleaseError(
            f"stable already is {beta.version} with update controls '{describe_manifest(current)}', "
            f"not '{describe_manifest(stable)}': released history is not rewritten; publish a new version"
        )
    if not skip and current is not None and compare_versions(beta.version, current.version) <= 0:
        raise ReleaseError(
            f"beta {beta.version} is not newer than stable {current.version}: Sparkle never downgrades; "
            "use rollback --to to go back"
        )
    forced = None if skip else _gate(session, beta, force, reason)
    plan = _plan(session, beta, stable, released, skip)
    report: dict[str, Any] = {
        "version": beta.version,
        "fingerprint": beta.fingerprint,
        "skip": skip,
        "forced": forced is not None,
        "controls": describe_manifest(stable),
        "steps": plan.lines(),
        "plan": plan.as_json(),
        "dry_run": session.dry_run,
    }
    if session.dry_run:
        return dry_run_done(session, plan, report)
    with session.change() as change:
        change.channel, change.version, change.fingerprint = Channel.STABLE, beta.version, beta.fingerprint
        if skip:
            change.result = "skip"
            change.details.append("same fingerprint already promoted; nothing transferred")
            session.say(
                f"skip: stable already is {beta.version} ({beta.fingerprint[:12]}); nothing transferred"
            )
        else:
            if forced is not None:
                change.result = "forced"
                change.details.append(forced)
                session.say(f"[yellow]warning:[/] {forced}")
            if released is None:
                stable = stable.model_copy(update={"promoted_at": session.clock()})
            change.details.append(f"update controls: {describe_manifest(stable)}")
            scratch_root = target.path(target.archive_dir) / "tmp"
            scratch_root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
                report["transfers"] = _copy(session, plan, beta, Path(scratch))
            _, report["body"] = write_body(session, plan, stable.release_notes, target.notes_name)
            if released is None:
                write(versioned_path(target, beta.version), stable)
                write(stable_path(target), stable)
                session.say(
                    f"wrote {stable_path(target).name} and {versioned_path(target, beta.version).name}"
                )
            else:
                write(stable_path(target), stable)
                session.say(f"wrote {stable_path(target).name} = {versioned_path(target, beta.version).name}")
        sync(session, wait_s)
        wait_served(session, Channel.STABLE, stable)
        if not skip:
            tell(session, change, stable, report)
    session.say(
        f"nothing changed (stable already is {beta.version})"
        if skip
        else f"promoted: stable is {beta.version}"
    )
    session.emit(report | {"ok": True})
    return report
