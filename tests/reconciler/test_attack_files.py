"""The VM side under a hostile neighbour: links, FIFOs, deep documents, swapped temp files, full disks.

The runtime tree belongs to an unprivileged user (``nobody`` here, the app server's user on the
VM) who may plant anything at any name in it; the reconciler runs as root, as ``once`` does when
Run Command calls it. A "secret" is a root-only file standing in for ``/etc/shadow`` or a token
file: root must neither write through a link to it, nor read it into an alert, a log line,
``status`` or ``diff`` output, nor hand it to the tree's owner.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import dump_model

from .helpers import REPO, Daemon, Vm, bundle, make_vm, run_cli, wait_for

NOBODY = 65534
SECRET = b'{"api_token": "tok-3f9a1c77e5b24d0e", "password": "hunter2-root-only"}\n'
LEAK_MARKERS = (b"tok-3f9a1c77e5b24d0e", b"hunter2-root-only")
THE_BUNDLE = bundle(stable="2.0.0.15", beta="2.0.0.16", gate=True)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the attacks need a tree owned by another user: run the tests as root"
)


def _give_tree_to_nobody(vm: Vm) -> None:
    for path in [vm.root, *vm.root.rglob("*")]:
        if path.name != "reconciler.yaml" and not path.name.startswith("daemon-"):
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


def _secret(tmp_path: Path) -> Path:
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    secret = vault / "shadow"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return secret


def _accept(vm: Vm) -> None:
    proc = run_cli(vm, "accept", stdin=THE_BUNDLE.model_dump_json().encode())
    assert proc.returncode == 0, proc.stderr.decode()[-500:]


def _no_leak(*outputs: bytes) -> None:
    for output in outputs:
        for marker in LEAK_MARKERS:
            assert marker not in output


def _runtime_paths(vm: Vm) -> dict[str, Path]:
    return {
        "manifest.json": vm.manifests / "manifest.json",
        "manifest_2.0.0.15.json": vm.manifests / "manifest_2.0.0.15.json",
        "manifest_beta.json": vm.manifests / "manifest_beta.json",
        "legacy manifest.json": vm.legacy,
        "unified_config.yaml": vm.unified,
        "config.env": vm.env,
    }


@pytest.fixture
def hostile_vm(tmp_path: Path) -> Vm:
    vm = make_vm(tmp_path)
    _accept(vm)
    assert run_cli(vm, "once").returncode == 0
    _give_tree_to_nobody(vm)
    return vm


@pytest.mark.parametrize("name", list(_runtime_paths(Vm(Path("vm"), Path("vm/reconciler.yaml")))))
def test_a_planted_link_is_neither_written_nor_read_through(
    hostile_vm: Vm, tmp_path: Path, name: str
) -> None:
    vm = hostile_vm
    secret = _secret(tmp_path)
    path = _runtime_paths(vm)[name]
    path.unlink()
    path.symlink_to(secret)
    once = run_cli(vm, "once")
    diff = run_cli(vm, "diff", "--json")
    status = run_cli(vm, "status", "--json")
    assert secret.read_bytes() == SECRET and secret.stat().st_mode & 0o777 == 0o600
    assert secret.stat().st_uid == 0 and path.is_symlink()
    assert once.returncode == 2, once.stderr.decode()[-800:]
    alerts = [json.loads(line) for line in once.stderr.decode().splitlines() if '"event":"alert"' in line]
    assert any(f"{path} is a symbolic link; refused" in a["found"] for a in alerts), alerts
    _no_leak(once.stdout, once.stderr, diff.stdout, diff.stderr, status.stdout, status.stderr)
    _no_leak((vm.state / "status.json").read_bytes())


def test_a_directory_swapped_for_a_link_is_refused(hostile_vm: Vm, tmp_path: Path) -> None:
    vm = hostile_vm
    elsewhere = tmp_path / "etc-standin"
    elsewhere.mkdir()
    (elsewhere / "manifest_beta.json").write_bytes(SECRET)
    for child in vm.manifests.iterdir():
        child.unlink()
    vm.manifests.rmdir()
    vm.manifests.symlink_to(elsewhere)
    once = run_cli(vm, "once")
    assert once.returncode == 2
    assert f"{vm.manifests} is a symbolic link; refused" in once.stderr.decode()
    assert sorted(os.listdir(elsewhere)) == ["manifest_beta.json"]
    assert (elsewhere / "manifest_beta.json").read_bytes() == SECRET
    _no_leak(once.stdout, once.stderr, run_cli(vm, "diff", "--json").stdout)


def test_a_hard_link_to_a_root_only_file_is_not_read(hostile_vm: Vm) -> None:
    vm = hostile_vm
    secret = vm.root / ".." / "hardlinked-secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    beta = vm.manifests / "manifest_beta.json"
    beta.unlink()
    os.link(secret, beta)
    once = run_cli(vm, "once")
    assert "is a file with 2 hard links; refused" in once.stderr.decode()
    assert secret.read_bytes() == SECRET
    _no_leak(once.stdout, once.stderr, run_cli(vm, "diff", "--json").stdout)


def test_an_invalid_runtime_manifest_is_described_by_field_names_only(hostile_vm: Vm) -> None:
    vm = hostile_vm
    beta = vm.manifests / "manifest_beta.json"
    beta.write_bytes(SECRET)  # the app user's own file: still, no value of it is repeated
    diff = run_cli(vm, "diff", "--json")
    assert diff.returncode == 1
    found = json.loads(diff.stdout)["resources"]["beta"]["found"]
    assert "not a valid manifest (version: missing" in found
    _no_leak(diff.stdout, diff.stderr)


@pytest.mark.parametrize(
    ("target", "plant", "resource", "found"),
    [
        ("manifest_beta.json", "fifo", "beta", "is a FIFO; refused"),
        ("manifest_beta.json", "dev-zero", "beta", "is a symbolic link; refused"),
        ("manifest_beta.json", "brackets", "beta", "nested deeper than 64 levels"),
        ("unified_config.yaml", "deep-yaml", "config_version", "nested deeper than 64 levels"),
        ("config.env", "directory", "gate", "is a directory; refused"),
        ("manifest_beta.json", "huge", "beta", "larger than 1048576 bytes; refused"),
    ],
)
def test_no_planted_file_stops_the_daemon(
    hostile_vm: Vm, target: str, plant: str, resource: str, found: str
) -> None:
    vm = hostile_vm
    path = {
        "manifest_beta.json": vm.manifests / target,
        "unified_config.yaml": vm.unified,
        "config.env": vm.env,
    }[target]
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        # Paused, or its heal of the removed file could land on top of the plant (seen under load).
        with daemon.paused():
            path.unlink()
            if plant == "fifo":
                os.mkfifo(path)
            elif plant == "dev-zero":
                path.symlink_to("/dev/zero")
            elif plant == "brackets":
                path.write_bytes(b"[" * 100_000)
            elif plant == "deep-yaml":
                path.write_bytes(b"update:\n  default_version: " + b"[" * 50_000 + b"\n")
            elif plant == "directory":
                path.mkdir()
            else:
                path.write_bytes(b" " * (2 << 20))

        def alerted() -> list[dict[str, str]]:
            return [a for a in daemon.alerts() if a["resource"] == resource and found in a["found"]]

        wait_for(alerted, 30, f"an alert naming {path.name}")
        # Still alive and answering: a desired change is applied to the other resources.
        vm.desired.mkdir(parents=True, exist_ok=True)
        newer = bundle(stable="2.0.0.17", beta="2.0.0.18", gate=True)
        proc = run_cli(vm, "accept", stdin=newer.model_dump_json().encode())
        assert proc.returncode == 0
        if resource == "config_version":
            # The stable pair moves only with its config version (the feed must never see them
            # disagree), so the group is held back; beta, outside it, is applied.
            held = dump_model(newer.beta)  # type: ignore[arg-type]
            wait_for(lambda: (vm.manifests / "manifest_beta.json").read_bytes() == held, 30, "beta")
            assert not (vm.manifests / "manifest_2.0.0.17.json").exists()
        else:
            stable = dump_model(newer.stable)  # type: ignore[arg-type]
            wait_for(lambda: (vm.manifests / "manifest.json").read_bytes() == stable, 30, "the stable pair")
        assert daemon.proc.poll() is None
        assert "Traceback" not in daemon.log.read_text()
    finally:
        assert daemon.stop() == 0  # SIGTERM answered, even with a FIFO in the tree
    if plant == "fifo":
        assert path.exists() and not path.is_file()


def test_a_deep_desired_file_is_an_invalid_desired_file(hostile_vm: Vm) -> None:
    vm = hostile_vm
    (vm.desired / "bundle.json").write_bytes(b"[" * 100_000)
    once = run_cli(vm, "once")
    assert once.returncode == 2 and b"Traceback" not in once.stderr
    assert "nested deeper than 64 levels" in once.stderr.decode()


def test_config_refuses_a_state_directory_inside_the_runtime_tree(tmp_path: Path) -> None:
    vm = make_vm(tmp_path)
    vm.config.write_text(vm.config.read_text().replace("../state", "state"))
    proc = run_cli(vm, "status")
    assert proc.returncode == 2
    assert "state_dir" in proc.stderr.decode() and "overlaps layout.root" in proc.stderr.decode()


def _fsize_limit(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_leaves_every_old_file_and_no_temp(hostile_vm: Vm) -> None:
    vm = hostile_vm
    before = {p: p.read_bytes() for p in _runtime_paths(vm).values()}
    newer = bundle(stable="2.0.0.17", beta="2.0.0.18", gate=False)
    assert run_cli(vm, "accept", stdin=newer.model_dump_json().encode()).returncode == 0
    # Writes beyond 100 bytes fail with EFBIG (Python ignores SIGXFSZ), as on a full file system.
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "--config", str(vm.config), "once"],
        capture_output=True,
        cwd=REPO,
        timeout=120,
        preexec_fn=lambda: _fsize_limit(100),
        check=False,
    )
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    alerts = [json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"alert"' in line]
    # The alert says which file could not be written, so the operator knows which disk is full.
    assert any("File too large" in a["found"] and str(vm.manifests) in a["found"] for a in alerts), alerts
    for path, data in before.items():
        if path.name != "config.env":
            assert path.read_bytes() == data, path
    leftovers = [p for d in (vm.manifests, vm.root, vm.unified.parent) for p in d.glob(".*.tmp")]
    assert leftovers == []


class _Inotify:
    """inotify(7) through libc, so the racer reacts within microseconds of the temp file's creation."""

    IN_CREATE = 0x100

    def __init__(self, directory: Path) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self._libc.inotify_add_watch(self.fd, str(directory).encode(), self.IN_CREATE) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self._stop_r, self._stop_w = os.pipe()

    def names(self) -> Iterator[str]:
        while True:
            readable, _, _ = select.select([self.fd, self._stop_r], [], [])
            if self._stop_r in readable:
                return
            data = os.read(self.fd, 65536)
            offset = 0
            while offset < len(data):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                raw = data[offset + 16 : offset + 16 + length]
                yield raw.rstrip(b"\0").decode()
                offset += 16 + length

    def stop(self) -> None:
        os.write(self._stop_w, b"x")

    def close(self) -> None:
        for fd in (self.fd, self._stop_r, self._stop_w):
            os.close(fd)


