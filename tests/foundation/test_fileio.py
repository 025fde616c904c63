"""The atomic writer: whole content, mode kept, no temp files left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas.fileio import atomic_stream, atomic_write


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


def test_a_symlink_stays_and_its_target_is_replaced(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    real = secrets / "config.env"
    real.write_text("UPDATE_BETA_ENABLED=false\n")
    real.chmod(0o600)
    link = tmp_path / "config.env"
    link.symlink_to(real)
    atomic_write(link, b"UPDATE_BETA_ENABLED=true\n")
    assert link.is_symlink()
    assert real.read_text() == "UPDATE_BETA_ENABLED=true\n"
    assert real.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in secrets.iterdir()) == ["config.env"]
