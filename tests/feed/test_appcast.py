"""schemas.appcast: render → parse (Sparkle's reading, tests/feed/test_sparkle_reader.py) gives the manifest back."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree as SafeET

from schemas import AppcastItem, manifest_item, parse_appcast, render_appcast
from schemas.appcast import DMG_TYPE, PKG_TYPE, SPARKLE_NS, items_from_manifest
from schemas.notes import notes_html
from tests.feed.feedkit import make_manifest


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
    assert item.installation_type == "application"  # Sparkle's default for a non-pkg enclosure
    assert item.pub_date == manifest.published_at
    assert item.minimum_system_version == "13.0"
    assert item.description == notes_html(manifest.release_notes) == "<p>Bug fixes.</p>\n"


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
    items = [
        AppcastItem(version="2.0.0.9", url="https://h/9.dmg"),
        AppcastItem(version="2.0.0.10", url="https://h/10.dmg"),
    ]
    assert [item.version for item in parse_appcast(render_appcast(items, title="N"))] == [
        "2.0.0.9",
        "2.0.0.10",
    ]
