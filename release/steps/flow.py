"""Pieces every state-changing task shares: the asset map, the plan, the upload, the sync, the served
wait. (The workstation lock and the journal are the session's: ``release.parts.session``.)

Rules:
- ``sync`` is exactly one remote call: the whole desired bundle, and with a wait the VM answers
  only after converging. A refused or unconverged bundle is exit 1 naming the resources.
- "Served" means the feed reports it over HTTPS at ``/updates/health``: ``wait_served`` waits for
  the manifest (``FeedHealth.serves``: version and dmg sha256), ``served_version`` tells the version.
- A dry run ends in ``dry_run_done``: the plan's steps as ``plan:`` lines (stderr under ``--json``),
  one "nothing was changed" line, and the report as the one JSON document. Where a task builds a
  ``Plan`` (promote, rollback), the real run executes that same plan (``release.parts.plan``).
- Every upload goes through ``upload``: one progress bar per asset (stderr; off under ``--json``).
- The stable fixed release's body (its description on GitHub) is one plan action, ``body``
  (``body_action``: skip when the listing already holds the text, check when the store reports no
  body), carried out by ``write_body`` through ``Store.set_notes``: promote writes the new
  release's notes, rollback the notes of the version it puts back, so the page never describes
  other bytes than it serves.
- A release that changed something ends in ``tell`` (``release.parts.announce``): each sink's
  outcome is a line (a warning when it failed), a journal detail and the report's ``announce``;
  it never fails the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.probes import get_health, wait_until
from release.outside.store.base import FixedRelease, UploadResult
from release.parts.announce import announce
from release.parts.desired import to_bundle
from release.parts.plan import Action, Plan
from release.parts.session import Change, Session
from schemas import AcceptReport, Channel, FeedHealth, Manifest, Target

__all__ = [
    "SYNC_WAIT_S",
    "appcast_url",
    "asset_map",
    "base_url",
    "beta_appcast_url",
    "dry_run_done",
    "served_version",
    "sync",
    "sync_step",
    "tell",
    "upload",
    "wait_served",
]

SYNC_WAIT_S = 60.0
"""How long a syncing task lets the VM converge (every task's ``wait_s`` default)."""
SERVED_WAIT_S = 60.0


def base_url(target: Target, channel: Channel) -> str:
    """The feed endpoint serving ``channel`` (production for stable, staging for beta), no trailing slash."""
    return str(target.endpoint(channel).url).rstrip("/")


def asset_map(target: Target, channel: Channel) -> list[tuple[str, str, str]]:
    """(role, tag, asset name) of a channel: the dmg and notes in the dmg tag, the pkg in its own."""
    tags = target.channels.tags(channel)
    return [
        ("dmg", tags.dmg_tag, target.dmg_name),
        ("pkg", tags.pkg_tag, target.pkg_name),
        ("notes", tags.dmg_tag, target.notes_name),
    ]


def body_action(target: Target, listing: FixedRelease, notes: str, source: str) -> Action:
    """The plan's ``body`` action: make ``notes`` (``source`` names them) the stable release's body."""
    text = f"write the body of release {target.channels.stable.dmg_tag} from {source}"
    why = "it already is that text"
    if listing.body is None:
        return Action("body", text, "check", why)
    return Action("body", text, "skip" if listing.body == notes else "do", why)


def write_body(session: Session, plan: Plan, notes: str, source: str) -> tuple[bool, str]:
    """Carry out the plan's ``body`` action; whether the body changed, and what was done as a line."""
    tag = session.target.channels.stable.dmg_tag
    written = plan.wants("body") and session.store.set_notes(tag, notes)
    done = (
        f"wrote the body of release {tag} from {source}"
        if written
        else f"skipped the body of release {tag}: it already is {source}"
    )
    session.say(done)
    return written, done


def sync_step(session: Session) -> str:
    """The plan line every syncing task shows (its one remote call)."""
    return f"sync the desired bundle to {session.remote.describe()} (one remote call)"


def dry_run_done(session: Session, steps: list[str] | Plan, report: dict[str, Any]) -> dict[str, Any]:
    if isinstance(steps, Plan):
        steps = steps.lines()
    for step in steps:
        session.say(f"plan: {step}")
    session.say("dry run: nothing was changed")
    session.emit(report)
    return report


def upload(session: Session, tag: str, name: str, source: Path, *, sha256: str, size: int) -> UploadResult:
    with session.progress(f"upload {tag}/{name}", size) as advance:
        return session.store.upload(tag, name, source, sha256=sha256, size=size, progress=advance)


def sync(session: Session, wait_s: float = SYNC_WAIT_S) -> AcceptReport:
    bundle = to_bundle(session.target)
    session.say(f"sync: sending the desired bundle {bundle.digest()[:12]} to {session.remote.describe()}")
    retry = (
        f"the desired state is saved in {session.target.manifests_dir}/: run ./inv sync once the VM answers"
    )
    try:
        result = session.remote.accept(bundle, wait_s=wait_s)
    except ReleaseError as exc:
        raise ReleaseError(f"{exc}; {retry}", exc.code) from None
    if not result.ok:
        raise ReleaseError(
            f"the VM refused the desired state: {result.error or 'no reason given'}", CHECK_FAILED
        )
    if result.daemon == "not running":
        # Said apart from "did not converge": nothing waited, and only starting the daemon helps.
        raise ReleaseError(
            "the VM saved the desired state, but no reconciler daemon is running there to apply it: "
            "start it (systemctl start nexy-reconciler; on the sandbox ./inv sandbox.up), then ./inv sync",
            CHECK_FAILED,
        )
    if wait_s > 0 and result.converged is False:
        behind = ", ".join(f"{name}={state}" for name, state in result.behind().items()) or (
            "every resource settled, but the VM still reports the previous desired state"
        )
        raise ReleaseError(
            f"the VM accepted but did not converge within {wait_s:.0f}s: {behind}; "
            "see ./inv status, then ./inv sync",
            CHECK_FAILED,
        )
    changed = ", ".join(result.changed) or "nothing (already there)"
    session.say(f"sync: the VM accepted; changed {changed}")
    return result


def appcast_url(target: Target, channel: Channel) -> str:
    return target.appcast_url(channel)


def beta_appcast_url(target: Target) -> str:
    return appcast_url(target, Channel.BETA)


def _served(session: Session, channel: Channel) -> tuple[FeedHealth | None, str]:
    return get_health(session.http, base_url(session.target, channel) + "/updates/health", FeedHealth)


def served_version(session: Session, channel: Channel) -> tuple[str | None, str]:
    """The version ``channel`` serves (None with why when it cannot be told)."""
    document, detail = _served(session, channel)
    return (document.version(channel), detail) if document else (None, detail)


def wait_served(
    session: Session, channel: Channel, manifest: Manifest, deadline_s: float = SERVED_WAIT_S
) -> None:
    """Until ``channel`` serves ``manifest`` (``FeedHealth.serves``: its version and dmg sha256)."""

    def check() -> tuple[bool, str]:
        document, detail = _served(session, channel)
        if document is None:
            return False, detail
        release = document.release(channel)
        shown = f"serves {release.version} (sha256 {release.sha256[:12]}…)" if release else "serves nothing"
        return document.serves(channel, manifest), shown

    ok, detail = wait_until(check, deadline_s)
    endpoint = base_url(session.target, channel)
    if not ok:
        raise ReleaseError(f"{endpoint}/updates/health still {detail} after {deadline_s:.0f}s", CHECK_FAILED)
    session.say(f"served: {endpoint}/updates/health reports {channel.value} {manifest.version}")


def tell(session: Session, change: Change, manifest: Manifest, report: dict[str, Any]) -> None:
    """Announce ``manifest`` to the target's sinks; a failure is a warning line, never the task's."""
    told = announce(session.target, session.task, manifest, session.http, session.env)
    for outcome in told:
        session.say(outcome.line() if outcome.ok else f"[yellow]warning:[/] {outcome.line()}")
        change.details.append(outcome.line())
    if told:
        report["announce"] = [outcome.as_json() for outcome in told]
