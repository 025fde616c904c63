"""Asset names match exactly, as on GitHub, even on a case-insensitive disk (macOS's default).

GitHub's release download URLs are case-sensitive: ``/releases/download/UpdateBeta/Nexy.dmg``
serves, ``.../updatebeta/nexy.dmg`` is 404. On APFS or HFS+ (case-insensitive unless formatted
otherwise) the file system alone would find the file under any case; the store must not.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from feed.assets import AssetStore
from tests.feed.feedkit import FeedProcess, RuntimeTree

pytestmark = pytest.mark.timeout(60)

StartFeed = Callable[..., FeedProcess]
WRONG_CASE = [("updatebeta", "Nexy.dmg"), ("UpdateBeta", "nexy.dmg"), ("UPDATEBETA", "NEXY.DMG")]


def _store(root: Path) -> Path:
    store = root / "assets"
    (store / "UpdateBeta").mkdir(parents=True)
    (store / "UpdateBeta" / "Nexy.dmg").write_bytes(b"dmg-bytes")
    return store


def _case_insensitive(directory: Path) -> bool:
    probe = directory / "CaseProbe"
    probe.write_bytes(b"")
    try:
        return (directory / "caseprobe").exists()
    finally:
        probe.unlink()


@pytest.mark.parametrize(("tag", "name"), WRONG_CASE)
def test_only_the_exact_listed_name_is_located(tmp_path: Path, tag: str, name: str) -> None:
    store = AssetStore(_store(tmp_path))
    assert store.locate("UpdateBeta", "Nexy.dmg") == (tmp_path / "assets/UpdateBeta/Nexy.dmg").resolve()
    assert store.locate(tag, name) is None


@pytest.fixture
def insensitive_dir() -> Iterator[Path]:
    # The default temporary directory on a Mac is on the (case-insensitive) system volume.
    directory = Path(tempfile.mkdtemp(prefix="nexy-case-"))
    if not _case_insensitive(directory):
        directory.rmdir()
        pytest.skip("this machine's temporary disk is case-sensitive; macOS's default disk is not")
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def test_wrong_case_is_404_over_http_on_a_case_insensitive_disk(
    insensitive_dir: Path, tree: RuntimeTree, start_feed: StartFeed, client: httpx.Client
) -> None:
    feed = start_feed(tree.root, "--assets-dir", str(_store(insensitive_dir)))
    assert client.get(f"{feed.base_url}/releases/download/UpdateBeta/Nexy.dmg").content == b"dmg-bytes"
    for tag, name in WRONG_CASE:
        assert client.get(f"{feed.base_url}/releases/download/{tag}/{name}").status_code == 404
