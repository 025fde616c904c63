"""Read an appcast the way a Sparkle 2 client reads it, and pick the update it would offer.

Every rule here is ported from Sparkle's own source (sparkle-project/Sparkle, 2.x; the file is
named where the rule lives) and checked against the appcasts of its test suite
(``Tests/Resources/*.xml``, copied into ``tests/fixtures/sparkle/`` with its licence).

Rules:
- :func:`parse_appcast` fails the whole feed exactly where ``SUAppcast``/``SUAppcastItem`` fail it:
  an item with no version, with neither enclosure nor ``<link>``, with an enclosure that has no
  ``url`` (and no link), with an enclosure URL whose scheme is not http(s), or with an unknown
  ``sparkle:installationType``. What Sparkle only logs and ignores (a ``file://`` link or notes URL,
  an invalid channel name, an unreadable ``pubDate`` or ``length``) is ignored here too.
- Host-dependent state (critical, informational, major upgrade, OS fit) is not baked into the
  parsed item, as ``SPUAppcastItemStateResolver`` does at parse time: the item keeps the raw
  fields and answers for a given host, so one parse serves every host.
- :func:`best_item` follows ``SUAppcastDriver``: macOS, non-delta items on allowed channels; first
  the items that pass the OS range, the phased rollout and ``minimumAutoupdateVersion``, then (only
  if none of those is newer than the host) the ones that fail the minimum autoupdate version; the
  maximum by :func:`compare_versions`, the first on ties; ``None`` unless it is newer than the host.
- Hostile input is bounded: at most :data:`MAX_APPCAST_BYTES`, no DTD entities (defusedxml), and no
  nesting deeper than libxml2's default limit, which Sparkle's ``NSXMLDocument`` enforces as well.
  Refusing entity declarations is stricter than Sparkle (which expands internal entities).
- Pure functions over bytes: no I/O, no clock (``now`` is passed in), no global state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET

from .version import compare_versions

__all__ = [
    "MAX_APPCAST_BYTES",
    "AppcastError",
    "SkippedUpdate",
    "SparkleItem",
    "best_item",
    "macos_items",
    "newest",
    "parse_appcast",
    "supported_items",
]

SPARKLE_NS = "http://www.andymatuschak.org/xml-namespaces/sparkle"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_APPCAST_BYTES = 4 * 1024 * 1024
# libxml2 (under NSXMLDocument) stops at xmlParserMaxDepth = 256 unless XML_PARSE_HUGE is set.
_MAX_DEPTH = 256

# Every dictionary key SUAppcastItem's initializer reads (SUConstants.m names), deltas excepted.
_ITEM_KEYS = (
    "title",
    "enclosure",
    "sparkle:version",
    "sparkle:shortVersionString",
    "pubDate",
    "description",
    "link",
    "sparkle:informationalUpdate",
    "sparkle:minimumSystemVersion",
    "sparkle:maximumSystemVersion",
    "sparkle:minimumAutoupdateVersion",
    "sparkle:ignoreSkippedUpgradesBelowVersion",
    "sparkle:channel",
    "sparkle:criticalUpdate",
    "sparkle:tags",
    "sparkle:phasedRolloutInterval",
    "sparkle:releaseNotesLink",
    "sparkle:fullReleaseNotesLink",
)
# SPUInstallationType.h: SPUInstallationTypesArray.
_INSTALLATION_TYPES = ("application", "package", "interactive-package")
# SUAppcastItem.m: unknown description formats fall back to html.
_DESCRIPTION_FORMATS = ("plain-text", "markdown", "html")
# RFC 3986 characters; anything else makes (pre-macOS 14 linkage) +[NSURL URLWithString:] return nil.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LEADING_INTEGER = re.compile(r"^[ \t\n\r\x0b\x0c]*([+-]?)([0-9]+)")
_LLONG_MAX = 2**63 - 1
# NSCharacterSet.whitespaceAndNewlineCharacterSet beyond the Z* categories.
_NEWLINES_AND_TABS = frozenset("\t\n\x0b\x0c\r\x85")


class AppcastError(ValueError):
    """The bytes are not an appcast a Sparkle client would accept; ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class SkippedUpdate:
    """What the user chose to skip (``SPUSkippedUpdate``): a minor version and/or a major version."""

    minor_version: str | None = None
    major_version: str | None = None
    major_subrelease_version: str | None = None


