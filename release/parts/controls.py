"""Update controls a release carries: phased rollout, critical update, minimum autoupdate version.

Rules:
- Options are parsed here, once, for ``publish --channel beta`` and ``promote``; anything malformed
  is one line naming the option (exit 2) before anything is read or written.
- ``--critical-below`` goes with ``--critical``; a version given to ``--critical-below`` or
  ``--minimum-autoupdate-version`` is strict X.Y.Z.W and not newer than the release it is set on
  (Sparkle would treat every host as below it: SPUAppcastItemStateResolver.m).
- Promote carries the beta's controls and overrides only those given on its command line, so what
  was validated on staging is what stable gets unless the operator says otherwise.
- ``describe`` is the one text form: the dry-run line, the journal detail, status and verify rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from release.errors import ReleaseError
from schemas import CriticalUpdate, Manifest, SparkleItem, compare_versions, parse_version
from schemas.models import MAX_ROLLOUT_INTERVAL_S

__all__ = [
    "UpdateControls",
    "describe",
    "describe_manifest",
    "manifest_controls",
    "parse_controls",
    "served_controls",
]


@dataclass(frozen=True)
class UpdateControls:
    """What the command line asked for; None means "not given" (promote keeps the beta's value)."""

    phased_rollout_interval: int | None = None
    critical: bool = False
    critical_below: str | None = None
    minimum_autoupdate_version: str | None = None

    @property
    def given(self) -> bool:
        return (
            self.phased_rollout_interval is not None
            or self.critical
            or self.minimum_autoupdate_version is not None
        )


def _version(option: str, value: str) -> str:
    try:
        return parse_version(value.strip())
    except ValueError:
        raise ReleaseError(f"{option} {value!r}: use a version X.Y.Z.W (e.g. 2.0.0.15)") from None


def parse_controls(
    *,
    phased_rollout_interval: str | None = None,
    critical: bool = False,
    critical_below: str | None = None,
    minimum_autoupdate_version: str | None = None,
) -> UpdateControls:
    interval = None
    if phased_rollout_interval is not None:
        text = phased_rollout_interval.strip()
        if not text.isdigit() or not 0 < int(text) <= MAX_ROLLOUT_INTERVAL_S:
            raise ReleaseError(
                f"--phased-rollout-interval {phased_rollout_interval!r}: use whole seconds from 1 to "
                f"{MAX_ROLLOUT_INTERVAL_S} (a day is 86400)"
            )
        interval = int(text)
    below = None
    if critical_below is not None:
        if not critical:
            raise ReleaseError(
                "--critical-below goes with --critical (it limits which hosts it is critical for)"
            )
        below = _version("--critical-below", critical_below)
    minimum = None
    if minimum_autoupdate_version is not None:
        minimum = _version("--minimum-autoupdate-version", minimum_autoupdate_version)
    return UpdateControls(interval, critical, below, minimum)


def manifest_controls(controls: UpdateControls, version: str, base: Manifest | None = None) -> dict[str, Any]:
    """The manifest fields for ``version``: ``base``'s controls with the given ones laid over them."""
    for option, value in (
        ("--critical-below", controls.critical_below),
        ("--minimum-autoupdate-version", controls.minimum_autoupdate_version),
    ):
        if value is not None and compare_versions(value, version) > 0:
            raise ReleaseError(
                f"{option} {value} is newer than the release {version}: every host is below it"
            )
    fields: dict[str, Any] = {
        "phased_rollout_interval": base.phased_rollout_interval if base else None,
        "critical_update": base.critical_update if base else None,
        "minimum_autoupdate_version": base.minimum_autoupdate_version if base else None,
    }
    if controls.phased_rollout_interval is not None:
        fields["phased_rollout_interval"] = controls.phased_rollout_interval
    if controls.critical:
        fields["critical_update"] = CriticalUpdate(below=controls.critical_below)
    if controls.minimum_autoupdate_version is not None:
        fields["minimum_autoupdate_version"] = controls.minimum_autoupdate_version
    return fields


def describe(
    phased_rollout_interval: int | None,
    critical: bool,
    critical_below: str | None,
    minimum_autoupdate_version: str | None,
) -> str:
    parts = []
    if phased_rollout_interval is not None:
        parts.append(f"phased rollout every {phased_rollout_interval}s")
    if critical:
        parts.append(f"critical below {critical_below}" if critical_below else "critical")
    if minimum_autoupdate_version is not None:
        parts.append(f"minimum autoupdate {minimum_autoupdate_version}")
    return ", ".join(parts) or "none"


def describe_manifest(manifest: Manifest) -> str:
    critical = manifest.critical_update
    return describe(
        manifest.phased_rollout_interval,
        critical is not None,
        critical.below if critical is not None else None,
        manifest.minimum_autoupdate_version,
    )


def served_controls(items: Iterable[SparkleItem], build: str) -> tuple[SparkleItem, str] | None:
    """The feed's item for ``build`` and its update controls as ``describe`` words them; None when
    the feed has no item for that build (``status`` and ``verify`` compare it with the manifest)."""
    item = next((i for i in items if i.version == build), None)
    if item is None:
        return None
    shown = describe(
        item.phased_rollout_interval,
        item.critical_update,
        item.critical_version,
        item.minimum_autoupdate_version,
    )
    return item, shown
