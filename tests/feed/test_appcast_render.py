"""What the feed renders for every reader: both version forms, the signature, HTML notes in CDATA,
the item link, the stable pubDate and the update controls, read back as XML (not by our parser)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from defusedxml import ElementTree as SafeET

from schemas import CriticalUpdate, Manifest, items_from_manifest, manifest_item, render_appcast
from schemas.appcast import SPARKLE_NS

from .feedkit import SPARKLE_TEST_SIGNATURE, make_manifest

S = f"{{{SPARKLE_NS}}}"


def _item(data: bytes) -> SafeET.Element:
    item = SafeET.fromstring(data).find("channel/item")
    assert item is not None
    return item


def test_versions_are_item_elements_and_enclosure_attributes_identical() -> None:
    manifest = make_manifest("2.0.0.15", build="2.0.0.15", signed=True)
    item = _item(render_appcast(items_from_manifest(manifest), title="Nexy"))
    enclosure = item.find("enclosure")
    assert enclosure is not None
    assert item.findtext(f"{S}version") == enclosure.get(f"{S}version") == "2.0.0.15"
    assert item.findtext(f"{S}shortVersionString") == enclosure.get(f"{S}shortVersionString") == "2.0.0.15"
    assert enclosure.get(f"{S}edSignature") == SPARKLE_TEST_SIGNATURE
    assert enclosure.get("length") == str(manifest.artifact.size)


def test_release_notes_are_html_in_cdata_with_raw_html_escaped() -> None:
    notes = "# Nexy 2.0.0.15\n\n- **Faster** wake word\n- <script>alert(1)</script> ]]> done\n"
    data = render_appcast(items_from_manifest(make_manifest("2.0.0.15", notes=notes)), title="Nexy")
    assert b"<description><![CDATA[<h1>Nexy 2.0.0.15</h1>" in data
    description = _item(data).find("description")
    assert description is not None
    # No sparkle:format: HTML is what every Sparkle 2 version shows (SUAppcastItem.m's default).
    assert description.get(f"{S}format") is None
    html = description.text or ""
    assert "<strong>Faster</strong>" in html and "<li>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_cdata_end_marker_in_html_is_split_not_broken() -> None:
    item = manifest_item(make_manifest("2.0.0.15"))
    data = render_appcast([dataclasses.replace(item, description="a ]]> b")], title="Nexy")
    assert b"]]]]><![CDATA[>" in data
    description = _item(data).find("description")
    assert description is not None and description.text == "a ]]> b"


def _controlled(**fields: object) -> Manifest:
    base = make_manifest("2.0.0.16")
    data = base.model_dump() | fields
    return Manifest.model_validate(data)


def test_update_controls_link_and_promote_date_are_rendered() -> None:
    promoted = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    manifest = _controlled(
        phased_rollout_interval=86400,
        critical_update=CriticalUpdate(below="2.0.0.10"),
        minimum_autoupdate_version="2.0.0.0",
        product_link="https://example.com/nexy",
        promoted_at=promoted,
    )
    item = _item(render_appcast(items_from_manifest(manifest), title="Nexy"))
    assert item.findtext("link") == "https://example.com/nexy"
    assert item.findtext("pubDate") == "Sun, 01 Mar 2026 09:00:00 +0000"
    assert item.findtext(f"{S}phasedRolloutInterval") == "86400"
    assert item.findtext(f"{S}minimumAutoupdateVersion") == "2.0.0.0"
    critical = item.find(f"{S}criticalUpdate")
    assert critical is not None and critical.get(f"{S}version") == "2.0.0.10"


def test_critical_for_everyone_has_no_version_and_no_controls_render_nothing() -> None:
    item = _item(render_appcast(items_from_manifest(_controlled(critical_update={})), title="N"))
    critical = item.find(f"{S}criticalUpdate")
    assert critical is not None and critical.attrib == {}
    plain = render_appcast(items_from_manifest(make_manifest("2.0.0.16")), title="N")
    for absent in (b"criticalUpdate", b"phasedRolloutInterval", b"minimumAutoupdateVersion", b"<link>"):
        assert absent not in plain
    # Without a promote time the item's date is the publish time.
    assert _item(plain).findtext("pubDate") == "Wed, 25 Feb 2026 12:30:00 +0000"
