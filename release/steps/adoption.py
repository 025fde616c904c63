"""``adoption``: the share of appcast checks by client version since the last promote (or a duration).

Rules:
- Exactly one remote call: the VM's ``status`` (``reconciler status --result``) carries the feeds'
  appcast checks read at that moment and the baseline ``accept`` recorded when the channel's
  version last changed (``schemas.adoption``); the sandbox's local remote runs the same CLI.
- ``--since promote`` (the default): checks since that baseline, named by the journal's last
  promote (beta: publish) of the channel; ``--since DURATION``: since the newest scrape this
  workstation logged at least that long ago (``release.parts.adoption``), else one error line.
- The version offered is what the channel's feed serves (``/updates/health``); during a phased
  rollout the eligible groups follow Sparkle's rule (``release.parts.adoption.phased_rollout``).
- Read-only on the VM; the only write is the workstation's scrape log (scratch, bounded).
- ``status_line`` is the one adoption line ``status`` prints, from the status it already has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from release.errors import CHECK_FAILED, ReleaseError
from release.parts.adoption import (
    PHASED_GROUPS,
    PhasedRollout,
    Scrape,
    append_scrape,
    manifest_phased,
    parse_since,
    read_scrapes,
    shares,
)
from release.parts.desired import read_beta, read_stable
from release.parts.journal import read_entries
from release.parts.session import Session
from release.steps.flow import served_version
from schemas import Channel, Status
from schemas.adoption import ChannelAdoption, checks_since

__all__ = ["adoption", "phased_text", "status_line"]

# The task that changes each channel's desired version (and so its baseline on the VM).
_RELEASED_BY = {Channel.STABLE: "promote", Channel.BETA: "publish"}


def _figures(status: Status, channel: Channel) -> ChannelAdoption:
    figures = status.adoption.get(channel.value)
    if figures is None:
        raise ReleaseError(
            f"adoption: the VM reports no {channel.value} checks: the reconciler config's "
            f"probes.{'production' if channel is Channel.STABLE else 'staging'}.metrics_url is not set "
            "(the feed's --metrics-port), see docs/runbook.md#adoption",
            CHECK_FAILED,
        )
    if figures.now.error:
        raise ReleaseError(f"adoption: the feed's metrics did not answer: {figures.now.error}", CHECK_FAILED)
    return figures


def _last_release(session: Session, channel: Channel) -> tuple[datetime | None, str | None]:
    task = _RELEASED_BY[channel]
    for entry in reversed(read_entries(session.target)):
        if entry.task == task and entry.result in ("ok", "forced") and entry.channel in (channel, None):
            return entry.at, str(entry.version) if entry.version else None
    return None, None


def _baseline(
    session: Session, channel: Channel, figures: ChannelAdoption, since: str
) -> tuple[dict[str, int] | None, dict[str, Any]]:
    """The counts to subtract and what they are (for the title and the JSON)."""
    window = parse_since(since)
    if window is None:
        at, version = _last_release(session, channel)
        base = figures.baseline
        about: dict[str, Any] = {
            "since": _RELEASED_BY[channel],
            "journal_at": at.isoformat() if at else None,
            "journal_version": version,
            "baseline_at": base.at.isoformat() if base else None,
            "baseline_version": base.version if base else None,
        }
        return (base.counts if base else None), about
    cutoff = figures.now.at - window
    older = [s for s in read_scrapes(session.target) if s.channel == channel.value and s.at <= cutoff]
    if not older:
        raise ReleaseError(
            f"--since {since}: no {channel.value} figures were read on this workstation before "
            f"{cutoff:%Y-%m-%d %H:%M} UTC (each adoption run keeps one): use --since promote"
        )
    return older[-1].counts, {"since": since, "baseline_at": older[-1].at.isoformat()}


def _phased(session: Session, channel: Channel, now: datetime) -> PhasedRollout | None:
    manifest = read_stable(session.target) if channel is Channel.STABLE else read_beta(session.target)
    return None if manifest is None else manifest_phased(manifest, now)


def phased_text(rollout: PhasedRollout | None) -> str:
    if rollout is None:
        return "phased rollout: none (every client is offered the update)"
    groups = "none yet" if rollout.eligible == 0 else f"groups 0-{rollout.eligible - 1}"
    text = (
        f"phased rollout: every {rollout.interval_s} s; {groups} of 0-{PHASED_GROUPS - 1} eligible "
        f"({rollout.eligible}/{PHASED_GROUPS} of clients, background checks; manual checks always)"
    )
    return text + (f"; next group at {rollout.next_at:%Y-%m-%d %H:%M} UTC" if rollout.next_at else "")


def _since_text(about: dict[str, Any]) -> str:
    if about["since"] in _RELEASED_BY.values():
        version = about.get("baseline_version") or about.get("journal_version")
        at = about.get("baseline_at") or about.get("journal_at")
        if at is None:
            return "since the feed started (no baseline recorded yet)"
        return f"since {about['since']} of {version} at {at[:16].replace('T', ' ')} UTC"
    return f"in the last {about['since']} (since {about['baseline_at'][:16].replace('T', ' ')} UTC)"


def adoption(session: Session, channel: Channel, since: str = "promote") -> dict[str, Any]:
    parse_since(since)  # bad input is one line before the VM is asked
    if session.dry_run:
        session.say(f"plan: ask {session.remote.describe()} (one call) and the {channel.value} feed")
        session.emit({"dry_run": True})
        return {}
    status = session.remote.status()
    figures = _figures(status, channel)
    now = figures.now.at
    base, about = _baseline(session, channel, figures, since)
    append_scrape(session.target, Scrape(at=now, channel=channel.value, counts=dict(figures.now.counts)))
    counts, reset = checks_since(figures.now.counts, base)
    rows, other = shares(counts)
    offered, _detail = served_version(session, channel)
    rollout = _phased(session, channel, now)
    total = sum(row.checks for row in rows)
    table = Table(title=f"adoption ({channel.value}) {_since_text(about)}", title_justify="left")
    table.add_column("version", no_wrap=True)
    table.add_column("checks", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    for row in rows:
        mark = " ← offered" if row.version == offered else ""
        table.add_row(row.version + mark, str(row.checks), f"{row.share:.1%}")
    notes = [
        f"offered: {offered or 'unknown (the feed did not answer)'}; {total} Sparkle checks",
        f"other: {other} checks without a Sparkle User-Agent (probes, curl) or beyond the feed's bound",
        phased_text(rollout),
    ]
    if reset:
        notes.append("[yellow]the feed restarted since the baseline:[/] counts since its start")
    document = {
        "channel": channel.value,
        **about,
        "at": now.isoformat(),
        "offered": offered,
        "total": total,
        "other": other,
        "counters_reset": reset,
        "versions": [{"version": r.version, "checks": r.checks, "share": r.share} for r in rows],
        "phased_rollout": None
        if rollout is None
        else {
            "interval_s": rollout.interval_s,
            "eligible_groups": rollout.eligible,
            "groups": PHASED_GROUPS,
            "next_at": rollout.next_at.isoformat() if rollout.next_at else None,
        },
    }
    session.finish(table, document, notes=notes)
    return document


def status_line(status: Status | None) -> str | None:
    """``status``'s one adoption line (stable, since its baseline), or None without figures."""
    figures = status.adoption.get("stable") if status is not None else None
    if figures is None:
        return None
    if figures.now.error:
        return f"adoption (stable): the feed's metrics did not answer ({figures.now.error})"
    counts, _reset = checks_since(figures.now.counts, figures.baseline.counts if figures.baseline else None)
    rows, _other = shares(counts)
    since = f"since {figures.baseline.version}'s promote" if figures.baseline else "since the feed started"
    parts = ", ".join(f"{row.version} {row.share:.0%}" for row in rows[:4]) or "no Sparkle checks yet"
    return f"adoption (stable, {since}): {parts} of {sum(r.checks for r in rows)} checks"