@dataclass(frozen=True, slots=True)
class SparkleItem:
    """One ``<item>`` as ``SUAppcastItem`` holds it (URLs resolved, enclosure attributes first)."""

    version: str
    short_version: str | None = None
    title: str | None = None
    url: str | None = None
    length: int | None = None
    type: str | None = None
    ed_signature: str | None = None
    installation_type: str = "application"
    os: str | None = None
    delta_from: str | None = None
    date_string: str | None = None
    pub_date: datetime | None = None
    description: str | None = None
    description_format: str | None = None
    release_notes_link: str | None = None
    full_release_notes_link: str | None = None
    info_url: str | None = None
    minimum_system_version: str | None = None
    maximum_system_version: str | None = None
    minimum_autoupdate_version: str | None = None
    ignore_skipped_upgrades_below_version: str | None = None
    channel: str | None = None
    informational_update_versions: frozenset[str] | None = None
    critical_update: bool = False
    critical_version: str | None = None
    phased_rollout_interval: int | None = None
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
        return not _minimum_autoupdate_ok(self.minimum_autoupdate_version, host_version)

    def os_ok(self, os_version: str) -> bool:
        # SPUAppcastItemStateResolver.m isMinimum/MaximumOperatingSystemVersionOK (empty = no bound).
        low, high = self.minimum_system_version, self.maximum_system_version
        if low and compare_versions(low, os_version) > 0:
            return False
        return not (high and compare_versions(high, os_version) < 0)

    def delta_for(self, host_version: str) -> SparkleItem | None:
        # SUAppcastDriver.m deltaUpdateFromAppcastItem: deltaUpdates[hostVersion], an exact key.
        return next((d for d in self.deltas if d.delta_from == host_version), None)


def _minimum_autoupdate_ok(minimum: str | None, host_version: str) -> bool:
    # SPUAppcastItemStateResolver.m isMinimumAutoupdateVersionOK:hostVersion:versionComparator:.
    return not minimum or compare_versions(host_version, minimum) >= 0


# --- reading the XML (SUAppcast.m) ---------------------------------------------------------------


def _is_space(ch: str) -> bool:
    return ch in _NEWLINES_AND_TABS or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def _trim(text: str) -> str:
    # stringByTrimmingCharactersInSet:whitespaceAndNewlineCharacterSet (str.strip also eats U+001C-1F).
    start, end = 0, len(text)
    while start < end and _is_space(text[start]):
        start += 1
    while end > start and _is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def _sparkle_name(name: str) -> str:
    # SUAppcast.m sparkleNamespacedNameOfNode: the Sparkle namespace under any prefix is
    # "sparkle:<local>"; a name without a namespace is itself. Another namespace keeps its URI, so
    # it never matches a name Sparkle looks up (there, its own prefix would not match either).
    if name.startswith("{" + SPARKLE_NS + "}"):
        return "sparkle:" + name[len(SPARKLE_NS) + 2 :]
    if name.startswith("{" + _XML_NS + "}"):
        return "xml:" + name[len(_XML_NS) + 2 :]
    return name


def _attributes(element: ET.Element) -> dict[str, str]:
    return {_sparkle_name(key): value for key, value in element.attrib.items()}


def _string_value(element: ET.Element) -> str:
    # NSXMLNode.stringValue of an element: the text of all its descendants, in order.
    return "".join(element.itertext())


def _language_key(language: str) -> str:
    return language.replace("_", "-").lower()