def _plant_drift(path: Path, data: bytes) -> None:
    """Write ``path`` as the app user's own file, never through a link.

    A rename the daemon made in the previous round can still land (the racer's link taking the
    file's name) after this test removed the file: writing or chowning by name would then go
    through that link and hand over the victim ourselves, so the file is created O_EXCL|O_NOFOLLOW
    and given away by descriptor, as the daemon does.
    """
    while True:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue  # a late rename put something there again: remove it and retry
        try:
            os.write(fd, data)
            os.fchown(fd, NOBODY, NOBODY)
        finally:
            os.close(fd)
        return


WON = 50
RACE_DEADLINE_S = 200.0  # within the suite's per-test timeout (300 s)


def test_temp_file_swap_race_never_hands_a_file_over(hostile_vm: Vm, tmp_path: Path) -> None:
    vm = hostile_vm
    victim = _secret(tmp_path)  # stands in for the state directory's files or /etc/shadow
    beta = vm.manifests / "manifest_beta.json"
    inotify = _Inotify(vm.manifests)
    swaps: list[str] = []

    def racer() -> None:
        # The app user: the moment root's temp file appears, move it away and put a link in its place.
        for name in inotify.names():
            if name.startswith(".manifest_beta.json.") and name.endswith(".tmp"):
                temp = vm.manifests / name
                try:
                    os.rename(temp, vm.manifests / f"stolen{len(swaps)}")
                    os.symlink(victim, temp)
                    swaps.append(name)
                except OSError:
                    continue

    thread = threading.Thread(target=racer, daemon=True)
    thread.start()
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        # Races are tried until the racer has won WON of them (each a chance to be handed the file),
        # however often a busy machine lets the daemon finish first: a deadline, not a count.
        deadline = time.monotonic() + RACE_DEADLINE_S
        attempt = 0
        while len(swaps) < WON and time.monotonic() < deadline:
            attempt += 1
            before = len(swaps)
            _plant_drift(beta, b'{"version": "9.9.9.%d"}\n' % attempt)  # drift: the daemon heals it
            wait_for(
                lambda n=before: len(swaps) > n or beta.read_bytes() == dump_model(THE_BUNDLE.beta),  # type: ignore[arg-type]
                20,
                "a heal (raced or not)",
            )
            st = victim.stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600), (
                f"handed over on attempt {attempt}"
            )
            assert victim.read_bytes() == SECRET
        assert len(swaps) >= WON, (
            f"the racer won only {len(swaps)} of {attempt} races in {RACE_DEADLINE_S:.0f} s"
        )
        assert daemon.proc.poll() is None
    finally:
        inotify.stop()
        thread.join(10)
        inotify.close()
        assert daemon.stop() == 0
    _no_leak(daemon.log.read_bytes(), (vm.state / "status.json").read_bytes())


