"""Sparkle 2 appcasts: render them from manifests, parse them back (the feed server and ``verify``).

Rules:
- Pure functions over bytes: no I/O, no clock, no global state (the Sparkle namespace is declared
  on the root element by hand instead of through ElementTree's process-wide prefix registry).
- One item per version. ``sparkle:version`` is the build, ``sparkle:shortVersionString`` the
  marketing version, ``pubDate`` is RFC 822, the enclosure carries ``url``, ``length``, ``type`` and
  ``sparkle:edSignature`` when signed; ``sparkle:installationType="package"`` marks a pkg.
- Both version strings are rendered twice, as item elements and as enclosure attributes, always
  identical: Sparkle 2 prefers the enclosure attribute (``SUAppcastItem.m``: "1. A sparkle:version
  attribute on the enclosure tag ... 2. ... a version element"), Sparkle 1 and feed watchers read
  only the attribute, newer tools only the element.
- Release notes are HTML (``schemas.notes``) in a CDATA section of ``<description>``, as Sparkle's
  ``generate_appcast`` writes them (``FeedXML.swift``); a ``]]>`` inside is split across sections.
- Update controls are rendered as ``generate_appcast`` writes them: ``<link>`` (the product page,
  ``SUAppcastItem.m`` infoURL, http(s) only), ``sparkle:phasedRolloutInterval`` (seconds),
  ``sparkle:criticalUpdate`` (with a ``sparkle:version`` attribute when critical only below it),
  ``sparkle:minimumAutoupdateVersion``.
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

from .item import ItemFields
from .models import Artifact, Manifest
from .notes import notes_html
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
class AppcastItem(ItemFields):
    """One ``<item>`` to render: a version clients may update to (the shared fields are
    :class:`~schemas.item.ItemFields`'; ``installation_type`` None writes no attribute)."""

    installation_type: str | None = None
    link: str | None = None
    critical_below: str | None = None


def _clean(text: str) -> str:
    return _INVALID_XML_CHARS.sub("", text)


def _sub(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {key: _clean(value) for key, value in attrib.items()})
    element.text = _clean(text)
    return element


def _rfc822(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return format_datetime(aware.astimezone(UTC))


def _cdata_marker(index: int) -> str:
    # \x01 cannot occur in any rendered text (_clean drops it), so the marker cannot collide.
    return f"\x01cdata{index}\x01"


def _cdata(text: str) -> str:
    return "<![CDATA[" + _clean(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _render_item(channel: ET.Element, item: AppcastItem, cdata: list[str]) -> None:
    element = ET.SubElement(channel, "item")
    _sub(element, "title", item.title or f"Version {item.short_version or item.version}")
    if item.link is not None:
        _sub(element, "link", item.link)
    if item.pub_date is not None:
        _sub(element, "pubDate", _rfc822(item.pub_date))
    _sub(element, "sparkle:version", item.version)
    if item.short_version is not None:
        _sub(element, "sparkle:shortVersionString", item.short_version)
    if item.channel is not None:
        _sub(element, "sparkle:channel", item.channel)
    if item.minimum_system_version is not None:
        _sub(element, "sparkle:minimumSystemVersion", item.minimum_system_version)
    if item.minimum_autoupdate_version is not None:
        _sub(element, "sparkle:minimumAutoupdateVersion", item.minimum_autoupdate_version)
    if item.phased_rollout_interval is not None:
        _sub(element, "sparkle:phasedRolloutInterval", str(item.phased_rollout_interval))
    if item.critical_update:
        below = {"sparkle:version": item.critical_below} if item.critical_below else {}
        ET.SubElement(element, "sparkle:criticalUpdate", {k: _clean(v) for k, v in below.items()})
    if item.release_notes_link is not None:
        _sub(element, "sparkle:releaseNotesLink", item.release_notes_link)
    if item.description is not None:
        attrib = {"sparkle:format": item.description_format} if item.description_format else {}
        if item.description_format in (None, "html"):
            # HTML goes in CDATA, as generate_appcast writes it; the marker is swapped after serializing.
            _sub(element, "description", "", **attrib).text = _cdata_marker(len(cdata))
            cdata.append(item.description)
        else:
            _sub(element, "description", item.description, **attrib)
    if item.url is not None:
        enclosure: dict[str, str] = {"url": item.url}
        enclosure["sparkle:version"] = item.version
        if item.short_version is not None:
            enclosure["sparkle:shortVersionString"] = item.short_version
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
    cdata: list[str] = []
    for item in items:
        _render_item(channel, item, cdata)
    ET.indent(rss, space="  ")
    text = ET.tostring(rss, encoding="unicode")
    for index, html in enumerate(cdata):
        text = text.replace(_cdata_marker(index), _cdata(html), 1)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n").encode()


def manifest_item(
    manifest: Manifest, *, package: bool = False, minimum_system_version: str | None = None
) -> AppcastItem:
    """The item for a manifest: the dmg (Sparkle update), or with ``package`` the pkg installer.

    ``minimum_system_version`` applies only when the manifest does not set its own. The stable
    item's date is the promote time: a phased rollout counts its groups from ``pubDate``
    (``SUAppcastDriver.m`` itemIsReadyForPhasedRollout), so it must start when stable does.
    """
    artifact: Artifact = manifest.installer if package else manifest.artifact
    critical = manifest.critical_update
    notes = notes_html(manifest.release_notes)
    return AppcastItem(
        version=manifest.build,
        short_version=manifest.version,
        title=f"Version {manifest.version}",
        url=str(artifact.url),
        length=artifact.size,
        type=PKG_TYPE if package else DMG_TYPE,
        ed_signature=artifact.ed_signature,
        installation_type="package" if package else None,
        pub_date=manifest.promoted_at or manifest.published_at,
        minimum_system_version=manifest.minimum_system_version or minimum_system_version,
        description=notes or None,
        description_format=None,
        link=str(manifest.product_link) if manifest.product_link is not None else None,
        phased_rollout_interval=manifest.phased_rollout_interval,
        critical_update=critical is not None,
        critical_below=critical.below if critical is not None else None,
        minimum_autoupdate_version=manifest.minimum_autoupdate_version,
    )


def items_from_manifest(
    manifest: Manifest, *, minimum_system_version: str | None = None
) -> list[AppcastItem]:
    """The feed's items for a manifest: only the dmg, because the pkg is for first installs.

    Two items with the same ``sparkle:version`` would make Sparkle's choice ambiguous, so the pkg
    is offered through :func:`manifest_item` with ``package=True`` only by callers that want it.
    """
    return [manifest_item(manifest, minimum_system_version=minimum_system_version)]