def _best_node(nodes: list[ET.Element], languages: Sequence[str]) -> ET.Element:
    # SUAppcast.m bestNodeInNodes: with several same-named nodes, pick by xml:lang (a node without
    # one counts as "en") through +[NSBundle preferredLocalizationsFromArray:], which matches the
    # user's preferred languages in order, a region variant falling back to its base language.
    if len(nodes) == 1:
        return nodes[0]
    node_languages = [_language_key(node.get("{" + _XML_NS + "}lang") or "en") for node in nodes]
    for preferred in languages:
        key = _language_key(preferred)
        for candidate in (key, key.split("-")[0]):
            if candidate in node_languages:
                return nodes[node_languages.index(candidate)]
    return nodes[0]


def _item_dictionary(item: ET.Element, languages: Sequence[str]) -> dict[str, Any]:
    """The dictionary SUAppcast.m parseAppcastItemsFromXMLData builds for one item."""
    by_name: dict[str, list[ET.Element]] = {}
    for child in item:
        if isinstance(child.tag, str):
            by_name.setdefault(_sparkle_name(child.tag), []).append(child)
    result: dict[str, Any] = {}
    for name, nodes in by_name.items():
        node = _best_node(nodes, languages)
        if name in ("enclosure", "sparkle:criticalUpdate"):
            result[name] = _attributes(node)
        elif name == "pubDate":
            result[name] = _string_value(node)  # kept as text, not trimmed
        elif name == "description":
            description: dict[str, str] = {"content": _string_value(node)}
            if "sparkle:format" in (attributes := _attributes(node)):
                description["format"] = attributes["sparkle:format"]
            result[name] = description
        elif name == "sparkle:deltas":
            result[name] = [_attributes(c) for c in node if c.tag == "enclosure"]
        elif name == "sparkle:tags":
            result[name] = [_sparkle_name(c.tag) for c in node if isinstance(c.tag, str)]
        elif name == "sparkle:informationalUpdate":
            versions: set[str] = set()
            for child in node:
                kind = _sparkle_name(child.tag) if isinstance(child.tag, str) else ""
                if kind == "sparkle:version":
                    versions.add(_string_value(child))
                elif kind == "sparkle:belowVersion":
                    versions.add("<" + _string_value(child))  # '<' marks an upper bound
            result[name] = frozenset(versions)
        else:
            result[name] = _trim(_string_value(node))
    return result


# --- building an item (SUAppcastItem.m initWithDictionary:relativeToURL:...) --------------------


def _url(text: str, base: str | None) -> tuple[str | None, bool]:
    """(+[NSURL URLWithString:relativeToURL:].absoluteString, whether its scheme passes the test).

    Sparkle tests ``[url.scheme caseInsensitiveCompare:@"http"] == NSOrderedSame``; messaging nil
    answers 0 (NSOrderedSame), so a URL without a scheme (relative, no base) or an unparseable one
    (NSURL is nil) passes the test. The first is kept as written; the second is no URL at all.
    """
    if not _URL_CHARS.fullmatch(text) or _BAD_PERCENT.search(text):
        return None, True
    resolved = urljoin(base, text) if base else text
    try:
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:  # an unbalanced IPv6 bracket: NSURL does not parse it either
        return None, True
    return resolved, scheme in ("", "http", "https")


def _long_long(text: str) -> int:
    # -[NSString longLongValue]: leading blanks, a sign, digits; anything else reads 0; saturates.
    match = _LEADING_INTEGER.match(text)
    if match is None:
        return 0
    digits = match.group(2).lstrip("0") or "0"
    value = _LLONG_MAX if len(digits) > 19 else min(int(digits), _LLONG_MAX)
    return -value if match.group(1) == "-" else value


