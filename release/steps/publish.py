"""``publish --channel beta``: step A of the funnel (docs/rules.md#r2).

Rules:
- Only beta: ``--channel stable`` is refused with one line naming the funnel (exit 2).
- Preflight first (without the VM items: a publish makes exactly one remote call), then stream
  sha256 and size of the inbox artifacts, keep a content-addressed archive copy of each, upload
  into the beta fixed releases (an asset whose sha256 already matches is skipped), write
  ``manifest_beta.json``, sync once, and when the gate is open wait until staging serves it.
- The version is the workspace's ``VERSION`` (set by ``bump``) and must be newer than stable
  under Sparkle's comparator, or stable clients could never be offered it after promote.
- A version already released to stable (``manifest_<version>.json`` exists) with other bytes is
  refused (exit 2): clients that took it would never be offered the rebuild. Bump instead.
- Signing: the signing key is loaded once and checked against the app's ``SUPublicEDKey`` as a
  preflight row; the dmg and pkg are each hashed and signed from one mapping in two passes
  (``release.parts.signing``), and the signatures go into the manifest (Sparkle requires EdDSA for pkg
  updates: SUUpdateValidator.m).
- Update controls (``--phased-rollout-interval``, ``--critical [--critical-below]``,
  ``--minimum-autoupdate-version``) go into the beta manifest, the plan and the journal line.
- A version already published to beta with other bytes is refused the same way (exit 2). An inbox
  dmg or pkg whose sha256 is the previous stable or beta release's fails preflight's ``fresh
  bytes`` row (exit 1) unless ``--yes`` says it is meant (the row then passes with a warning).
- ``--dry-run`` computes the same plan (hashes, signatures, store state) and changes nothing.
- The same inbox again (every asset in place, the manifest and its beta history kept, the sync
  changing nothing on the VM) is a no-op: "nothing changed (...)", journaled ``skip``.
"""

from __future__ import annotations

from typing import Any

from release.errors import ReleaseError
from release.parts.announce import plan_lines
from release.parts.artifacts import (
    InboxFile,
    archive_beta_manifest,
    archive_put,
    inbox_paths,
    refuse_rebuilt_beta,
    scan_inbox,
)
from release.parts.controls import UpdateControls, describe_manifest, manifest_controls
from release.parts.desired import beta_path, read_beta, read_gate, read_stable, refuse_rebuilt_release, write
from release.parts.inspection import inbox_minimum_system
from release.parts.session import Session
from release.parts.signing import Signer, check_signing
from release.parts.versioning import current_version
from release.steps import flow
from release.steps.flow import asset_map, base_url, dry_run_done, sync, sync_step, tell, upload, wait_served
from release.steps.preflight import run_preflight
from schemas import Channel, Manifest, compare_versions

__all__ = ["FUNNEL", "publish"]

FUNNEL = (
    "publish --channel stable is refused: the only way to stable is "
    "beta → staging.validate → promote (run publish --channel beta)"
)


def _manifest(
    session: Session, version: str, files: dict[str, InboxFile], controls: dict[str, Any]
) -> Manifest:
    target = session.target
    tags = target.channels.beta
    notes = files["notes"].path.read_text(encoding="utf-8", errors="replace")
    return Manifest.create(
        version=version,
        build=version,
        channel=Channel.BETA,
        artifact={
            "name": target.dmg_name,
            "url": target.download_url(tags.dmg_tag, target.dmg_name),
            "size": files["dmg"].size,
            "sha256": files["dmg"].sha256,
            "ed_signature": files["dmg"].ed_signature,
        },
        installer={
            "name": target.pkg_name,
            "url": target.download_url(tags.pkg_tag, target.pkg_name),
            "size": files["pkg"].size,
            "sha256": files["pkg"].sha256,
            "ed_signature": files["pkg"].ed_signature,
        },
        release_notes=notes[:65536],
        # The app's own LSMinimumSystemVersion becomes the appcast's sparkle:minimumSystemVersion.
        minimum_system_version=inbox_minimum_system(target, Channel.BETA),
        published_at=session.clock(),
        product_link=target.product_link,
        **controls,
    )


def _hash_inbox(session: Session, signer: Signer | None) -> dict[str, InboxFile]:
    paths = inbox_paths(session.target, Channel.BETA)
    total = sum(path.stat().st_size for path in paths.values() if path.is_file())
    label = "sha256 + EdDSA inbox" if signer is not None else "sha256 inbox"
    with session.progress(label, total) as advance:
        return scan_inbox(session.target, Channel.BETA, advance, signer)


def _plan_uploads(session: Session, files: dict[str, InboxFile]) -> list[dict[str, Any]]:
    plan = []
    for role, tag, name in asset_map(session.target, Channel.BETA):
        current = session.store.release(tag).asset(name)
        same = (
            current is not None and current.sha256 == files[role].sha256 and current.size == files[role].size
        )
        plan.append({"role": role, "tag": tag, "name": name, "action": "skip" if same else "upload"})
    return plan


