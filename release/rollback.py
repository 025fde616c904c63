"""``rollback --to X.Y.Z.W --yes``: republish an archived stable release into the fixed channels.

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
"""

from __future__ import annotations

from typing import Any

from schemas import Channel, Manifest, Target, atomic_write, parse_version

from .artifacts import archive_has, archive_object
from .desired import manifests_dir, read_stable, read_versioned, stable_path, write
from .errors import ReleaseError
from .flow import asset_map, base_url, dry_run_done, state_change, sync, sync_step, upload, wait_served
from .hashing import hash_file
from .session import Session

__all__ = ["WARNING", "rollback"]

WARNING = (
    "Sparkle never downgrades: clients that already installed a newer build keep it. "
    "To fix them, roll forward: bump to a newer version with the fix, publish --channel beta, "
    "staging.validate, promote."
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


def rollback(session: Session, to: str, *, yes: bool = False, wait_s: float = 60.0) -> dict[str, Any]:
    target = session.target
    try:
        version = parse_version(to)
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    manifest = read_versioned(target, version)
    if manifest is None:
        known = sorted(p.name[len("manifest_") : -5] for p in manifests_dir(target).glob("manifest_*.json"))
        known = [name for name in known if name != "beta"]
        raise ReleaseError(f"no manifest_{version}.json; released versions: {', '.join(known) or 'none'}")
    _check_history(session, manifest, version)
    objects = _objects(session, manifest)
    if not yes and not session.dry_run:
        raise ReleaseError(
            f"rollback replaces what stable clients are offered with {version}; rerun with --yes"
        )
    current = read_stable(target)
    steps = [f"upload archived {role} {sha[:12]} into stable" for role, sha in objects.items()]
    steps += [
        f"write {stable_path(target).name} = manifest_{version}.json (was {current.version if current else 'none'})"
    ]
    steps += [sync_step(session)]
    steps += [f"wait until {base_url(target, Channel.STABLE)}/updates/health reports {version}"]
    session.say(f"[yellow]warning:[/] {WARNING}")
    report: dict[str, Any] = {
        "version": version,
        "from": current.version if current else None,
        "steps": steps,
        "dry_run": session.dry_run,
        "warning": WARNING,
    }
    if session.dry_run:
        return dry_run_done(session, steps, report)
    sizes = {"dmg": manifest.artifact.size, "pkg": manifest.installer.size}
    with state_change(session) as change:
        change.channel, change.version, change.fingerprint = Channel.STABLE, version, manifest.fingerprint
        change.details.append(f"rollback from {current.version if current else 'none'}")
        for role, tag, name in asset_map(target, Channel.STABLE):
            sha = objects.get(role)
            if sha is None:
                continue
            result = upload(session, tag, name, archive_object(target, sha), sha256=sha, size=sizes[role])
            session.say(f"{'restored' if result.transferred else 'already there'}: {tag}/{name} ({sha[:12]})")
        _restore_notes(session, manifest)
        write(stable_path(target), manifest)
        session.say(f"wrote {stable_path(target).name} = manifest_{version}.json")
        sync(session, wait_s)
        wait_served(session, Channel.STABLE, version)
    session.say(f"rolled back stable to {version}")
    session.emit(report | {"ok": True})
    return report


def _restore_notes(session: Session, manifest: Manifest) -> None:
    """Put the release's notes back beside the dmg, from the manifest's own text."""
    target = session.target
    tag = target.channels.stable.dmg_tag
    scratch = target.path(target.archive_dir) / "tmp" / f"notes-{manifest.version}.md"
    scratch.parent.mkdir(parents=True, exist_ok=True)

    atomic_write(scratch, manifest.release_notes.encode("utf-8") or b"\n")
    try:
        sha, size = hash_file(scratch)
        session.store.upload(tag, target.notes_name, scratch, sha256=sha, size=size)
    finally:
        scratch.unlink(missing_ok=True)
