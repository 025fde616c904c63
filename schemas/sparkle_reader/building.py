"""Building items from their dictionaries as ``SUAppcastItem``'s initializer does, and the whole feed.

Rules:
- :func:`parse_appcast` fails the whole feed exactly where ``SUAppcast``/``SUAppcastItem`` fail it:
  an item with no version, with neither enclosure nor ``<link>``, with an enclosure that has no
  ``url`` (and no link), with an enclosure URL whose scheme is not http(s), or with an unknown
  ``sparkle:installationType``. What Sparkle only logs and ignores (a ``file://`` link or notes URL,
  an invalid channel name, an unreadable ``pubDate`` or ``length``) is ignored here too.
- The checks run in the initializer's order, so which error wins follows Sparkle.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from .document import item_dictionaries
from .model import AppcastError, SparkleItem

__all__ = ["parse_appcast"]

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


def parse_appcast(
    data: bytes, *, feed_url: str | None = None, languages: Sequence[str] = ("en",)
) -> list[SparkleItem]:
    """The feed's items in document order, as Sparkle reads them; raise :class:`AppcastError`.

    ``feed_url`` is the URL the feed was fetched from: relative URLs resolve against it, as the
    client resolves them against the download's URL. ``languages`` are the user's preferred
    languages, used to pick among localized elements (``xml:lang``).
    """
    # SUAppcast.m: one item Sparkle cannot build fails the whole feed.
    return [_build_item(raw, feed_url, index) for index, raw in enumerate(item_dictionaries(data, languages))]