def publish(
    session: Session,
    channel: Channel,
    wait_s: float = flow.SYNC_WAIT_S,
    controls: UpdateControls | None = None,
    yes: bool = False,
) -> dict[str, Any]:
    if channel is Channel.STABLE:
        raise ReleaseError(FUNNEL)
    target = session.target
    version = current_version(target.path(target.workspace))
    stable = read_stable(target)
    if stable is not None and compare_versions(version, stable.version) <= 0:
        raise ReleaseError(
            f"{version} is not newer than stable {stable.version}: Sparkle would never offer it; run bump first"
        )
    fields = manifest_controls(controls or UpdateControls(), version)
    signing = check_signing(target)
    checks = run_preflight(session, Channel.BETA, vm=False, signing=signing, yes=yes)
    # On success publish goes on, and its report is the one JSON document.
    failed = not all(c.ok for c in checks)
    session.finish_checks(
        f"preflight (beta, {target.name})",
        checks,
        {"ok": False, "preflight": [c.model_dump() for c in checks]} if failed else None,
        "preflight failed, nothing was published",
    )
    files = _hash_inbox(session, signing.signer)
    manifest = _manifest(session, version, files, fields)
    refuse_rebuilt_release(target, manifest)
    refuse_rebuilt_beta(target, manifest)
    previous = read_beta(target)
    # The fingerprint covers the bytes, not the notes, signatures or controls: a change to those
    # rewrites the manifest (the appcast shows them) while the validation, bound to the
    # fingerprint, still holds.
    unchanged = previous is not None and previous == manifest.model_copy(
        update={"published_at": previous.published_at}
    )
    if unchanged and previous is not None:
        manifest = previous
    uploads = _plan_uploads(session, files)
    gate = read_gate(target)
    gate_open = gate is not None and gate.enabled
    steps = [f"archive {role} {files[role].sha256[:12]} ({files[role].size} bytes)" for role in files]
    if signing.signer is not None:
        steps += [
            f"sign {files[role].path.name}: sparkle:edSignature {str(files[role].ed_signature)[:16]}… "
            f"(key {signing.signer.public_key_b64})"
            for role in ("dmg", "pkg")
        ]
    steps.append(f"update controls: {describe_manifest(manifest)}")
    steps += [f"{u['action']} {u['tag']}/{u['name']}" for u in uploads]
    steps.append(
        f"{'keep' if unchanged else 'write'} {beta_path(target).name} {version} {manifest.fingerprint[:12]}"
    )
    steps.append(sync_step(session))
    if gate_open:
        steps.append(f"wait until {base_url(target, Channel.BETA)}/updates/health serves beta {version}")
    steps += plan_lines(target)
    report: dict[str, Any] = {
        "channel": "beta",
        "version": version,
        "fingerprint": manifest.fingerprint,
        "signed": manifest.artifact.ed_signature is not None,
        "controls": describe_manifest(manifest),
        "uploads": uploads,
        "steps": steps,
        "dry_run": session.dry_run,
    }
    if session.dry_run:
        return dry_run_done(session, steps, report)
    with session.change() as change:
        change.channel, change.version, change.fingerprint = Channel.BETA, version, manifest.fingerprint
        for info in files.values():
            archive_put(target, info.path, info.sha256)
        for planned in uploads:
            info = files[planned["role"]]
            result = upload(
                session, planned["tag"], planned["name"], info.path, sha256=info.sha256, size=info.size
            )
            planned["action"] = "uploaded" if result.transferred else "skipped (same sha256)"
            session.say(f"{planned['action']}: {planned['tag']}/{planned['name']}")
        if not unchanged:
            write(beta_path(target), manifest)
            session.say(f"wrote {beta_path(target).name}: beta {version} {manifest.fingerprint[:12]}")
        recorded = archive_beta_manifest(target, manifest)  # what a staged rollback restores
        uploaded = sum(u["action"] == "uploaded" for u in uploads)
        change.details.append(f"{uploaded} uploaded")
        change.details.append(f"signed: {'yes' if manifest.artifact.ed_signature else 'no'}")
        change.details.append(f"update controls: {describe_manifest(manifest)}")
        synced = sync(session, wait_s)
        if gate_open:
            wait_served(session, Channel.BETA, manifest)
        # The same inbox again, on a VM that already had it: a no-op, journaled as one.
        noop = unchanged and not uploaded and not recorded and not synced.changed
        why = f"beta already is {version} {manifest.fingerprint[:12]}: every asset in place, manifest kept"
        if noop:
            change.result = "skip"
            change.details.insert(0, f"nothing changed ({why})")
        else:
            tell(session, change, manifest, report)
    session.say(f"nothing changed ({why})" if noop else f"published beta {version}")
    session.emit(report | {"ok": True})
    return report
