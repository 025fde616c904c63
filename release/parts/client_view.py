"""What a Sparkle client is offered by a feed we check (``verify`` and ``staging.validate``).

Rules:
- The feed is judged by :func:`schemas.best_item`, Sparkle 2's own choice, not by its first item:
  a release is served only if the client is offered exactly that release's item.
- The client is a host on the previous stable version: the newest build in the repo's stable
  manifest and history (``manifest_<version>.json``) that is older than the release, else ``0``
  (no earlier release: any older host). Said in words: "a client older than every release", or
  "a client on the previous release, build N".
- Its macOS is the release manifest's ``minimum_system_version``; without one, the oldest macOS the
  feed serves anyone (the lowest ``sparkle:minimumSystemVersion`` among its items), because a
  release that states no minimum must reach every client the feed reaches. With no minimum
  anywhere, any macOS.
- The check is a user-started one (no phase group): Sparkle then treats every phased item as
  rolled out, so a phased release is checked as the item that group 6 gets at the end. No channel
  is allowed: Nexy's channels are separate feeds, so a client reads every item of its feed.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.parts.desired import manifests_dir, read_stable, read_versioned
from schemas import Manifest, SparkleItem, Target, best_item, compare_versions
from schemas.version import VERSION_RE

__all__ = ["Client", "client_for", "offered_release"]

_ANY_OS = "0"
_NO_RELEASE = "0"  # Sparkle's comparator puts "0" below every real build


@dataclass(frozen=True, slots=True)
class Client:
    host_version: str
    os_version: str

    def __str__(self) -> str:
        # Said in words: "a client on 0" read as a version 0 nobody ships.
        system = "any macOS" if self.os_version == _ANY_OS else f"macOS {self.os_version}"
        if self.host_version == _NO_RELEASE:
            return f"a client older than every release (on {system})"
        return f"a client on the previous release, build {self.host_version} (on {system})"


def _previous_build(target: Target, release: Manifest) -> str:
    builds = [stable.build] if (stable := read_stable(target)) is not None else []
    for path in manifests_dir(target).glob("manifest_*.json"):
        version = path.name[len("manifest_") : -len(".json")]
        if VERSION_RE.fullmatch(version) and (released := read_versioned(target, version)) is not None:
            builds.append(released.build)
    previous = _NO_RELEASE
    for build in builds:
        if compare_versions(build, release.build) < 0 and compare_versions(build, previous) > 0:
            previous = build
    return previous


def _oldest_minimum(items: list[SparkleItem]) -> str:
    oldest: str | None = None
    for item in items:
        minimum = item.minimum_system_version
        if minimum and (oldest is None or compare_versions(minimum, oldest) < 0):
            oldest = minimum
    return oldest or _ANY_OS


def client_for(target: Target, release: Manifest, items: list[SparkleItem]) -> Client:
    """The client a release is checked for (see the module rules); reads the repo's manifests."""
    os_version = release.minimum_system_version or _oldest_minimum(items)
    return Client(host_version=_previous_build(target, release), os_version=os_version)


def offered_release(
    target: Target, release: Manifest, items: list[SparkleItem]
) -> tuple[SparkleItem | None, str]:
    """(the release's item if the client is offered it, else None; one line saying what is offered)."""
    client = client_for(target, release, items)
    offered = best_item(items, host_version=client.host_version, os_version=client.os_version)
    wanted = f"{release.version} build {release.build}"
    if offered is None:
        return None, f"{client} is offered no update, not {wanted}"
    shown = f"{offered.display_version} build {offered.version}"
    if offered.version != release.build:
        return None, f"{client} is offered {shown}, not {wanted}"
    return offered, f"{client} is offered {shown}"
