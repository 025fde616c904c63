"""Sparkle 2 appcasts: render them from manifests, parse them back (the feed server and ``verify``).

Rules:
- Pure functions over bytes: no I/O, no clock, no global state (the Sparkle namespace is declared
  on the root element by hand instead of through ElementTree's process-wide prefix registry).
- One item per version. ``sparkle:version`` is the build, ``sparkle:shortVersionString`` the
  marketing version, ``pubDate`` is RFC 822, the enclosure carries ``url``, ``length``, ``type`` and
  ``sparkle:edSignature`` when signed; ``sparkle:installationType="package"`` marks a pkg.
- Text is escaped by the serializer and characters XML 1.0 cannot carry are dropped, so release
  notes containing ``&``, ``<`` or ``]]>`` cannot break the document.
- Parsing is :mod:`schemas.sparkle_reader` (re-exported here): it reads a feed as a Sparkle 2
  client does, and ``best_item`` picks the update that client would be offered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from .models import Artifact, Manifest
from .sparkle_reader import AppcastError, SparkleItem, best_item, parse_appcast

__all__ = [
    "DMG_TYPE",
    "PKG_TYPE",
    "SPARKLE_NS",
    "AppcastError",
    "AppcastItem",
    "SparkleItem",
    "best_item",
    "items_from_manifest",
    "manifest_item",
    "parse_appcast",
    "render_appcast",
]

SPARKLE_NS = "http://www.andymatuschak.org/xml-namespaces/sparkle"
DC_NS = "http://purl.org/dc/elements/1.1/"
DMG_TYPE = "application/x-apple-diskimage"
PKG_TYPE = "application/octet-stream"
_S = "{" + SPARKLE_NS + "}"
_INVALID_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class AppcastItem:
    """One ``<item>``: a version clients may update to."""

    version: str
    short_version: str | None = None
    title: str | None = None
    url: str | None = None
    length: int | None = None
    type: str | None = None
    ed_signature: str | None = None
    installation_type: str | None = None
    pub_date: datetime | None = None
    minimum_system_version: str | None = None
    description: str | None = None
    description_format: str | None = None
    release_notes_link: str | None = None
    channel: str | None = None


def _clean(text: str) -> str:
    return _INVALID_XML_CHARS.sub("", text)


def _sub(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {key: _clean(value) for key, value in attrib.items()})
    element.text = _clean(text)
    return element


def _rfc822(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return format_datetime(aware.astimezone(UTC))


def _render_item(channel: ET.Element, item: AppcastItem) -> None:
    element = ET.SubElement(channel, "item")
    _sub(element, "title", item.title or f"Version {item.short_version or item.version}")
    if item.pub_date is not None:
        _sub(element, "pubDate", _rfc822(item.pub_date))
    _sub(element, "sparkle:version", item.version)
    if item.short_version is not None:
        _sub(element, "sparkle:shortVersionString", item.short_version)
    if item.channel is not None:
        _sub(element, "sparkle:channel", item.channel)
    if item.minimum_system_version is not None:
        _sub(element, "sparkle:minimumSystemVersion", item.minimum_system_version)
    if item.release_notes_link is not None:
        _sub(element, "sparkle:releaseNotesLink", item.release_notes_link)
    if item.description is not None:
        attrib = {"sparkle:format": item.description_format} if item.description_format else {}
        _sub(element, "description", item.description, **attrib)
    if item.url is not None:
        enclosure: dict[str, str] = {"url": item.url}
        if item.length is not None:
            enclosure["length"] = str(item.length)
        enclosure["type"] = item.type or "application/octet-stream"
        if item.ed_signature is not None:
            enclosure["sparkle:edSignature"] = item.ed_signature
        if item.installation_type is not None:
            enclosure["sparkle:installationType"] = item.installation_type
        ET.SubElement(element, "enclosure", {key: _clean(value) for key, value in enclosure.items()})


def render_appcast(items: list[AppcastItem], *, title: str, link: str | None = None) -> bytes:
    """Render a Sparkle 2 appcast with the items in the given order (callers sort newest first)."""
    rss = ET.Element("rss", {"version": "2.0", "xmlns:sparkle": SPARKLE_NS, "xmlns:dc": DC_NS})
    channel = ET.SubElement(rss, "channel")
    _sub(channel, "title", title)
    if link is not None:
        _sub(channel, "link", link)
    _sub(channel, "description", "Most recent changes with links to updates.")
    _sub(channel, "language", "en")
    for item in items:
        _render_item(channel, item)
    ET.indent(rss, space="  ")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(rss, encoding="unicode") + "\n").encode()


def manifest_item(
    manifest: Manifest, *, package: bool = False, minimum_system_version: str | None = None
) -> AppcastItem:
    """The item for a manifest: the dmg (Sparkle update), or with ``package`` the pkg installer.

    ``minimum_system_version`` applies only when the manifest does not set its own.
    """
    artifact: Artifact = manifest.installer if package else manifest.artifact
    return AppcastItem(
        version=manifest.build,
        short_version=manifest.version,
        title=f"Version {manifest.version}",
        url=str(artifact.url),
        length=artifact.size,
        type=PKG_TYPE if package else DMG_TYPE,
        ed_signature=artifact.ed_signature,
        installation_type="package" if package else None,
        pub_date=manifest.published_at,
        minimum_system_version=manifest.minimum_system_version or minimum_system_version,
        description=manifest.release_notes or None,
        description_format="plain-text" if manifest.release_notes else None,
    )


def items_from_manifest(
    manifest: Manifest, *, minimum_system_version: str | None = None
) -> list[AppcastItem]:
    """The feed's items for a manifest: only the dmg, because the pkg is for first installs.

    Two items with the same ``sparkle:version`` would make Sparkle's choice ambiguous, so the pkg
    is offered through :func:`manifest_item` with ``package=True`` only by callers that want it.
    """
    return [manifest_item(manifest, minimum_system_version=minimum_system_version)]
