"""schemas.appcast: Sparkle's own fixture feeds parse right; render → parse gives the manifest back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET

from schemas import AppcastError, AppcastItem, manifest_item, parse_appcast, render_appcast
from schemas.appcast import DMG_TYPE, PKG_TYPE, SPARKLE_NS, items_from_manifest
from schemas.notes import notes_html
from tests.feed.feedkit import make_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sparkle"
ZIP = "http://localhost:1337/Sparkle_Test_App.zip"
OCTET = "application/octet-stream"

SIG_20 = "WVyVJpOx+a5+vNWJVY79TRjFKveNk+VhGJf2iti4CZtJsJewIUGvh/1AKKEAFbH1qUwx+vro1ECuzOsMmumoBA=="
SIG_15 = "pNFd7KbcQSu+Mq7UYrbQXTPq82luht2ACXm/r2utp1u/Uv/5hWqctdT2jwQgMejW7DRoeV/hVr6J4VdZYdwWDw=="
SIG_14 = "Ody3D/ybSMH4T+P/oNj3LN4F0SA8RJGLEr1TI4UemrBAiJ9aEcDnYV3u58P75AbcFjI13jPYmHDUHXMSTFQbDw=="
APP = "https://you.com/app/Your%20Great%20App%20"

Row = tuple[str, str | None, str | None, int | None, str | None, str | None]

# Per item, in document order: (version, short_version, url, length, type, ed_signature). Written
# by hand from the files, so a parser that drifts from Sparkle's reading fails here. The delta
# enclosures' signatures ("...") must not leak into their item.
EXPECTED: dict[str, list[Row]] = {
    "SampleAppcast.xml": [
        ("2.0", None, f"{APP}2.0.zip", 1623481, OCTET, SIG_20),
        ("1.5", None, f"{APP}1.5.zip", 1472893, OCTET, SIG_15),
        ("241", "1.4", f"{APP}1.4.zip", 1472349, OCTET, SIG_14),
    ],
    "test-relative-urls.xml": [
        ("3.0", None, "release-3.0.zip", 1346234, None, None),
        ("2.0", None, None, None, None, None),
        ("1.0", None, "release-1.0.zip", 1346234, None, None),
        ("0.9", None, "release-0.9.zip", 1346234, None, None),
    ],
    "testappcast.xml": [
        ("2.0", None, ZIP, None, None, None),
        ("3.0", None, ZIP, 1346234, None, None),
        ("4.0", None, ZIP, 1346234, None, None),
        ("5.0", None, ZIP, 1346234, None, None),
    ],
    "testappcast_channels.xml": [
        ("2.0", None, ZIP, None, None, None),
        ("3.0", None, ZIP, 1346234, None, None),
        ("4.0", None, ZIP, 1346234, None, None),
        ("5.0", None, ZIP, 1346234, None, None),
        ("6.0", None, ZIP, 1346234, None, None),
        ("7.0", None, ZIP, 1346234, None, "..."),
    ],
    "testappcast_info_updates.xml": [
        ("2.0", None, ZIP, None, None, None),
        ("3.0", None, ZIP, 1346234, None, None),
        ("4.0", None, ZIP, 1346234, None, None),
        ("5.0", None, None, None, None, None),
    ],
    "testappcast_minimumAutoupdateVersion.xml": [
        ("3.0", None, ZIP, 1346234, None, None),
        ("2.0", None, ZIP, 1346234, None, None),
    ],
    "testappcast_phasedRollout.xml": [
        ("3.0", None, ZIP, None, None, None),
        ("2.0", None, ZIP, None, None, None),
    ],
    "testnamespaces.xml": [
        ("3.0", None, ZIP, 1346234, None, None),
        ("2.0", None, ZIP, 1346234, None, None),
    ],
}


def test_every_sparkle_fixture_is_covered() -> None:
    assert sorted(path.name for path in FIXTURES.glob("*.xml")) == sorted(EXPECTED)
    assert (
        (FIXTURES / "SPARKLE_LICENSE.txt").read_text().startswith("Copyright (c) 2006-2013 Andy Matuschak.")
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sparkle_fixture_versions_and_enclosures(name: str) -> None:
    items = parse_appcast((FIXTURES / name).read_bytes())
    assert [(i.version, i.short_version, i.url, i.length, i.type, i.ed_signature) for i in items] == (
        EXPECTED[name]
    )
    # No Sparkle fixture marks a package install; the attribute must not appear from elsewhere.
    assert [item.installation_type for item in items] == [None] * len(items)


def test_sample_appcast_details() -> None:
    first, _, third = parse_appcast((FIXTURES / "SampleAppcast.xml").read_bytes())
    assert first.title == "Version 2.0 (2 bugs fixed; 3 new features)"
    assert first.minimum_system_version == "10.13"
    assert first.pub_date == datetime(2006, 1, 9, 19, 20, 11, tzinfo=UTC)
    assert first.release_notes_link == "https://you.com/app/2.0.html"
    # Whitespace around an element's text (the 1.4 item's notes link spans lines) is not part of it.
    assert third.release_notes_link == "https://you.com/app/1.4.html"
    assert third.pub_date == datetime(2005, 12, 25, 12, 20, 11, tzinfo=UTC)


def test_fixture_extras_description_format_channel_and_minimum() -> None:
    items = parse_appcast((FIXTURES / "testappcast.xml").read_bytes())
    assert (items[0].description, items[0].description_format) == ("desc", "plain-text")
    assert items[2].minimum_system_version == "17.0.0"
    channels = parse_appcast((FIXTURES / "testappcast_channels.xml").read_bytes())
    assert [item.channel for item in channels] == [None, None, "beta", "nightly", None, None]


def test_delta_enclosures_are_not_items() -> None:
    items = parse_appcast((FIXTURES / "testappcast.xml").read_bytes())
    assert all(not (item.url or "").endswith(".patch") for item in items)


def test_render_then_parse_gives_the_manifest_back() -> None:
    manifest = make_manifest("2.0.0.15", build="2.0.0.15", signed=True, minimum_system_version="13.0")
    data = render_appcast(items_from_manifest(manifest), title="Nexy Updates")
    (item,) = parse_appcast(data)
    assert item.version == manifest.build
    assert item.short_version == manifest.version
    assert item.url == str(manifest.artifact.url)
    assert item.length == manifest.artifact.size
    assert item.type == DMG_TYPE
    assert item.ed_signature == manifest.artifact.ed_signature
    assert item.installation_type is None
    assert item.pub_date == manifest.published_at
    assert item.minimum_system_version == "13.0"
    assert item.description == notes_html(manifest.release_notes) == "<p>Bug fixes.</p>\n"
    assert item == manifest_item(manifest)


def test_rendered_feed_uses_the_sparkle_namespace_and_rfc822_dates() -> None:
    data = render_appcast(
        items_from_manifest(make_manifest("2.0.0.14")), title="Nexy", link="https://example.org/"
    )
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n')
    root = SafeET.fromstring(data)
    item = root.find("channel/item")
    assert item is not None
    assert item.findtext(f"{{{SPARKLE_NS}}}version") == "2.0.0.14"
    assert item.findtext(f"{{{SPARKLE_NS}}}shortVersionString") == "2.0.0.14"
    assert item.findtext("pubDate") == "Wed, 25 Feb 2026 12:30:00 +0000"
    assert root.findtext("channel/link") == "https://example.org/"
    assert b"xmlns:sparkle=" in data and b"ns0:" not in data


def test_pkg_item_is_marked_as_package_installation() -> None:
    manifest = make_manifest("2.0.0.14")
    data = render_appcast([manifest_item(manifest, package=True)], title="Nexy")
    assert b'sparkle:installationType="package"' in data
    (item,) = parse_appcast(data)
    assert (item.url, item.length, item.type) == (
        str(manifest.installer.url),
        manifest.installer.size,
        PKG_TYPE,
    )
    assert item.installation_type == "package"


def test_manifest_minimum_system_version_wins_over_the_fallback() -> None:
    own = manifest_item(
        make_manifest("2.0.0.14", minimum_system_version="14.0"), minimum_system_version="13.0"
    )
    fallback = manifest_item(make_manifest("2.0.0.14"), minimum_system_version="13.0")
    assert (own.minimum_system_version, fallback.minimum_system_version) == ("14.0", "13.0")
    no_minimum = render_appcast([manifest_item(make_manifest("2.0.0.14"))], title="Nexy")
    assert b"minimumSystemVersion" not in no_minimum


@pytest.mark.parametrize(
    "notes",
    [
        "Fixed A & B",
        "<script>alert(1)</script> and </description></item>",
        "CDATA end ]]> inside <![CDATA[ nested ]]>",
        "Quotes \" and ' and &amp; already escaped",
        "Line one\nLine two\n\n- bullet",
    ],
)
def test_notes_with_xml_metacharacters_cannot_break_the_feed(notes: str) -> None:
    data = render_appcast(items_from_manifest(make_manifest("2.0.0.14", notes=notes)), title="A & B <feed>")
    (item,) = parse_appcast(data)
    assert item.description == notes_html(notes)
    # Raw HTML in the notes is text in the rendered HTML, never markup.
    assert "<script>" not in (item.description or "") and "</description>" not in (item.description or "")
    if "<" in notes or "&" in notes:
        assert notes.encode() not in data


def test_characters_xml_cannot_carry_are_dropped() -> None:
    data = render_appcast(
        items_from_manifest(make_manifest("2.0.0.14", notes="bell\x07 nul\x00 ok")), title="N"
    )
    (item,) = parse_appcast(data)
    assert item.description is not None
    assert "\x07" not in item.description and "\x00" not in item.description
    assert item.description.startswith("<p>bell nul") and item.description.endswith(" ok</p>\n")


def test_items_keep_the_given_order() -> None:
    items = [AppcastItem(version="2.0.0.9"), AppcastItem(version="2.0.0.10")]
    assert [item.version for item in parse_appcast(render_appcast(items, title="N"))] == [
        "2.0.0.9",
        "2.0.0.10",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<rss><channel><item>", "well-formed"),
        (b"<feed/>", "<rss><channel>"),
        (b"<rss><channel><item><title>x</title></item></channel></rss>", "sparkle:version"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<rss><channel><title>&b;</title></channel></rss>",
            "safe",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<rss><channel><title>&x;</title></channel></rss>",
            "safe",
        ),
        (
            b'<rss xmlns:sparkle="http://www.andymatuschak.org/xml-namespaces/sparkle"><channel><item>'
            b"<sparkle:version>1</sparkle:version><pubDate>yesterday</pubDate></item></channel></rss>",
            "RFC 822",
        ),
    ],
)
def test_parse_refuses_what_is_not_a_safe_appcast(data: bytes, message: str) -> None:
    with pytest.raises(AppcastError, match=message):
        parse_appcast(data)
