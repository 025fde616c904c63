"""The archive readers on real archives (Sparkle's, the sandbox's) and on hostile ones, in process.

7-Zip is the real one on this machine (Debian's 7zip package); nothing is imitated."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib
from pathlib import Path

import pycdlib
import pytest

from release.parts.archives import ArchiveError, ReaderMissing, read_dmg, read_pkg
from release.parts.archives.bounds import MAX_SCANNED_BYTES
from release.parts.archives.payload import build_cpio
from release.parts.archives.sample import make_dmg, make_pkg
from release.parts.archives.udif import build_udif, read_koly
from release.parts.archives.xar import build_xar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "archives"
INFO = {
    "CFBundleVersion": "2.0.0.15",
    "CFBundleShortVersionString": "2.0.0.15",
    "SUFeedURL": "https://x/a.xml",
}
needs_7zip = pytest.mark.skipif(
    not (os.path.exists("/usr/bin/7zz") or os.path.exists("/usr/bin/7z")), reason="7-Zip not installed"
)


def _one_line(exc: pytest.ExceptionInfo[ArchiveError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


@needs_7zip
@pytest.mark.parametrize("name", ["sparkle-hfs.dmg", "sparkle-apfs.dmg"])
def test_sparkle_images_are_read(name: str) -> None:
    contents = read_dmg(FIXTURES / name, platform="linux")
    assert contents.app is not None and contents.app.path.endswith("SparkleTestCodeSignApp.app")
    assert contents.app.info["CFBundleVersion"] == "1.5"
    assert contents.app.code_resources is False  # Sparkle's test app ships unsigned


def test_sparkle_pkg_is_read() -> None:
    contents = read_pkg(FIXTURES / "sparkle-test.pkg")
    assert contents.pkg_version == "0" and contents.pkg_identifier == "org.sparkle-project.testpkg"
    assert (
        contents.app is not None and contents.app.info["CFBundleIdentifier"] == "org.sparkle-project.testapp"
    )


@needs_7zip
def test_the_sample_archives_read_back(tmp_path: Path) -> None:
    make_dmg(tmp_path / "Nexy.dmg", INFO, 1 << 20)
    make_pkg(tmp_path / "Nexy.pkg", INFO, "2.0.0.15", 1 << 20)
    dmg, pkg = read_dmg(tmp_path / "Nexy.dmg", platform="linux"), read_pkg(tmp_path / "Nexy.pkg")
    for contents in (dmg, pkg):
        assert contents.app is not None and contents.app.path == "Nexy.app"
        assert contents.app.info == INFO and contents.app.code_resources
    assert pkg.pkg_version == "2.0.0.15"
    assert read_koly(tmp_path / "Nexy.dmg").sector_count > 2048


def test_text_truncated_and_zip_are_not_udif(tmp_path: Path) -> None:
    text = tmp_path / "text.dmg"
    text.write_text("this is not a disk image\n")
    with pytest.raises(ArchiveError) as caught:
        read_dmg(text)
    assert "shorter than a UDIF trailer" in _one_line(caught)
    zipped = tmp_path / "zip.dmg"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("Nexy.app/Contents/Info.plist", b"x" * 2000)
    with pytest.raises(ArchiveError) as caught:
        read_dmg(zipped)
    assert "a zip archive" in _one_line(caught)
    whole = build_udif(bytes(1 << 20))
    cut = tmp_path / "cut.dmg"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ArchiveError) as caught:
        read_dmg(cut)
    assert "no 'koly' trailer" in _one_line(caught)
    with pytest.raises(ArchiveError) as caught:
        read_pkg(zipped)
    assert "not a xar archive" in _one_line(caught)


@needs_7zip
def test_a_dmg_without_the_app(tmp_path: Path) -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09")
    iso.add_fp(io.BytesIO(b"hello"), 5, "/README.;1", rr_name="README")
    image = io.BytesIO()
    iso.write_fp(image)
    path = tmp_path / "empty.dmg"
    path.write_bytes(build_udif(image.getvalue()))
    with pytest.raises(ArchiveError) as caught:
        read_dmg(path, platform="linux")
    assert "no *.app in it" in _one_line(caught)


@needs_7zip
def test_a_sparse_gigabyte_image_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sparse.dmg"
    trailer = build_udif(b"x" * 512)
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)  # sparse: no blocks are written
        handle.seek(1 << 30)
        handle.write(trailer)
    assert path.stat().st_size > 1 << 30
    with pytest.raises(ArchiveError) as caught:
        read_dmg(path, platform="linux")
    _one_line(caught)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sparse.dmg"]


def test_path_traversal_entries_are_refused(tmp_path: Path) -> None:
    payload = gzip.compress(build_cpio([("../../evil/Contents/Info.plist", b"<plist/>", 0o100644)]))
    path = tmp_path / "evil.pkg"
    path.write_bytes(
        build_xar([("PackageInfo", b"<pkg-info version='1'/>", True), ("Payload", payload, False)])
    )
    with pytest.raises(ArchiveError) as caught:
        read_pkg(path)
    assert "path traversal" in _one_line(caught)
    path.write_bytes(build_xar([("../PackageInfo", b"<pkg-info/>", True)]))
    with pytest.raises(ArchiveError) as caught:
        read_pkg(path)
    assert "path traversal" in _one_line(caught)
    assert not (tmp_path.parent / "evil").exists()


def _zeros_gzip(total: int) -> bytes:
    engine = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    name = b"./Nexy.app/Contents/Resources/big\0"
    # One odc entry declaring ``total`` bytes of data, which follow as zeros (a few MB compressed).
    fields = (0, 1, 0o100644, 0, 0, 1, 0, 0, len(name), total)
    out = [engine.compress(b"070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o" % fields + name)]
    for _ in range(total >> 20):
        out.append(engine.compress(block))
    return b"".join(out) + engine.flush()


def test_bombs_stop_at_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pkg"
    path.write_bytes(build_xar([("Payload", _zeros_gzip(MAX_SCANNED_BYTES + (2 << 20)), False)]))
    assert path.stat().st_size < 8 << 20
    with pytest.raises(ArchiveError) as caught:
        read_pkg(path)
    assert "refused" in _one_line(caught)
    toc_bomb = tmp_path / "toc.pkg"
    good = build_xar([("PackageInfo", b"<pkg-info/>", True)])
    packed = zlib.compress(b"<xar>" + b" " * (64 << 20) + b"</xar>", 9)
    header = good[:8] + len(packed).to_bytes(8, "big") + (1 << 10).to_bytes(8, "big") + good[24:28]
    toc_bomb.write_bytes(header + packed)
    with pytest.raises(ArchiveError) as caught:
        read_pkg(toc_bomb)
    assert "refused" in _one_line(caught)


def test_no_dmg_reader_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "Nexy.dmg"
    path.write_bytes(build_udif(bytes(4096)))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ReaderMissing) as caught:
        read_dmg(path, platform="linux")
    assert "apt-get install 7zip" in _one_line(caught)
