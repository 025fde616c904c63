"""``accept --staged``: a bundle staged in parts by root is taken whole, checked by sha256, and read
without following links, within the bundle's size limit, only from files root (or we) own."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from schemas import Bundle

from .helpers import Vm, bundle, run_cli

pytestmark = pytest.mark.timeout(120)


def _stage(directory: Path, payload: bytes, parts: int) -> str:
    directory.mkdir(mode=0o755, exist_ok=True)
    sha = hashlib.sha256(payload).hexdigest()
    size = -(-len(payload) // parts)
    for i in range(parts):
        (directory / f"{sha}.{i}").write_bytes(payload[i * size : (i + 1) * size] + b"\n")
    return sha


def _accept(vm: Vm, directory: Path, sha: str, parts: int) -> tuple[int, dict[str, object], str]:
    done = run_cli(vm, "accept", "--staged", str(directory), "--parts", str(parts), "--sha256", sha)
    answer = json.loads(done.stdout.decode().splitlines()[-1].removeprefix("RESULT "))
    return done.returncode, answer, done.stderr.decode()


def _desired(vm: Vm) -> Path:
    return vm.root.parent / "vm-state/desired/bundle.json"


def _payload() -> tuple[Bundle, bytes]:
    b = bundle()
    return b, b.model_dump_json().encode()


def test_staged_parts_are_accepted_whole(vm: Vm, tmp_path: Path) -> None:
    b, payload = _payload()
    sha = _stage(tmp_path / "stage", payload, 3)
    code, answer, _ = _accept(vm, tmp_path / "stage", sha, 3)
    assert code == 0 and answer["ok"] and answer["desired_digest"] == b.digest()


def test_a_part_that_does_not_add_up_changes_nothing(vm: Vm, tmp_path: Path) -> None:
    _b, payload = _payload()
    stage = tmp_path / "stage"
    sha = _stage(stage, payload, 3)
    part = stage / f"{sha}.1"
    part.write_bytes(part.read_bytes().replace(b"2", b"3", 1))
    code, answer, stderr = _accept(vm, stage, sha, 3)
    assert code == 2 and not answer["ok"] and "do not add up to sha256" in str(answer["error"])
    assert len(stderr.strip().splitlines()) == 1
    (stage / f"{sha}.2").unlink()
    code, answer, _ = _accept(vm, stage, sha, 3)
    assert code == 2 and "is missing; nothing written" in str(answer["error"])
    assert not _desired(vm).exists()


def test_a_linked_part_is_refused(vm: Vm, tmp_path: Path) -> None:
    _b, payload = _payload()
    stage = tmp_path / "stage"
    sha = _stage(stage, payload, 2)
    target = tmp_path / "elsewhere"
    os.replace(stage / f"{sha}.0", target)
    (stage / f"{sha}.0").symlink_to(target)
    code, answer, _ = _accept(vm, stage, sha, 2)
    assert code == 2 and "is a symbolic link; refused" in str(answer["error"])
    assert not _desired(vm).exists()


def test_a_linked_or_shared_staging_directory_is_refused(vm: Vm, tmp_path: Path) -> None:
    _b, payload = _payload()
    stage = tmp_path / "stage"
    sha = _stage(stage, payload, 1)
    (tmp_path / "link").symlink_to(stage)
    code, answer, _ = _accept(vm, tmp_path / "link", sha, 1)
    assert code == 2 and "links are not followed" in str(answer["error"])
    stage.chmod(0o777)
    code, answer, _ = _accept(vm, stage, sha, 1)
    assert code == 2 and "writable by others (mode 777)" in str(answer["error"])
    stage.chmod(0o755)
    (stage / f"{sha}.0").chmod(0o666)
    code, answer, _ = _accept(vm, stage, sha, 1)
    assert code == 2 and "writable by others (mode 666)" in str(answer["error"])
    assert not _desired(vm).exists()


def test_a_staged_bundle_is_bounded(vm: Vm, tmp_path: Path) -> None:
    payload = b" " * (2 << 20) + b"{}"
    sha = _stage(tmp_path / "stage", payload, 2)
    code, answer, _ = _accept(vm, tmp_path / "stage", sha, 2)
    assert code == 2 and "larger than" in str(answer["error"])


@pytest.mark.parametrize(("sha", "parts"), [("abc", 1), ("a" * 64, 0)])
def test_bad_staging_arguments_are_one_line(vm: Vm, tmp_path: Path, sha: str, parts: int) -> None:
    (tmp_path / "stage").mkdir(mode=0o755)
    code, answer, _ = _accept(vm, tmp_path / "stage", sha, parts)
    assert code == 2 and str(answer["error"]).startswith(("--sha256", "--parts"))