def test_the_temp_file_sweep_does_not_follow_a_linked_directory(hostile_vm: Vm, tmp_path: Path) -> None:
    vm = hostile_vm
    elsewhere = tmp_path / "etc-standin"
    elsewhere.mkdir()
    planted = elsewhere / ".manifest.json.abcdefgh.tmp"  # the shape of our own temp files
    planted.write_bytes(SECRET)
    for child in vm.manifests.iterdir():
        child.unlink()
    vm.manifests.rmdir()
    vm.manifests.symlink_to(elsewhere)
    once = run_cli(vm, "once")  # sweeps first, as the daemon does on start and every resync
    assert once.returncode == 2
    assert planted.read_bytes() == SECRET


def test_the_reconciler_works_as_the_trees_owner_without_privilege(tmp_path: Path) -> None:
    # Least privilege, for real: the tree, the state directory and the process all belong to
    # the app user. pytest's tmp_path is root-only, so this tree lives in a fresh /tmp directory.
    if shutil.which("runuser") is None:
        pytest.skip("util-linux's runuser is needed to run the reconciler as another user")
    base = Path(tempfile.mkdtemp(prefix="nexy-unpriv-", dir="/tmp"))
    try:
        base.chmod(0o755)
        vm = make_vm(base)
        vm.state.mkdir(mode=0o700)
        for path in [base, *base.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)

        def as_nobody(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
            argv = [
                "runuser",
                "-u",
                "nobody",
                "--",
                sys.executable,
                "-m",
                "reconciler",
                "--config",
                str(vm.config),
            ]
            return subprocess.run(
                [*argv, *args], input=stdin, capture_output=True, cwd=REPO, timeout=120, check=False
            )

        assert as_nobody("accept", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
        once = as_nobody("once")
        assert once.returncode == 0, once.stderr.decode()[-800:]
        assert vm.runtime_matches(THE_BUNDLE)
        good = vm.state / "config.env.last-good"
        st = good.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (NOBODY, 0o600)
        assert good.read_bytes() == vm.env.read_bytes()
        for path in vm.manifests.iterdir():
            assert path.stat().st_uid == NOBODY, path
    finally:
        shutil.rmtree(base)