def _date(text: str | None) -> datetime | None:
    # SUAppcastItem.m date: "E, dd MMM yyyy HH:mm:ss Z" (en_US); an unreadable date is nil, not an
    # error (SUAppcast.m deliberately keeps pubDate as a string).
    if text is None:
        return None
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _valid_channel(channel: str) -> bool:
    # SUAppcastItem.m: alphanumericCharacterSet (Unicode letters, marks, digits) plus "_.-".
    return all(ch in "_.-" or unicodedata.category(ch)[0] in "LMN" for ch in channel)


def _version_from_file_name(url: str | None) -> str | None:
    # SUAppcastItem.m: the last "_"-separated part of the enclosure URL, minus its path extension.
    if url is None or "_" not in url:
        return None
    last = url.split("_")[-1]
    head, _, component = last.rstrip("/").rpartition("/")
    stem, dot, _ext = component.rpartition(".")
    if dot and stem:
        component = stem
    return f"{head}/{component}" if head else component


def _build_item(raw: dict[str, Any], base: str | None, index: int) -> SparkleItem:
    """SUAppcastItem's initializer, its checks in its order (which error wins follows Sparkle)."""
    where = f"item {index + 1}"
    enclosure: dict[str, str] | None = raw.get("enclosure")
    attrs = enclosure or {}
    title = raw.get("title")
    # sparkle:version on the enclosure first, then the item element, then the file name.
    version = attrs.get("sparkle:version")
    if version is None:
        version = raw.get("sparkle:version")
    if version is None:
        version = _version_from_file_name(attrs.get("url"))
    if version is None:
        raise AppcastError(f"{where} has no sparkle:version and none can be read from its file name")
    where = f"item {index + 1} (version {version})"

    description = format_ = None
    if "description" in raw:
        description = raw["description"]["content"]
        given = raw["description"].get("format")
        format_ = given.lower() if given is not None else "html"
        if format_ not in _DESCRIPTION_FORMATS:
            format_ = "html"

    info_url = None
    if "link" in raw:
        link, ok = _url(raw["link"], base)
        info_url = link if ok else None  # a non-http(s) link is dropped, not fatal
    if enclosure is None and info_url is None:
        raise AppcastError(f"{where} has neither an enclosure nor an http(s) <link>")
    informational: frozenset[str] | None = None
    if info_url is not None:
        informational = raw.get("sparkle:informationalUpdate") if enclosure is not None else frozenset()

    url_text = attrs.get("url")
    if url_text is None and info_url is None:
        raise AppcastError(f"{where}: the enclosure has no url")
    url = length = None
    if url_text is not None:
        length_text = attrs.get("length")
        if length_text is not None:
            length = max(_long_long(length_text), 0)
        # Spaces are forgiven (Sparkle used to URL-encode them itself).
        url, ok = _url(url_text.replace(" ", "%20"), base)
        if not ok:
            raise AppcastError(f"{where}: the enclosure URL {url_text[:100]!r} is not http(s)")

    channel = raw.get("sparkle:channel")
    if channel is not None and (not channel or not _valid_channel(channel)):
        channel = None  # Sparkle logs and ignores an empty or invalid channel name

    critical = raw.get("sparkle:criticalUpdate")
    if critical is None and "sparkle:criticalUpdate" in (raw.get("sparkle:tags") or []):
        critical = {}  # the legacy <sparkle:tags><sparkle:criticalUpdate/></sparkle:tags>
    interval = raw.get("sparkle:phasedRolloutInterval")

    installation_type = attrs.get("sparkle:installationType")
    if installation_type is None:
        path = urlsplit(url).path if url else ""
        installation_type = "package" if path.endswith((".pkg", ".mpkg")) else "application"
    elif installation_type not in _INSTALLATION_TYPES:
        raise AppcastError(f"{where}: sparkle:installationType {installation_type[:40]!r} is not valid")

    release_notes = None
    if "sparkle:releaseNotesLink" in raw:
        link, ok = _url(raw["sparkle:releaseNotesLink"], base)
        release_notes = link if ok else None
    elif description is not None and description.startswith(("http://", "https://")):
        release_notes = _url(description, None)[0]  # +[NSURL URLWithString:], no scheme test
    full_notes = None
    if "sparkle:fullReleaseNotesLink" in raw:
        link, ok = _url(raw["sparkle:fullReleaseNotesLink"], base)
        full_notes = link if ok else None

    deltas = []
    for delta in raw.get("sparkle:deltas") or []:
        if "sparkle:deltaFrom" not in delta:
            continue
        # The delta initializer passes relativeToURL:nil and drops a delta it cannot build. Only
        # the keys an item reads are copied, so many deltas beside many unknown elements stay linear.
        inherited = {key: raw[key] for key in _ITEM_KEYS if key in raw}
        try:
            deltas.append(_build_item(inherited | {"enclosure": delta}, None, index))
        except AppcastError:
            continue

    short_version = attrs.get("sparkle:shortVersionString")
    if short_version is None:
        short_version = raw.get("sparkle:shortVersionString")
    return SparkleItem(
        version=version,
        short_version=short_version,
        title=title,
        url=url,
        length=length,
        type=attrs.get("type"),
        ed_signature=attrs.get("sparkle:edSignature"),
        installation_type=installation_type,
        os=attrs.get("sparkle:os"),
        delta_from=attrs.get("sparkle:deltaFrom"),
        date_string=raw.get("pubDate"),
        pub_date=_date(raw.get("pubDate")),
        description=description,
        description_format=format_,
        release_notes_link=release_notes,
        full_release_notes_link=full_notes,
        info_url=info_url,
        minimum_system_version=raw.get("sparkle:minimumSystemVersion"),
        maximum_system_version=raw.get("sparkle:maximumSystemVersion"),
        minimum_autoupdate_version=raw.get("sparkle:minimumAutoupdateVersion"),
        ignore_skipped_upgrades_below_version=raw.get("sparkle:ignoreSkippedUpgradesBelowVersion"),
        channel=channel,
        informational_update_versions=informational,
        critical_update=critical is not None,
        critical_version=critical.get("sparkle:version") if critical is not None else None,
        phased_rollout_interval=_long_long(interval) if interval is not None else None,
        deltas=tuple(deltas),
    )


