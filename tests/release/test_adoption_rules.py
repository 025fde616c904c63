"""The adoption arithmetic: Sparkle's phased-rollout rule, baselines, restarts, the bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from release.errors import ReleaseError
from release.parts.adoption import PHASED_GROUPS, manifest_phased, parse_since, phased_rollout, shares
from release.steps.adoption import phased_text
from schemas.adoption import MAX_VERSIONS, bounded_counts, checks_since
from schemas.models import CriticalUpdate
from tests.reconciler.helpers import make_manifest

PUB = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = 86400


def _sparkle_ready(group: int, interval_s: int, now: datetime) -> bool:
    # Sparkle/SUAppcastDriver.m, itemIsReadyForPhasedRollout: a background check offers the item
    # once timeSinceRelease >= phasedRolloutInterval * phasedUpdateGroup (groups 0..6,
    # Sparkle/SUPhasedUpdateGroupInfo.m NUM_UPDATE_GROUPS 7).
    return (now - PUB).total_seconds() >= interval_s * group


@pytest.mark.parametrize(
    ("after_s", "eligible", "next_in_s"),
    [
        (0, 1, DAY),  # group 0 is offered the update at once
        (DAY - 1, 1, DAY),
        (DAY, 2, 2 * DAY),
        (3 * DAY + 5, 4, 4 * DAY),
        (6 * DAY - 1, 6, 6 * DAY),
        (6 * DAY, 7, None),  # the last group: every client
        (90 * DAY, 7, None),
        (-60, 0, 0),  # a pubDate in the future holds every group back
    ],
)
def test_phased_groups_follow_sparkles_rule(after_s: int, eligible: int, next_in_s: int | None) -> None:
    now = PUB + timedelta(seconds=after_s)
    rollout = phased_rollout(PUB, DAY, now)
    assert rollout.eligible == eligible
    assert rollout.next_at == (None if next_in_s is None else PUB + timedelta(seconds=next_in_s))
    # Group by group, the eligible ones are exactly those Sparkle's own expression lets through.
    assert [g < rollout.eligible for g in range(PHASED_GROUPS)] == [
        _sparkle_ready(g, DAY, now) for g in range(PHASED_GROUPS)
    ]


def test_checks_since_a_baseline_and_after_a_restart() -> None:
    now = {"2.0.0.15": 30, "2.0.0.14": 40, "other": 7}
    assert checks_since(now, {"2.0.0.14": 22, "other": 5}) == (
        {"2.0.0.15": 30, "2.0.0.14": 18, "other": 2},
        False,
    )
    assert checks_since(now, None) == (now, False)
    # A counter below its baseline: the feed restarted, its counts stand alone.
    assert checks_since({"2.0.0.15": 3}, {"2.0.0.15": 10}) == ({"2.0.0.15": 3}, True)


def test_the_bound_keeps_the_same_versions_in_both_scrapes() -> None:
    now = {f"2.0.0.{i}": 100 + i for i in range(MAX_VERSIONS + 3)} | {"other": 4}
    base = {f"2.0.0.{i}": i for i in range(MAX_VERSIONS + 3)} | {"other": 1}
    kept_now, kept_base = bounded_counts(now), bounded_counts(base, keep=now)
    assert len(kept_now) == MAX_VERSIONS + 1 and kept_now.keys() == kept_base.keys()
    assert sum(kept_now.values()) == sum(now.values()) and sum(kept_base.values()) == sum(base.values())
    since, reset = checks_since(kept_now, kept_base)
    assert not reset and sum(since.values()) == sum(now.values()) - sum(base.values())


def test_shares_leave_other_out() -> None:
    rows, other = shares({"2.0.0.15": 3, "2.0.0.14": 1, "other": 9, "2.0.0.13": 0})
    assert [(r.version, r.checks, r.share) for r in rows] == [("2.0.0.15", 3, 0.75), ("2.0.0.14", 1, 0.25)]
    assert other == 9


def test_since_is_promote_or_a_duration() -> None:
    assert parse_since("promote") is None
    assert parse_since("90m") == timedelta(minutes=90) and parse_since("2d") == timedelta(days=2)
    for bad in ("0h", "1y", "yesterday", ""):
        with pytest.raises(ReleaseError, match="use promote or a duration"):
            parse_since(bad)


def test_the_manifest_decides_the_rollout_and_its_line() -> None:
    manifest = make_manifest("2.0.0.15").model_copy(
        update={"phased_rollout_interval": DAY, "promoted_at": PUB, "published_at": PUB - timedelta(days=3)}
    )
    # The pubDate is the promote's (schemas.appcast), not the beta publish's.
    rollout = manifest_phased(manifest, PUB + timedelta(days=1, hours=12))
    assert rollout is not None and (rollout.eligible, rollout.next_at) == (2, PUB + timedelta(days=2))
    assert phased_text(rollout) == (
        "phased rollout: every 86400 s; groups 0-1 of 0-6 eligible (2/7 of clients, background "
        "checks; manual checks always); next group at 2026-12-03 12:00 UTC"
    )
    critical = manifest.model_copy(update={"critical_update": CriticalUpdate()})
    assert manifest_phased(critical, PUB) is None  # never held back (SUAppcastDriver.m)
    assert manifest_phased(make_manifest("2.0.0.15"), PUB) is None
    assert phased_text(None) == "phased rollout: none (every client is offered the update)"
