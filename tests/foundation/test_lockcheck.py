"""``./inv lock --check``'s logic: which pin lacks a hashed wheel for which platform × CPython.

The index listings here are written in the shape of PEP 691's JSON simple API (``files`` with
``filename`` and ``hashes.sha256``), with file names taken from real releases (cryptography 48/50,
psutil 7, colorama); nothing here talks to an index.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.lockcheck import PLATFORMS, VM, check_lock, differing_pins, fetch_index_files, parse_lock

REPO = Path(__file__).resolve().parents[2]


def _h(n: int) -> str:
    return f"{n:064x}"


def _lock(*entries: tuple[str, list[int]]) -> str:
    lines = []
    for requirement, hashes in entries:
        lines.append(requirement + " \\")
        lines += [f"    --hash=sha256:{_h(n)} \\" for n in hashes[:-1]] + [
            f"    --hash=sha256:{_h(hashes[-1])}"
        ]
        lines.append("    # via -r pyproject.toml")
    return "# header comment\n" + "\n".join(lines) + "\n"


def _listing(files: dict[str, dict[int, str]]) -> dict[str, dict[str, str]]:
    index = {name: {"files": [{"filename": f, "hashes": {"sha256": _h(n)}} for n, f in by_hash.items()]}
             for name, by_hash in files.items()}  # fmt: skip
    return fetch_index_files(files, lambda url: index[url.rstrip("/").rsplit("/", 1)[1]])


def _gaps(lock: str, files: dict[str, dict[int, str]]) -> set[tuple[str, str, str]]:
    report = check_lock(parse_lock(lock), _listing(files))
    return {(gap.package, gap.platform, gap.python) for gap in report.gaps}


def test_a_release_without_intel_mac_wheels_is_a_gap_on_macos_x86_64_only() -> None:
    lock = _lock(("cryptography==50.0.2", [1, 2, 3, 4]))
    files = {
        "cryptography": {
            1: "cryptography-50.0.2-cp311-abi3-macosx_11_0_arm64.whl",
            2: "cryptography-50.0.2-cp311-abi3-manylinux_2_28_x86_64.whl",
            3: "cryptography-50.0.2-cp311-abi3-manylinux_2_28_aarch64.whl",
            4: "cryptography-50.0.2.tar.gz",  # an sdist never counts: it would need Rust on the Mac
        }
    }
    assert _gaps(lock, files) == {("cryptography", "macOS x86_64", v) for v in ("3.11", "3.12", "3.13")}


def test_universal2_abi3_and_pure_wheels_fit_everywhere() -> None:
    lock = _lock(("cryptography==48.0.1", [1, 2, 3]), ("truststore==0.10.5", [9]))
    files = {
        "cryptography": {
            1: "cryptography-48.0.1-cp311-abi3-macosx_10_9_universal2.whl",
            2: "cryptography-48.0.1-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            3: "cryptography-48.0.1-cp311-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
        },
        "truststore": {9: "truststore-0.10.5-py3-none-any.whl"},
    }
    report = check_lock(parse_lock(lock), _listing(files))
    assert report.gaps == []
    assert len(report.rows) == len(PLATFORMS) * 3
    assert all(installed == 2 for _p, _v, installed, _s in report.rows)


def test_only_hashes_the_lock_pins_count_and_newer_platform_floors_do_not_fit() -> None:
    lock = _lock(("psutil==7.2.2", [1, 2, 3]))
    files = {
        "psutil": {
            1: "psutil-7.2.2-cp36-abi3-macosx_14_0_arm64.whl",  # needs macOS 14: our floor is 13
            2: "psutil-7.2.2-cp36-abi3-manylinux_2_34_x86_64.whl",  # needs glibc 2.34: floor 2.28
            3: "psutil-7.2.2-cp36-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            # A wheel the index has but the lock does not pin cannot be installed with --require-hashes.
            4: "psutil-7.2.2-cp36-abi3-macosx_10_9_x86_64.whl",
        }
    }
    platforms = {platform for _name, platform, _python in _gaps(lock, files)}
    assert platforms == {"macOS arm64", "macOS x86_64", "Linux x86_64"}


def test_a_cpython_specific_wheel_fits_only_its_own_python() -> None:
    lock = _lock(("mypy==2.4.1", [1, 2]))
    files = {
        "mypy": {
            1: "mypy-2.4.1-cp312-cp312-macosx_11_0_arm64.whl",
            2: "mypy-2.4.1-py3-none-any.whl",
        }
    }
    assert _gaps(lock, files) == set()
    assert _gaps(_lock(("mypy==2.4.1", [1])), files) == {
        ("mypy", platform.label, python)
        for platform in PLATFORMS
        for python in ("3.11", "3.12", "3.13")
        if (platform.label, python) != ("macOS arm64", "3.12")
    }


def test_markers_leave_a_package_out_where_it_is_not_installed() -> None:
    lock = _lock(("colorama==0.4.6 ; sys_platform == 'win32'", [1]))
    report = check_lock(parse_lock(lock), _listing({"colorama": {}}))
    assert report.gaps == []
    assert {(installed, skipped) for _p, _v, installed, skipped in report.rows} == {(0, 1)}


def test_marker_on_machine_and_python_is_evaluated_per_platform() -> None:
    lock = _lock(("uvloop==0.23.0 ; platform_machine == 'aarch64' and python_full_version >= '3.12'", [1]))
    gaps = _gaps(lock, {"uvloop": {}})
    assert gaps == {("uvloop", "Linux aarch64", "3.12"), ("uvloop", "Linux aarch64", "3.13")}


@pytest.mark.parametrize(
    "text",
    ["requests>=2 \\\n    --hash=sha256:" + "a" * 64 + "\n", "requests==2.32.0\n"],
    ids=["not pinned", "no hashes"],
)
def test_an_unpinned_or_unhashed_line_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="requests is not pinned with == and hashes"):
        parse_lock(text)


def test_the_committed_lock_pins_every_package_with_hashes() -> None:
    packages = parse_lock((REPO / "requirements.lock").read_text(encoding="utf-8"))
    names = {package.name for package in packages}
    assert {"psutil", "truststore", "cryptography", "httpx"} <= names
    assert all(package.hashes for package in packages)
    # One file for every platform: environment markers, not a single platform's resolution.
    assert any(package.marker is not None for package in packages)


def test_the_vm_lock_is_checked_for_linux_only_and_held_to_the_workstation_pins() -> None:
    lock = _lock(("uvloop==0.23.0", [1]))
    files = {"uvloop": {1: "uvloop-0.23.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"}}
    report = check_lock(parse_lock(lock), _listing(files), VM.platforms)
    assert {platform for platform, _v, _i, _s in report.rows} == {"Linux x86_64", "Linux aarch64"}
    assert {(gap.platform, gap.python) for gap in report.gaps} == {
        ("Linux aarch64", v) for v in ("3.11", "3.12", "3.13")
    }
    vm = parse_lock(_lock(("uvloop==0.23.0", [1]), ("httpx==0.28.1", [2]), ("idna==3.20", [3])))
    workstation = parse_lock(_lock(("uvloop==0.22.0", [4]), ("httpx==0.28.1", [2])))
    assert differing_pins(vm, workstation) == [
        "requirements-vm.lock: uvloop==0.23.0, but requirements.lock pins 0.22.0; run ./inv lock",
        "requirements-vm.lock: idna==3.20, but requirements.lock lacks it; run ./inv lock",
    ]
