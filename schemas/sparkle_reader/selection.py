"""Choosing the update a Sparkle 2 client is offered, as ``SUAppcastDriver.m`` chooses it.

Rules:
- :func:`best_item` follows ``SUAppcastDriver``: macOS, non-delta items on allowed channels; first
  the items that pass the OS range, the phased rollout and ``minimumAutoupdateVersion``, then (only
  if none of those is newer than the host) the ones that fail the minimum autoupdate version; the
  maximum by :func:`compare_versions`, the first on ties; ``None`` unless it is newer than the host.
- No clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..version import compare_versions
from .model import SkippedUpdate, SparkleItem, minimum_autoupdate_ok

__all__ = ["best_item", "macos_items", "newest", "supported_items"]


def macos_items(items: Iterable[SparkleItem], channels: Iterable[str] = ()) -> list[SparkleItem]:
    """``filterAppcast:forMacOSAndAllowedChannels:``: macOS, not a delta, default or allowed channel."""
    allowed = set(channels)
    return [
        item
        for item in items
        if item.is_macos and not item.is_delta and (item.channel is None or item.channel in allowed)
    ]


def _ready_for_phase(
    item: SparkleItem, phase_group: int | None, now: datetime | None, host_version: str
) -> bool:
    # SUAppcastDriver.m itemIsReadyForPhasedRollout: no group (a check the user started), a
    # critical update, no interval or no readable date: ready. Otherwise group N waits N intervals.
    if phase_group is None or item.is_critical(host_version):
        return True
    if item.phased_rollout_interval is None or item.pub_date is None:
        return True
    if now is None:
        raise ValueError("a phase group needs the current time (now)")
    elapsed = (now - item.pub_date).total_seconds()
    return elapsed >= item.phased_rollout_interval * phase_group


def _skipped(item: SparkleItem, skipped: SkippedUpdate | None, host_passes_major: bool) -> bool:
    # SUAppcastDriver.m item:containsSkippedUpdate:hostPassesSkippedMajorVersion:versionComparator:.
    if skipped is None:
        return False
    major, subrelease = skipped.major_version, skipped.major_subrelease_version
    ignore_below = item.ignore_skipped_upgrades_below_version
    if (
        not host_passes_major
        and major is not None
        and item.minimum_autoupdate_version is not None
        and compare_versions(major, item.minimum_autoupdate_version) >= 0
        and (
            ignore_below is None
            or (subrelease is not None and compare_versions(subrelease, ignore_below) >= 0)
        )
    ):
        return True
    minor = skipped.minor_version
    return minor is not None and compare_versions(minor, item.version) >= 0


def supported_items(
    items: Iterable[SparkleItem],
    *,
    host_version: str,
    os_version: str,
    phase_group: int | None = None,
    now: datetime | None = None,
    skipped: SkippedUpdate | None = None,
    test_os_version: bool = True,
    test_minimum_autoupdate_version: bool = True,
) -> list[SparkleItem]:
    """``filterSupportedAppcast:phasedUpdateGroup:skippedUpdate:currentDate:hostVersion:...``."""
    major = skipped.major_version if skipped is not None else None
    host_passes_major = minimum_autoupdate_ok(major, host_version)
    return [
        item
        for item in items
        if (not test_os_version or item.os_ok(os_version))
        and _ready_for_phase(item, phase_group, now, host_version)
        and (not test_minimum_autoupdate_version or not item.is_major_upgrade(host_version))
        and not _skipped(item, skipped, host_passes_major)
    ]


def newest(items: Iterable[SparkleItem]) -> SparkleItem | None:
    """The newest item by :func:`compare_versions`, with no filtering."""
    # SUAppcastDriver.m bestItemFromAppcastItems:comparator: "if two items are equal, we must
    # select the first matching one".
    best: SparkleItem | None = None
    for candidate in items:
        if best is None or compare_versions(best.version, candidate.version) < 0:
            best = candidate
    return best


def best_item(
    items: Iterable[SparkleItem],
    *,
    host_version: str,
    os_version: str,
    channels: tuple[str, ...] = (),
    phase_group: int | None = None,
    now: datetime | None = None,
    skipped: SkippedUpdate | None = None,
) -> SparkleItem | None:
    """The update a Sparkle 2 client on ``host_version`` (its CFBundleVersion) and macOS
    ``os_version`` is offered, or ``None`` (SUAppcastDriver.m appcastDidFinishLoading:).

    ``phase_group`` is the client's phased-rollout group (0-6, ``SUPhasedUpdateGroupInfo``) for a
    background check; ``None`` is a check the user started, for which Sparkle treats every phased
    item as rolled out. The returned item is the full one; :meth:`SparkleItem.delta_for` gives the
    delta Sparkle would download instead when the host's bundle allows it.
    """
    candidates = macos_items(items, channels)
    common: dict[str, Any] = {
        "host_version": host_version,
        "os_version": os_version,
        "phase_group": phase_group,
        "now": now,
        "skipped": skipped,
    }
    best = newest(supported_items(candidates, **common))
    if best is None or compare_versions(host_version, best.version) >= 0:
        # Nothing newer passes minimumAutoupdateVersion: a major upgrade may still be offered.
        best = newest(supported_items(candidates, test_minimum_autoupdate_version=False, **common))
    if best is None or compare_versions(host_version, best.version) >= 0:
        return None
    return best