def _too_deep(root: ET.Element) -> bool:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def parse_appcast(
    data: bytes, *, feed_url: str | None = None, languages: Sequence[str] = ("en",)
) -> list[SparkleItem]:
    """The feed's items in document order, as Sparkle reads them; raise :class:`AppcastError`.

    ``feed_url`` is the URL the feed was fetched from: relative URLs resolve against it, as the
    client resolves them against the download's URL. ``languages`` are the user's preferred
    languages, used to pick among localized elements (``xml:lang``).
    """
    if len(data) > MAX_APPCAST_BYTES:
        raise AppcastError(f"appcast is {len(data)} bytes, more than the {MAX_APPCAST_BYTES} read")
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:  # defusedxml raises ParseError or its own DefusedXmlException family
        raise AppcastError(f"appcast is not safe, well-formed XML: {str(exc)[:120]}") from exc
    if _too_deep(root):
        raise AppcastError(f"appcast nests elements deeper than {_MAX_DEPTH} levels")
    # SUAppcast.m: XPath /rss/channel/item, so every <channel> counts and any other root has no
    # items (an empty feed, not an error).
    channels = root.findall("channel") if root.tag == "rss" else []
    elements = [item for channel in channels for item in channel.findall("item")]
    # SUAppcast.m: one item Sparkle cannot build fails the whole feed.
    return [_build_item(_item_dictionary(e, languages), feed_url, i) for i, e in enumerate(elements)]


# --- choosing the update (SUAppcastDriver.m) ----------------------------------------------------


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
    host_passes_major = _minimum_autoupdate_ok(major, host_version)
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
