"""One appcast item as ``SUAppcastItem`` holds it, answering host-dependent questions per host.

Rules:
- Host-dependent state (critical, informational, major upgrade, OS fit) is not baked into the
  parsed item, as ``SPUAppcastItemStateResolver`` does at parse time: the item keeps the raw
  fields and answers for a given host, so one parse serves every host.
- Each answer names the Sparkle source (sparkle-project/Sparkle, 2.x) it is ported from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..item import ItemFields
from ..version import compare_versions

__all__ = ["AppcastError", "SkippedUpdate", "SparkleItem", "minimum_autoupdate_ok"]


class AppcastError(ValueError):
    """The bytes are not an appcast a Sparkle client would accept; ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class SkippedUpdate:
    """What the user chose to skip (``SPUSkippedUpdate``): a minor version and/or a major version."""

    minor_version: str | None = None
    major_version: str | None = None
    major_subrelease_version: str | None = None


@dataclass(frozen=True, slots=True)
class SparkleItem(ItemFields):
    """One ``<item>`` as ``SUAppcastItem`` holds it (URLs resolved, enclosure attributes first); the
    fields the renderer writes too are :class:`~schemas.item.ItemFields`'."""

    installation_type: str = "application"
    os: str | None = None
    delta_from: str | None = None
    date_string: str | None = None
    full_release_notes_link: str | None = None
    info_url: str | None = None
    maximum_system_version: str | None = None
    ignore_skipped_upgrades_below_version: str | None = None
    informational_update_versions: frozenset[str] | None = None
    critical_version: str | None = None
    deltas: tuple[SparkleItem, ...] = field(default=())

    @property
    def display_version(self) -> str:
        """``displayVersionString``: the short version, else the version."""
        return self.short_version if self.short_version is not None else self.version

    @property
    def is_macos(self) -> bool:
        # SUAppcastItem.m isMacOsUpdate: no sparkle:os, or exactly "macos" (SUAppcastAttributeValueMacOS).
        return self.os is None or self.os == "macos"

    @property
    def is_delta(self) -> bool:
        # SUAppcastItem.m isDeltaUpdate: the enclosure carries sparkle:deltaFrom.
        return self.delta_from is not None

    def is_critical(self, host_version: str) -> bool:
        # SPUAppcastItemStateResolver.m isCriticalUpdateWithCriticalUpdateDictionary: critical for
        # every host unless sparkle:version is given, then only for hosts older than it.
        if not self.critical_update:
            return False
        if self.critical_version is None:
            return True
        return compare_versions(host_version, self.critical_version) < 0

    def is_informational(self, host_version: str) -> bool:
        # SPUAppcastItemStateResolver.m isInformationalUpdateWithInformationalUpdateVersions.
        versions = self.informational_update_versions
        if versions is None:
            return False
        if not versions or host_version in versions:
            return True
        return any(v.startswith("<") and compare_versions(host_version, v[1:]) < 0 for v in versions)

    def is_major_upgrade(self, host_version: str) -> bool:
        # SPUAppcastItemStateResolver.m: majorUpgrade = !isMinimumAutoupdateVersionOK.
        return not minimum_autoupdate_ok(self.minimum_autoupdate_version, host_version)

    def os_ok(self, os_version: str) -> bool:
        # SPUAppcastItemStateResolver.m isMinimum/MaximumOperatingSystemVersionOK (empty = no bound).
        low, high = self.minimum_system_version, self.maximum_system_version
        if low and compare_versions(low, os_version) > 0:
            return False
        return not (high and compare_versions(high, os_version) < 0)

    def delta_for(self, host_version: str) -> SparkleItem | None:
        # SUAppcastDriver.m deltaUpdateFromAppcastItem: deltaUpdates[hostVersion], an exact key.
        return next((d for d in self.deltas if d.delta_from == host_version), None)


def minimum_autoupdate_ok(minimum: str | None, host_version: str) -> bool:
    # SPUAppcastItemStateResolver.m isMinimumAutoupdateVersionOK:hostVersion:versionComparator:.
    return not minimum or compare_versions(host_version, minimum) >= 0
