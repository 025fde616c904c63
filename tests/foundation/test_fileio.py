"""The atomic writer: whole content, mode kept, no temp files left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas.fileio import FileRefused, atomic_stream, atomic_write, read_regular


def test_replaces_keeping_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.env"
    path.write_text("A=1\n")
    path.chmod(0o600)
    atomic_write(path, b"A=2\n")
    assert path.read_bytes() == b"A=2\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["config.env"]


def test_new_file_gets_mode_and_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "f.json"
    atomic_write(path, b"{}\n", mode=0o640)
    assert path.stat().st_mode & 0o777 == 0o640


def test_failed_write_leaves_old_content_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")

    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_stream_abandoned_midway_keeps_old_content(tmp_path: Path) -> None:
    path = tmp_path / "Nexy.dmg"
    path.write_bytes(b"old bytes")

    def abandon() -> None:
        with atomic_stream(path) as handle:
            handle.write(b"new bytes, half written")
            raise ValueError("checksum mismatch")

    with pytest.raises(ValueError, match="checksum"):
        abandon()
    assert path.read_bytes() == b"old bytes"
    assert os.listdir(tmp_path) == ["Nexy.dmg"]


def test_stream_completes(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with atomic_stream(path, mode=0o600) as handle:
        for _ in range(4):
            handle.write(b"x" * 1024)
    assert path.stat().st_size == 4096
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    real = secrets / "config.env"
    real.write_text("UPDATE_BETA_ENABLED=false\n")
    link = tmp_path / "config.env"
    link.symlink_to(real)
    with pytest.raises(FileRefused, match=r"config.env is a symbolic link; refused \(links are not followed"):
        atomic_write(link, b"UPDATE_BETA_ENABLED=true\n")
    with pytest.raises(FileRefused, match="symbolic link"):
        read_regular(link)
    assert link.is_symlink() and real.read_text() == "UPDATE_BETA_ENABLED=false\n"
    assert sorted(os.listdir(tmp_path)) == ["config.env", "secrets"]


def test_reader_refuses_fifo_directory_and_hard_link_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "one").write_bytes(b"x")
    os.link(tmp_path / "one", tmp_path / "two")
    for name, kind in (("fifo", "a FIFO"), ("dir", "a directory"), ("two", "a file with 2 hard links")):
        with pytest.raises(FileRefused, match=f"{name} is {kind}; refused"):
            read_regular(tmp_path / name)
    assert read_regular(tmp_path / "missing") is None
    assert read_regular(tmp_path / "nodir" / "x") is None


def test_reader_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"[" * 101)
    assert read_regular(tmp_path / "big", max_bytes=101) == b"[" * 101
    with pytest.raises(FileRefused, match="larger than 100 bytes"):
        read_regular(tmp_path / "big", max_bytes=100)


def test_a_directory_swapped_for_a_link_below_the_root_is_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / "manifests").symlink_to(elsewhere)
    with pytest.raises(FileRefused, match="manifests is a symbolic link"):
        atomic_write(root / "manifests" / "m.json", b"{}", below=root)
    with pytest.raises(FileRefused, match="manifests is a symbolic link"):
        read_regular(root / "manifests" / "m.json", below=root)
    assert os.listdir(elsewhere) == []
    # Above the root the operator's own links are followed: the root may itself be a link.
    (tmp_path / "alias").symlink_to(root)
    atomic_write(tmp_path / "alias" / "sub" / "f", b"ok", below=tmp_path / "alias")
    assert (root / "sub" / "f").read_bytes() == b"ok"


def test_recreated_directory_gets_its_parents_mode(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o751)
    atomic_write(root / "a" / "b" / "f", b"x", below=root)
    assert (root / "a").stat().st_mode & 0o777 == 0o751
    assert (root / "a" / "b").stat().st_mode & 0o777 == 0o751


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another owner needs root")
def test_owner_is_kept_through_the_fd(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    os.chown(path, 65534, 65534)  # the test's own setup, not the code under test
    atomic_write(path, b"new")
    st = path.stat()
    assert (st.st_uid, st.st_gid, path.read_bytes()) == (65534, 65534, b"new")


def test_a_link_planted_at_the_temp_name_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"root only")
    victim.chmod(0o600)
    (tmp_path / ".f.deadbeef.tmp").symlink_to(victim)
    names = iter(["deadbeef", "cafef00d"])
    # The random source is the only thing replaced: it makes the planted name the first one tried.
    monkeypatch.setattr("schemas.fileio.secrets.token_hex", lambda _n: next(names))
    atomic_write(tmp_path / "f", b"new", mode=0o644)
    assert (tmp_path / "f").read_bytes() == b"new"
    assert victim.read_bytes() == b"root only" and victim.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".f.deadbeef.tmp").is_symlink()
