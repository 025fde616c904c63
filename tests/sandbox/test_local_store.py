"""LocalStore on disk: fixed tags are never created, immutable ones never written, replacement is atomic."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.outside.store.local import IMMUTABLE_MARKER, LocalStore
from release.sandbox.tree import seed
from schemas import Target


@pytest.fixture
def store(sandbox_target: tuple[Target, Path]) -> LocalStore:
    target, _ = sandbox_target
    seed(target, sandbox_paths(target))
    return LocalStore(target)


def _artifact(tmp_path: Path, name: str, data: bytes) -> tuple[Path, str, int]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


def _no_temporaries(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.startswith(".") and p.name != IMMUTABLE_MARKER]


def test_the_four_fixed_tags_exist_and_are_empty_and_mutable(store: LocalStore) -> None:
    for tag in ("Update", "App", "UpdateBeta", "AppBeta"):
        release = store.release(tag)
        assert (release.tag, release.immutable, release.assets) == (tag, False, ())
    assert "writable" in store.check_access()


def test_a_missing_fixed_release_is_never_created(store: LocalStore, tmp_path: Path) -> None:
    source, digest, size = _artifact(tmp_path, "Nexy.dmg", b"x" * 10)
    with pytest.raises(ReleaseError, match="never creates tags") as caught:
        store.upload("Nightly", "Nexy.dmg", source, sha256=digest, size=size)
    assert caught.value.code == 2
    assert not (store.root / "Nightly").exists()
    with pytest.raises(ReleaseError, match="not a valid release tag"):
        store.release("../App")


def test_upload_then_list_then_skip_on_same_hash(store: LocalStore, tmp_path: Path) -> None:
    source, digest, size = _artifact(tmp_path, "Nexy.dmg", os.urandom(3 << 20))
    moved: list[int] = []
    first = store.upload("UpdateBeta", "Nexy.dmg", source, sha256=digest, size=size, progress=moved.append)
    assert first.transferred
    assert sum(moved) == size
    assert first.asset.url == store.target.download_url("UpdateBeta", "Nexy.dmg")
    asset = store.release("UpdateBeta").asset("Nexy.dmg")
    assert asset is not None
    assert (asset.size, asset.sha256) == (size, digest)
    inode = (store.root / "UpdateBeta" / "Nexy.dmg").stat().st_ino
    again = store.upload("UpdateBeta", "Nexy.dmg", source, sha256=digest, size=size)
    assert not again.transferred
    assert (store.root / "UpdateBeta" / "Nexy.dmg").stat().st_ino == inode


def test_replace_in_place_is_a_rename_and_leaves_no_temporaries(store: LocalStore, tmp_path: Path) -> None:
    old, old_digest, old_size = _artifact(tmp_path, "old.pkg", b"old bytes")
    new, new_digest, new_size = _artifact(tmp_path, "new.pkg", b"new bytes, longer")
    store.upload("AppBeta", "Nexy.pkg", old, sha256=old_digest, size=old_size)
    (store.root / "AppBeta" / ".upload-Nexy.pkg.leftover").write_bytes(b"half an upload")
    result = store.upload("AppBeta", "Nexy.pkg", new, sha256=new_digest, size=new_size)
    assert result.transferred
    assert (store.root / "AppBeta" / "Nexy.pkg").read_bytes() == b"new bytes, longer"
    assert _no_temporaries(store.root / "AppBeta")
    assert [a.name for a in store.release("AppBeta").assets] == ["Nexy.pkg"]


def test_bytes_that_do_not_match_the_measured_hash_change_nothing(store: LocalStore, tmp_path: Path) -> None:
    good, digest, size = _artifact(tmp_path, "Nexy.dmg", b"published")
    store.upload("Update", "Nexy.dmg", good, sha256=digest, size=size)
    changed, _, _ = _artifact(tmp_path, "changed.dmg", b"PUBLISHED")
    with pytest.raises(ReleaseError, match="changed while uploading") as caught:
        store.upload("Update", "Nexy.dmg", changed, sha256=hashlib.sha256(b"other").hexdigest(), size=size)
    assert caught.value.code == 1
    assert (store.root / "Update" / "Nexy.dmg").read_bytes() == b"published"
    assert _no_temporaries(store.root / "Update")


def test_an_immutable_release_refuses_every_write(store: LocalStore, tmp_path: Path) -> None:
    tag_dir = store.root / "App"
    (tag_dir / "Nexy.pkg").write_bytes(b"frozen")
    (tag_dir / IMMUTABLE_MARKER).write_text("")
    assert store.release("App").immutable
    source, digest, size = _artifact(tmp_path, "Nexy.pkg", b"new")
    with pytest.raises(ReleaseError, match="immutable") as caught:
        store.upload("App", "Nexy.pkg", source, sha256=digest, size=size)
    assert caught.value.code == 2
    assert (tag_dir / "Nexy.pkg").read_bytes() == b"frozen"


def test_download_is_atomic_and_hashes(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    source, digest, size = _artifact(tmp_path, "Nexy.dmg", data)
    store.upload("UpdateBeta", "Nexy.dmg", source, sha256=digest, size=size)
    dest = tmp_path / "archive" / "deep" / "Nexy.dmg"
    moved: list[int] = []
    assert store.download("UpdateBeta", "Nexy.dmg", dest, progress=moved.append) == digest
    assert dest.read_bytes() == data
    assert sum(moved) == size
    assert _no_temporaries(dest.parent)
    with pytest.raises(ReleaseError, match=r"has no asset Nexy\.pkg"):
        store.download("UpdateBeta", "Nexy.pkg", tmp_path / "x")


def test_check_access_needs_the_store_root(sandbox_target: tuple[Target, Path]) -> None:
    with pytest.raises(ReleaseError, match=r"sandbox\.up"):
        LocalStore(sandbox_target[0]).check_access()
