"""schemas.sparkle_reader: each of Sparkle's test appcasts yields what Sparkle's own tests expect.

The cases mirror ``Tests/SUAppcastTest.swift`` (sparkle-project/Sparkle), test by test: what
``SUAppcast`` parses, what ``SUAppcastDriver.filterAppcast``/``filterSupportedAppcast`` keep and what
``bestItem`` picks. ``OS`` stands in for the machine Sparkle's tests run on (a current macOS: above
testappcast.xml's 2.0.0 maximum, below its 17.0.0 minimum).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import AppcastError, best_item, compare_versions, parse_appcast
from schemas.appcast import parse_appcast as parse_from_appcast_module
from schemas.sparkle_reader import (
    MAX_APPCAST_BYTES,
    SkippedUpdate,
    SparkleItem,
    macos_items,
    newest,
    supported_items,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sparkle"
OS = "14.5"
ZIP = "http://localhost:1337/Sparkle_Test_App.zip"
APP = "https://you.com/app/Your%20Great%20App%20"
OCTET = "application/octet-stream"
RELATIVE_BASE = "https://fake.sparkle-project.org/updates/index.xml"
SIG_20 = "WVyVJpOx+a5+vNWJVY79TRjFKveNk+VhGJf2iti4CZtJsJewIUGvh/1AKKEAFbH1qUwx+vro1ECuzOsMmumoBA=="
SIG_15 = "pNFd7KbcQSu+Mq7UYrbQXTPq82luht2ACXm/r2utp1u/Uv/5hWqctdT2jwQgMejW7DRoeV/hVr6J4VdZYdwWDw=="
SIG_14 = "Ody3D/ybSMH4T+P/oNj3LN4F0SA8RJGLEr1TI4UemrBAiJ9aEcDnYV3u58P75AbcFjI13jPYmHDUHXMSTFQbDw=="
NOTES = "https://sparkle-project.org"
APPLICATION = "application"

Row = tuple[str, str | None, str | None, int | None, str | None]

# Per item, in document order: (version, short version, resolved URL, length, edSignature).
# Written by hand from the files; test-dangerous-link.xml is refused whole (see below).
ITEMS: dict[str, list[Row]] = {
    "SampleAppcast.xml": [
        ("2.0", None, f"{APP}2.0.zip", 1623481, SIG_20),
        ("1.5", None, f"{APP}1.5.zip", 1472893, SIG_15),
        ("241", "1.4", f"{APP}1.4.zip", 1472349, SIG_14),
    ],
    "test-links.xml": [
        ("3.0", None, f"{NOTES}/release-3.0.zip", 1346234, None),
        ("2.0", None, "http://sparkle-project.org/release-2.0.zip", 1346234, None),
        ("1.0", None, f"{NOTES}/release-1.0.zip", 1346234, None),
    ],
    "test-relative-urls.xml": [
        ("3.0", None, "https://fake.sparkle-project.org/updates/release-3.0.zip", 1346234, None),
        ("2.0", None, None, None, None),
        ("1.0", None, "https://fake.sparkle-project.org/updates/release-1.0.zip", 1346234, None),
        ("0.9", None, "https://fake.sparkle-project.org/updates/release-0.9.zip", 1346234, None),
    ],
    "testappcast.xml": [
        ("2.0", None, ZIP, None, None),
        ("3.0", None, ZIP, 1346234, None),
        ("4.0", None, ZIP, 1346234, None),
        ("5.0", None, ZIP, 1346234, None),
    ],
    "testappcast_channels.xml": [
        ("2.0", None, ZIP, None, None),
        ("3.0", None, ZIP, 1346234, None),
        ("4.0", None, ZIP, 1346234, None),
        ("5.0", None, ZIP, 1346234, None),
        ("6.0", None, ZIP, 1346234, None),
        ("7.0", None, ZIP, 1346234, "..."),
    ],
    "testappcast_info_updates.xml": [
        ("2.0", None, ZIP, None, None),
        ("3.0", None, ZIP, 1346234, None),
        ("4.0", None, ZIP, 1346234, None),
        ("5.0", None, None, None, None),
    ],
    "testappcast_minimumAutoupdateVersion.xml": [
        ("3.0", None, ZIP, 1346234, None),
        ("2.0", None, ZIP, 1346234, None),
    ],
    "testappcast_minimumAutoupdateVersionSkipping.xml": [
        (v, None, ZIP, 1346234, None) for v in ("4.1", "4.0", "3.9", "3.0", "2.0")
    ],
    "testappcast_minimumAutoupdateVersionSkipping2.xml": [
        (v, None, ZIP, 1346234, None) for v in ("4.1", "4.0", "3.9", "3.0", "2.0")
    ],
    "testappcast_phasedRollout.xml": [
        ("3.0", None, ZIP, None, None),
        ("2.0", None, ZIP, None, None),
    ],
    "testlocalizedreleasenotesappcast.xml": [
        (v, None, ZIP, None, None) for v in ("6.3", "6.2", "6.1", "6.0")
    ],
    "testnamespaces.xml": [
        ("3.0", None, ZIP, 1346234, None),
        ("2.0", None, ZIP, 1346234, None),
    ],
}
FEED_URLS = {"test-relative-urls.xml": RELATIVE_BASE}

# What best_item offers a host on 1.0 with no allowed channels, on OS, for each fixture.
BEST_FROM_1_0: dict[str, str | None] = {
    # Sparkle compares sparkle:version only: the 1.4 item's build "241" is newer than "2.0".
    "SampleAppcast.xml": "241",
    "test-links.xml": "3.0",
    "test-relative-urls.xml": "3.0",
    "testappcast.xml": "3.0",  # 4.0 needs 17.0.0, 5.0 ends at 2.0.0 (SUAppcastTest: "best release")
    "testappcast_channels.xml": "3.0",  # 4.0/5.0 on channels, 6.0 windows, 7.0 a delta
    "testappcast_info_updates.xml": "5.0",  # informational items are offered (as information)
    "testappcast_minimumAutoupdateVersion.xml": "2.0",  # 3.0 needs 2.0 first
    "testappcast_minimumAutoupdateVersionSkipping.xml": "2.0",
    "testappcast_minimumAutoupdateVersionSkipping2.xml": "2.0",
    "testappcast_phasedRollout.xml": "2.0",  # 3.0 needs 2.0 first
    "testlocalizedreleasenotesappcast.xml": None,  # every item is on a channel the host did not allow
    "testnamespaces.xml": "3.0",
}


def load(name: str, languages: tuple[str, ...] = ("en",)) -> list[SparkleItem]:
    return parse_appcast((FIXTURES / name).read_bytes(), feed_url=FEED_URLS.get(name), languages=languages)


def versions(items: list[SparkleItem]) -> list[str]:
    return [item.version for item in items]


def test_every_sparkle_test_appcast_is_here_and_tested() -> None:
    names = sorted(path.name for path in FIXTURES.glob("*.xml"))
    assert names == sorted([*ITEMS, "test-dangerous-link.xml"])
    assert sorted(BEST_FROM_1_0) == sorted(ITEMS)
    assert (
        (FIXTURES / "SPARKLE_LICENSE.txt").read_text().startswith("Copyright (c) 2006-2013 Andy Matuschak.")
    )


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_each_fixture_parses_as_sparkle_reads_it(name: str) -> None:
    items = load(name)
    assert [(i.version, i.short_version, i.url, i.length, i.ed_signature) for i in items] == ITEMS[name]
    # No fixture names an installation type and none is a .pkg: Sparkle's default applies.
    assert {item.installation_type for item in items} == {APPLICATION}


@pytest.mark.parametrize("name", sorted(BEST_FROM_1_0))
def test_best_item_of_each_fixture(name: str) -> None:
    best = best_item(load(name), host_version="1.0", os_version=OS)
    assert (best.version if best else None) == BEST_FROM_1_0[name]
    # A host already on the best version is offered only something newer (a major upgrade).
    if best is not None:
        again = best_item(load(name), host_version=best.version, os_version=OS)
        assert again is None or compare_versions(again.version, best.version) > 0


def test_the_appcast_module_re_exports_the_reader() -> None:
    assert parse_from_appcast_module is parse_appcast


# --- testParseAppcast ---------------------------------------------------------------------------


def test_parse_appcast() -> None:
    items = load("testappcast.xml")
    assert len(items) == 4
    first, second, third, fourth = items
    assert (first.title, first.description, first.description_format) == ("Version 2.0", "desc", "plain-text")
    assert first.date_string == "Sat, 26 Jul 2014 15:20:11 +0000"
    assert first.pub_date == datetime(2014, 7, 26, 15, 20, 11, tzinfo=UTC)
    assert first.is_critical("1.0") and first.version == "2.0"
    assert (second.title, second.description, second.description_format) == ("Version 3.0", "desc3", "html")
    assert second.date_string is None
    assert second.is_critical("1.0")  # the legacy <sparkle:tags><sparkle:criticalUpdate/>
    assert second.phased_rollout_interval == 86400
    assert second.version == "3.0"
    assert (third.title, third.description, third.date_string) == (
        "Version 4.0",
        None,
        "Sat, 26 Jul 2014 15:20:13 +0000",
    )
    assert not third.is_critical("1.0")
    assert (fourth.title, fourth.description, fourth.date_string) == ("Version 5.0", None, None)
    assert not fourth.is_critical("1.0")

    supported = supported_items(
        items, host_version="1.0", os_version=OS, test_minimum_autoupdate_version=False
    )
    assert versions(supported) == ["2.0", "3.0"]
    best = best_item(items, host_version="1.0", os_version=OS)
    assert best is second
    delta = best.delta_for("1.0")
    assert delta is not None and delta.url == "http://localhost:1337/3.0_from_1.0.patch"
    assert (delta.version, delta.length, delta.is_delta) == ("3.0", 1485, True)
    from_2 = best.delta_for("2.0")
    assert from_2 is not None and from_2.url == "http://localhost:1337/3.0_from_2.0.patch"
    assert best.delta_for("2.1") is None
    # Delta enclosures are not items of their own.
    assert not any((item.url or "").endswith(".patch") for item in items)


def test_os_range_excludes_items_for_other_systems() -> None:
    items = load("testappcast.xml")
    # On macOS 17 the 4.0 item (minimum 17.0.0) is offered; at 1.0 only 5.0 (maximum 2.0.0) fits.
    assert best_item(items, host_version="1.0", os_version="17.0").version == "4.0"  # type: ignore[union-attr]
    assert best_item(items, host_version="1.0", os_version="1.0").version == "5.0"  # type: ignore[union-attr]
    assert [i.os_ok("2.0.0") for i in items] == [True, True, False, True]
    assert [i.os_ok("2.0.1") for i in items] == [True, True, False, False]


# --- testChannelsAndMacOSReleases ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (("beta", "nightly"), ["2.0", "3.0", "4.0", "5.0"]),
        ((), ["2.0", "3.0"]),
        (("beta",), ["2.0", "3.0", "4.0"]),
        (("nightly",), ["2.0", "3.0", "5.0"]),
        (("madeup",), ["2.0", "3.0"]),
    ],
)
def test_channels_and_macos_releases(channels: tuple[str, ...], expected: list[str]) -> None:
    items = load("testappcast_channels.xml")
    assert len(items) == 6
    assert versions(macos_items(items, channels)) == expected
    best = best_item(items, host_version="1.0", os_version=OS, channels=channels)
    assert best is not None and best.version == expected[-1]
    # The empty <sparkle:channel> is ignored (default channel); 6.0 is windows; 7.0 a top-level delta.
    assert [i.channel for i in items] == [None, None, "beta", "nightly", None, None]
    assert (items[4].os, items[4].is_macos, items[5].is_delta) == ("windows", False, True)


# --- testCriticalUpdateVersion ------------------------------------------------------------------


@pytest.mark.parametrize(("host", "critical"), [("1.0", True), ("1.5", False), ("1.6", False)])
def test_critical_update_version(host: str, critical: bool) -> None:
    item = load("testappcast.xml")[0]
    assert (item.critical_update, item.critical_version) == (True, "1.5")
    assert item.is_critical(host) is critical


# --- testInformationalUpdateVersions -----------------------------------------------------------


def test_informational_update_versions_from_1_0() -> None:
    items = load("testappcast_info_updates.xml")
    assert [item.is_informational("1.0") for item in items] == [False, False, True, True]
    # A delta inherits its item's informational state.
    delta = items[2].delta_for("2.0")
    assert delta is not None and delta.is_informational("1.0")
    # 5.0 has no enclosure: a <link> only, so it is informational for everyone.
    assert (items[3].url, items[3].info_url) == (None, "http://sparkle-project.org")


@pytest.mark.parametrize(
    ("host", "informational"),
    [
        ("2.3", False),
        ("2.4", True),
        ("2.5", True),
        ("2.6", False),
        ("0.5", False),
        ("0.4", True),
        ("0.0", True),
    ],
)
def test_informational_update_versions_by_host(host: str, informational: bool) -> None:
    item = load("testappcast_info_updates.xml")[1]
    assert item.informational_update_versions == frozenset({"2.5", "2.4", "<0.5"})
    assert item.is_informational(host) is informational


# --- testMinimumAutoupdateVersion ---------------------------------------------------------------


def _supported(
    items: list[SparkleItem], host: str, skipped: SkippedUpdate | None = None, *, test_minimum: bool = True
) -> list[SparkleItem]:
    return supported_items(
        items, host_version=host, os_version=OS, skipped=skipped, test_minimum_autoupdate_version=test_minimum
    )


def _best_of(items: list[SparkleItem]) -> str | None:
    # bestItemFromAppcastItems alone (no filtering), as Sparkle's tests call it.
    item = newest(items)
    return item.version if item else None


def test_minimum_autoupdate_version() -> None:
    items = load("testappcast_minimumAutoupdateVersion.xml")
    assert len(items) == 2
    assert versions(_supported(items, "1.0")) == ["2.0"]
    assert versions(_supported(items, "2.0")) == ["3.0", "2.0"]
    assert _best_of(_supported(items, "2.0")) == "3.0"
    assert _best_of(_supported(items, "2.5")) == "3.0"
    assert items[0].is_major_upgrade("1.0") and not items[0].is_major_upgrade("2.0")
    # The driver offers 2.0 first; once on 2.0, the major upgrade 3.0.
    assert best_item(items, host_version="1.0", os_version=OS).version == "2.0"  # type: ignore[union-attr]
    assert best_item(items, host_version="2.0", os_version=OS).version == "3.0"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("skipped", "test_minimum", "expected"),
    [
        (SkippedUpdate(minor_version="2.0"), True, []),
        (SkippedUpdate(minor_version="2.0"), False, ["3.0"]),
        (SkippedUpdate(major_version="3.0"), False, ["2.0"]),
        (SkippedUpdate(minor_version="2.0", major_version="3.0"), False, []),
        (SkippedUpdate(minor_version="2.5"), False, ["3.0"]),
        (SkippedUpdate(minor_version="1.5"), True, ["2.0"]),
        (SkippedUpdate(minor_version="1.5"), False, ["3.0", "2.0"]),
        (SkippedUpdate(minor_version="1.5", major_version="1.0"), True, ["2.0"]),
        (SkippedUpdate(minor_version="1.5", major_version="1.0"), False, ["3.0", "2.0"]),
    ],
)
def test_minimum_autoupdate_version_with_skipped_updates(
    skipped: SkippedUpdate, test_minimum: bool, expected: list[str]
) -> None:
    items = load("testappcast_minimumAutoupdateVersion.xml")
    supported = _supported(items, "1.0", skipped, test_minimum=test_minimum)
    assert versions(supported) == expected


def test_skipping_2_0_leaves_the_major_upgrade_for_the_driver() -> None:
    # With 2.0 skipped, nothing passes minimumAutoupdateVersion, so the driver's second pass offers 3.0.
    items = load("testappcast_minimumAutoupdateVersion.xml")
    best = best_item(items, host_version="1.0", os_version=OS, skipped=SkippedUpdate(minor_version="2.0"))
    assert best is not None and best.version == "3.0"


# --- testMinimumAutoupdateVersionAdvancedSkipping -----------------------------------------------


@pytest.mark.parametrize(
    ("skipped", "test_minimum", "count", "best"),
    [
        (None, True, 1, "2.0"),
        (SkippedUpdate(major_version="3.0"), False, 3, "4.1"),
        (SkippedUpdate(major_version="3.0"), True, 1, "2.0"),
        (SkippedUpdate(major_version="4.0"), False, 1, "2.0"),
    ],
)
def test_minimum_autoupdate_version_advanced_skipping(
    skipped: SkippedUpdate | None, test_minimum: bool, count: int, best: str
) -> None:
    items = load("testappcast_minimumAutoupdateVersionSkipping.xml")
    assert len(items) == 5
    supported = _supported(items, "1.0", skipped, test_minimum=test_minimum)
    assert len(supported) == count
    assert _best_of(supported) == best


# --- testMinimumAutoupdateVersionIgnoringSkipping -----------------------------------------------


@pytest.mark.parametrize(
    ("skipped", "expected"),
    [
        (SkippedUpdate(major_version="3.0"), ["4.1", "4.0", "3.9", "2.0"]),
        (SkippedUpdate(major_version="3.4"), ["4.1", "4.0", "3.9", "2.0"]),
        (SkippedUpdate(major_version="3.0", major_subrelease_version="3.5"), ["4.1", "4.0", "2.0"]),
        (SkippedUpdate(major_version="3.0", major_subrelease_version="3.5.1"), ["4.1", "4.0", "2.0"]),
        (SkippedUpdate(major_version="4.0", major_subrelease_version="4.0"), ["2.0"]),
        (SkippedUpdate(minor_version="2.1", major_version="4.0", major_subrelease_version="4.0"), []),
    ],
)
def test_minimum_autoupdate_version_ignoring_skipping(skipped: SkippedUpdate, expected: list[str]) -> None:
    items = load("testappcast_minimumAutoupdateVersionSkipping2.xml")
    supported = _supported(items, "1.0", skipped, test_minimum=False)
    assert versions(supported) == expected
    assert _best_of(supported) == (expected[0] if expected else None)
    assert items[2].ignore_skipped_upgrades_below_version == "3.5"


# --- testPhasedGroupRollouts --------------------------------------------------------------------

BEFORE = datetime(2014, 7, 23, 15, 20, 11, tzinfo=UTC)  # 3 days before the pubDate
AFTER = datetime(2014, 7, 28, 15, 20, 11, tzinfo=UTC)  # 2 days after
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # far ahead


def _phased(host: str, group: int | None, now: datetime) -> list[str]:
    items = load("testappcast_phasedRollout.xml")
    return versions(supported_items(items, host_version=host, os_version=OS, phase_group=group, now=now))


@pytest.mark.parametrize(
    ("host", "group", "now", "expected"),
    [
        ("1.0", None, NOW, ["2.0"]),
        ("1.0", 6, NOW, ["2.0"]),
        ("1.0", 0, BEFORE, []),
        ("1.0", 6, BEFORE, []),
        ("1.0", 0, AFTER, ["2.0"]),
        ("1.0", 1, AFTER, ["2.0"]),
        ("1.0", 2, AFTER, ["2.0"]),
        ("1.0", 3, AFTER, []),
        ("1.0", 6, AFTER, []),
        # 3.0 is critical, so it ignores the phases.
        ("2.0", None, NOW, ["3.0", "2.0"]),
        ("2.0", 0, BEFORE, ["3.0"]),
        ("2.0", 6, AFTER, ["3.0"]),
    ],
)
def test_phased_group_rollouts(host: str, group: int | None, now: datetime, expected: list[str]) -> None:
    assert _phased(host, group, now) == expected


def test_best_item_honours_the_phase_group() -> None:
    items = load("testappcast_phasedRollout.xml")
    # Group 2 has waited long enough for 2.0, which passes minimumAutoupdateVersion: it wins.
    offered = best_item(items, host_version="1.0", os_version=OS, phase_group=2, now=AFTER)
    assert offered is not None and offered.version == "2.0"
    # Group 3 must still wait for 2.0, so the driver's second pass offers the major upgrade 3.0,
    # which is critical and so ignores the phases.
    offered = best_item(items, host_version="1.0", os_version=OS, phase_group=3, now=AFTER)
    assert offered is not None and offered.version == "3.0"
    # Before the release date nothing but the critical 3.0 is ready, for every group.
    offered = best_item(items, host_version="1.0", os_version=OS, phase_group=0, now=BEFORE)
    assert offered is not None and offered.version == "3.0"


# --- testParseAppcastWithLocalizedReleaseNotes --------------------------------------------------


@pytest.mark.parametrize("language", ["en", "en-GB", "es", "es-MX"])
@pytest.mark.parametrize(
    ("channel", "version"),
    [
        ("english-later", "6.0"),
        ("english-first", "6.1"),
        ("english-first-implicit", "6.2"),
        ("english-later-implicit", "6.3"),
    ],
)
def test_localized_release_notes(language: str, channel: str, version: str) -> None:
    items = macos_items(load("testlocalizedreleasenotesappcast.xml", languages=(language,)), (channel,))
    assert versions(items) == [version]
    picked = "es" if language.startswith("es") else "en"
    assert items[0].release_notes_link == f"https://sparkle-project.org/notes.{picked}.html"
    best = best_item(
        load("testlocalizedreleasenotesappcast.xml"), host_version="1.0", os_version=OS, channels=(channel,)
    )
    assert best is not None and best.version == version


# --- testNamespaces, testLinks, testRelativeURLs, testDangerousLink ----------------------------


def test_namespaces() -> None:
    items = load("testnamespaces.xml")
    assert len(items) == 2
    assert (items[1].title, items[1].description) == ("Version 2.0", "desc")
    assert items[0].release_notes_link == "https://sparkle-project.org/#works"


def test_links() -> None:
    items = load("test-links.xml")
    assert len(items) == 3
    assert (
        items[0].release_notes_link,
        items[0].full_release_notes_link,
        items[0].info_url,
        items[0].url,
    ) == (
        f"{NOTES}/notes/relnote-3.0.txt",
        f"{NOTES}/fullnotes.txt",
        NOTES,
        f"{NOTES}/release-3.0.zip",
    )
    http = "http://sparkle-project.org"
    assert (
        items[1].release_notes_link,
        items[1].full_release_notes_link,
        items[1].info_url,
        items[1].url,
    ) == (
        f"{http}/notes/relnote-2.0.txt",
        f"{http}/fullnotes.txt",
        http,
        f"{http}/release-2.0.zip",
    )
    # file:// links are dropped (Sparkle logs them); the https enclosure keeps the item.
    assert (
        items[2].release_notes_link,
        items[2].full_release_notes_link,
        items[2].info_url,
        items[2].url,
    ) == (
        None,
        None,
        None,
        f"{NOTES}/release-1.0.zip",
    )


def test_relative_urls() -> None:
    items = load("test-relative-urls.xml")
    assert len(items) == 4
    assert items[0].url == "https://fake.sparkle-project.org/updates/release-3.0.zip"
    assert items[0].release_notes_link == "https://fake.sparkle-project.org/updates/notes/relnote-3.0.txt"
    assert items[1].info_url == "https://fake.sparkle-project.org/info/info-2.0.txt"
    assert items[2].full_release_notes_link == "https://fake.sparkle-project.org/updates/notes/fullnotes.txt"
    assert items[3].full_release_notes_link == "https://sparkle-project.org/releasenotes.html"


def test_relative_urls_without_a_feed_url_stay_relative() -> None:
    # Sparkle's scheme test messages a nil scheme, which answers NSOrderedSame: it passes.
    items = parse_appcast((FIXTURES / "test-relative-urls.xml").read_bytes())
    assert [item.url for item in items] == ["release-3.0.zip", None, "release-1.0.zip", "release-0.9.zip"]


def test_dangerous_link_fails_the_whole_feed() -> None:
    with pytest.raises(AppcastError, match=r"item 3 \(version 1.0\): the enclosure URL 'file://"):
        load("test-dangerous-link.xml")


def test_sample_appcast_details() -> None:
    first, _, third = load("SampleAppcast.xml")
    assert first.title == "Version 2.0 (2 bugs fixed; 3 new features)"
    assert (first.minimum_system_version, first.type) == ("10.13", OCTET)
    assert first.pub_date == datetime(2006, 1, 9, 19, 20, 11, tzinfo=UTC)
    assert first.release_notes_link == "https://you.com/app/2.0.html"
    # Whitespace around an element's text (the 1.4 item's notes link spans lines) is not part of it.
    assert third.release_notes_link == "https://you.com/app/1.4.html"
    assert (third.short_version, third.display_version) == ("1.4", "1.4")
    assert first.display_version == "2.0"


# --- rules beyond the fixtures, each from SUAppcast.m / SUAppcastItem.m / SUAppcastDriver.m -----

HEAD = b'<rss version="2.0" xmlns:sparkle="http://www.andymatuschak.org/xml-namespaces/sparkle"><channel>'
TAIL = b"</channel></rss>"


def feed(*items: str) -> bytes:
    return HEAD + "".join(f"<item>{item}</item>" for item in items).encode() + TAIL


def enclosure(version: str, url: str = "https://h/a.dmg", extra: str = "") -> str:
    return f'<enclosure url="{url}" sparkle:version="{version}" length="10" {extra}/>'


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("<title>x</title>", "no sparkle:version"),
        ("<sparkle:version>2</sparkle:version>", "neither an enclosure nor an http"),
        ("<sparkle:version>2</sparkle:version><link>file:///etc</link>", "neither an enclosure nor an http"),
        ('<sparkle:version>2</sparkle:version><enclosure length="3"/>', "the enclosure has no url"),
        (enclosure("2", "file:///tmp/a.dmg"), "is not http"),
        (enclosure("2", "javascript:alert(1)"), "is not http"),
        (enclosure("2", "ftp://h/a.dmg"), "is not http"),
        (enclosure("2", extra='sparkle:installationType="exe"'), "installationType 'exe' is not valid"),
    ],
)
def test_what_sparkle_refuses_fails_the_whole_feed(item: str, message: str) -> None:
    good = enclosure("1")
    with pytest.raises(AppcastError, match=message):
        parse_appcast(feed(good, item))


def test_what_sparkle_accepts_without_complaint() -> None:
    items = parse_appcast(
        feed(
            # An unreadable pubDate or length is no error: Sparkle keeps the date as text.
            '<enclosure url="https://h/a.dmg" sparkle:version="1" length="lots"/><pubDate>yesterday</pubDate>',
            # An enclosure without url is fine when a link makes the item informational.
            '<sparkle:version>2</sparkle:version><enclosure length="3"/><link>https://h/info</link>',
            enclosure("3", "HTTPS://h/b.dmg") + "<sparkle:channel>not valid!</sparkle:channel>",
            enclosure("4", "https://h/Nexy.pkg"),
            enclosure("5", extra='sparkle:installationType="interactive-package"'),
        )
    )
    first, second, third, fourth, fifth = items
    assert (first.pub_date, first.date_string, first.length) == (None, "yesterday", 0)
    assert (second.url, second.info_url, second.is_informational("1")) == (None, "https://h/info", False)
    assert (third.url, third.channel) == ("HTTPS://h/b.dmg", None)  # an invalid channel is ignored
    assert (fourth.installation_type, fifth.installation_type) == ("package", "interactive-package")


def test_enclosure_attributes_win_over_item_elements() -> None:
    (item,) = parse_appcast(
        feed(
            "<sparkle:version>9</sparkle:version><sparkle:shortVersionString>9.0</sparkle:shortVersionString>"
            + enclosure("10", extra='sparkle:shortVersionString="10.0"')
        )
    )
    assert (item.version, item.short_version) == ("10", "10.0")
    (element_only,) = parse_appcast(
        feed(
            "<sparkle:version> 9 </sparkle:version><sparkle:shortVersionString>9.0</sparkle:shortVersionString>"
            '<enclosure url="https://h/a.dmg"/>'
        )
    )
    assert (element_only.version, element_only.short_version) == ("9", "9.0")
    (from_name,) = parse_appcast(feed('<enclosure url="https://h/Nexy_2.0.1.dmg"/>'))
    assert from_name.version == "2.0.1"


def test_items_of_every_channel_are_read() -> None:
    data = (
        HEAD
        + f"<item>{enclosure('1')}</item></channel><channel><item>{enclosure('2')}</item>".encode()
        + TAIL
    )
    items = parse_appcast(data)
    assert versions(items) == ["1", "2"]
    assert best_item(items, host_version="0", os_version=OS).version == "2"  # type: ignore[union-attr]


def test_a_document_that_is_not_rss_has_no_items() -> None:
    assert (
        parse_appcast(b"<feed><channel><item><enclosure url='https://h/a' /></item></channel></feed>") == []
    )


def test_relative_urls_resolve_against_the_feed_url_and_spaces_are_forgiven() -> None:
    (item,) = parse_appcast(
        feed(enclosure("1", "../files/Nexy App.dmg")), feed_url="https://h/updates/appcast.xml"
    )
    assert item.url == "https://h/files/Nexy%20App.dmg"
    with pytest.raises(AppcastError, match="is not http"):
        parse_appcast(feed(enclosure("1", "file:///x.dmg")), feed_url="https://h/updates/appcast.xml")


def test_ties_keep_the_first_and_only_newer_items_are_offered() -> None:
    items = parse_appcast(
        feed(
            enclosure("2.0", "https://h/first.dmg"), enclosure("2", "https://h/second.dmg"), enclosure("1.9")
        )
    )
    best = best_item(items, host_version="1.0", os_version=OS)
    assert best is not None and best.url == "https://h/first.dmg"
    assert best_item(items, host_version="2.0.0", os_version=OS) is None
    assert best_item([], host_version="1.0", os_version=OS) is None


def test_text_suffixes_and_dashes_compare_as_sparkle_does() -> None:
    items = parse_appcast(feed(enclosure("2.0b1"), enclosure("2.0"), enclosure("1.9")))
    assert best_item(items, host_version="1.0", os_version=OS).version == "2.0"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [
        b"<rss><channel><item>",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><rss><channel><title>&b;</title></channel></rss>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel><title>&x;</title></channel></rss>',
    ],
)
def test_unsafe_or_malformed_xml_is_refused(data: bytes) -> None:
    with pytest.raises(AppcastError, match="not safe, well-formed XML"):
        parse_appcast(data)


def test_input_is_bounded() -> None:
    with pytest.raises(AppcastError, match="more than"):
        parse_appcast(b" " * (MAX_APPCAST_BYTES + 1))
    deep = b"<rss><channel><item>" + b"<a>" * 300 + b"</a>" * 300 + b"</item></channel></rss>"
    with pytest.raises(AppcastError, match="deeper than 256"):
        parse_appcast(deep)


def test_description_is_the_text_of_every_descendant_and_unknown_formats_are_html() -> None:
    (item,) = parse_appcast(
        feed(
            enclosure("1")
            + '<description sparkle:format="RTF">  <![CDATA[<b>bold</b>]]> &amp; more </description>'
        )
    )
    assert (item.description, item.description_format) == ("  <b>bold</b> & more ", "html")
    (linked,) = parse_appcast(feed(enclosure("1") + "<description>https://h/notes.html</description>"))
    assert linked.release_notes_link == "https://h/notes.html"
    # Text that merely starts like a URL is no URL for NSURL (a space), so it stays notes only.
    (text,) = parse_appcast(feed(enclosure("1") + "<description>https://h/ is our new page</description>"))
    assert (text.release_notes_link, text.description) == (None, "https://h/ is our new page")


def test_update_controls_are_parsed() -> None:
    (item,) = parse_appcast(
        feed(
            enclosure("5")
            + "<sparkle:phasedRolloutInterval>3600</sparkle:phasedRolloutInterval>"
            + '<sparkle:criticalUpdate sparkle:version="4"/>'
            + "<sparkle:minimumAutoupdateVersion>3</sparkle:minimumAutoupdateVersion>"
            + "<sparkle:informationalUpdate><sparkle:belowVersion>2</sparkle:belowVersion></sparkle:informationalUpdate>"
            + "<link>https://h/</link>"
        )
    )
    assert item.phased_rollout_interval == 3600
    assert (item.critical_update, item.critical_version) == (True, "4")
    assert (item.is_critical("3.9"), item.is_critical("4")) == (True, False)
    assert (item.is_major_upgrade("2.9"), item.is_major_upgrade("3")) == (True, False)
    assert (item.is_informational("1.9"), item.is_informational("2")) == (True, False)


def test_phase_group_without_a_clock_is_a_programming_error() -> None:
    items = load("testappcast_phasedRollout.xml")
    with pytest.raises(ValueError, match="needs the current time"):
        best_item(items, host_version="1.0", os_version=OS, phase_group=1)


def test_deltas_resolve_without_the_feed_url_and_inherit_the_item() -> None:
    # SUAppcastItem.m builds each delta with relativeToURL:nil and drops the ones it cannot build.
    (item,) = parse_appcast(
        feed(
            enclosure("3")
            + "<sparkle:minimumSystemVersion>13.0</sparkle:minimumSystemVersion><sparkle:deltas>"
            + '<enclosure url="https://h/3_from_1.delta" sparkle:version="3" sparkle:deltaFrom="1" length="5"/>'
            + '<enclosure url="ftp://h/3_from_2.delta" sparkle:version="3" sparkle:deltaFrom="2"/>'
            + '<enclosure url="https://h/no-from.delta" sparkle:version="3"/>'
            + '<enclosure url="3_from_0.delta" sparkle:version="3" sparkle:deltaFrom="0"/>'
            + "</sparkle:deltas>"
        ),
        feed_url="https://h/appcast.xml",
    )
    assert [(d.delta_from, d.url, d.length) for d in item.deltas] == [
        ("1", "https://h/3_from_1.delta", 5),
        ("0", "3_from_0.delta", None),  # not resolved against the feed's URL
    ]
    delta = item.delta_for("1")
    assert delta is not None and (delta.minimum_system_version, delta.version) == ("13.0", "3")
    assert item.delta_for("2") is None
