"""A daemon no file can stop: hostile runtime files are per-resource errors, a full state directory
is an alert, SIGTERM is answered promptly, READY means watching, and re-created directories are
made like their parent and watched at once. The real daemon process throughout."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config import WatchConfig
from reconciler.watch import Watcher
from reconciler.yamledit import read_update_version
from schemas import dump_model

from .helpers import REPO, Daemon, Vm, apply, bundle, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)
THE_BUNDLE = bundle()


class PipedDaemon:
    """The daemon with stderr on a pipe (a log file would itself hit RLIMIT_FSIZE), optionally
    under a file-size limit set in the child before exec."""

    def __init__(self, vm: Vm, fsize: int | None = None, env: dict[str, str] | None = None) -> None:
        def limit() -> None:
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--config", str(vm.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            preexec_fn=limit,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace"))

    def alerts(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith('{"event":"alert"')]

    def stop(self, within_s: float) -> int:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(within_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"SIGTERM not answered within {within_s} s") from None
        assert time.monotonic() - start < within_s
        return code


def test_a_full_state_directory_is_an_alert_not_an_exit(
    vm: Vm, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    assert run_cli(vm, "accept", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
    # Every file write past 64 bytes fails (EFBIG), as on a full disk.
    daemon = PipedDaemon(vm, fsize=64, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    try:
        wait_for(lambda: [a for a in daemon.alerts() if a["resource"] == "state"], 20, "state alert")
        state = next(a for a in daemon.alerts() if a["resource"] == "state")
        assert state["kind"] == "write_failed" and "status.json" in state["expected"]
        assert "File too large" in state["found"]
        # The runtime writes fail too: each resource says so, and the daemon goes on.
        wait_for(
            lambda: [a for a in daemon.alerts() if a["kind"] == "write_failed" and a["resource"] == "stable"],
            20,
            "stable write alert",
        )
        for _ in range(3):
            daemon.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
        # READY was sent and the watchdog keeps being fed while every write fails.
        messages = []
        while sum("WATCHDOG=1" in m for m in messages) < 3:
            messages.append(sock.recv(4096).decode())
        assert any("READY=1" in m for m in messages)
        assert daemon.proc.poll() is None, "".join(daemon.lines[-20:])
        assert not any("Traceback" in line for line in daemon.lines)
        assert daemon.stop(within_s=10) == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()


def _mkfifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def test_hostile_runtime_files_are_errors_of_their_resource_only(vm: Vm) -> None:
    assert apply(vm, THE_BUNDLE) == 0
    # config.env turned into a directory before the daemon starts: there is no atomic way to swap a
    # file for a directory, and a pass landing between unlink and mkdir would alert "missing" first
    # (and de-duplication would then keep that text).
    vm.env.unlink()
    vm.env.mkdir()
    daemon = PipedDaemon(vm)
    try:
        wait_for(lambda: (vm.status() or {}).get("pid") == daemon.proc.pid, 20, "daemon up")
        _mkfifo(vm.manifests / "manifest_beta.json")  # would hang a blocking open for ever
        vm.unified.write_bytes(b"update:\n" + b"  - " * 50_000 + b"x\n")  # 50k-deep YAML
        (vm.manifests / "manifest.json").write_bytes(b"[" * 100_000)  # RecursionError bait
        wanted = {("beta", "error"), ("gate", "error"), ("config_version", "error")}

        def seen() -> set[tuple[str, str]]:
            return {(a["resource"], a["kind"]) for a in daemon.alerts()}

        wait_for(lambda: wanted <= seen(), 30, f"alerts {wanted}")
        found = {a["resource"]: a["found"] for a in daemon.alerts() if a["kind"] == "error"}
        assert "is a FIFO; refused" in found["beta"] and "is a directory; refused" in found["gate"]
        # The config version is broken, so the stable group is held; nothing read leaks into alerts.
        assert not any("[[[" in line or "- - -" in line for line in daemon.lines)
        wait_for(
            lambda: (vm.status() or {}).get("resources", {}).get("beta", {}).get("sync") == "error",
            20,
            "status.json naming the beta error",
        )
        assert stat.S_ISFIFO(os.lstat(vm.manifests / "manifest_beta.json").st_mode)
        assert daemon.proc.poll() is None and not any("Traceback" in line for line in daemon.lines)
        assert daemon.stop(within_s=10) == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()


def test_deleted_manifests_directory_comes_back_like_its_parent_and_stays_watched(vm: Vm) -> None:
    assert apply(vm, THE_BUNDLE) == 0
    parent = vm.manifests.parent
    os.chmod(parent, 0o750)  # noqa: S103 - the feed's group reads the tree; not the 0700 a bare mkdir gives
    if os.geteuid() == 0:
        os.chown(parent, 1234, 1234)  # the app user owns the tree, as on the VM
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        # Gone in one step (a rename out of the tree, then removed): rmtree in place races the daemon,
        # which may write the directory back while rmtree is still emptying it.
        gone = vm.config.parent.parent / "manifests.gone"  # outside the VM tree, same disk
        os.rename(vm.manifests, gone)
        shutil.rmtree(gone)
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 10, "manifests re-created")
        st = os.stat(vm.manifests)
        assert stat.S_IMODE(st.st_mode) == 0o750
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (1234, 1234)
        # The new directory is watched at once: a hand edit in it heals well before any resync.
        time.sleep(0.5)
        (vm.manifests / "manifest_beta.json").write_bytes(b"{}\n")
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 10, "edit in the re-created directory healed")
    finally:
        assert daemon.stop() == 0


def test_watcher_is_watching_when_start_returns(tmp_path: Path) -> None:
    """Issue 11: an edit made right after start() (the daemon's READY) is seen, not left to a resync.

    The watch thread is made slow to get going, as on a busy VM or with macOS's file events: a
    watch set up by that thread would not exist yet when the edit lands."""

    def slow_thread_start(_frame: object, _event: str, _arg: object) -> None:
        sys.setprofile(None)  # once per new thread: only its start is delayed
        time.sleep(0.5)

    fired = threading.Event()
    threading.setprofile(slow_thread_start)  # type: ignore[arg-type]
    try:
        watcher = Watcher([(tmp_path, "x.json")], fired.set, WatchConfig())
        watcher.start()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    try:
        (tmp_path / "x.json").write_bytes(b"{}")
        assert fired.wait(5), "an edit made right after start() was missed"
    finally:
        watcher.stop()


@pytest.fixture
def notify_socket(unix_socket_dir: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(unix_socket_dir / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        yield sock, path


def test_an_edit_right_after_ready_is_healed_at_once(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    vm = make_vm(tmp_path)
    assert apply(vm, THE_BUNDLE) == 0
    daemon = Daemon(vm, env={"NOTIFY_SOCKET": path})
    try:
        while "READY=1" not in sock.recv(4096).decode():
            pass
        vm.env.write_text(vm.env.read_text().replace("UPDATE_BETA_ENABLED=true", "UPDATE_BETA_ENABLED=false"))
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 10, "gate healed long before the 300 s resync")
    finally:
        assert daemon.stop() == 0


def test_a_config_version_that_cannot_be_written_rolls_the_pair_back(vm: Vm) -> None:
    assert apply(vm, THE_BUNDLE) == 0
    pair = {p: p.read_bytes() for p in (vm.manifests / "manifest.json", vm.legacy)}
    # A config file bigger than the process may write: the manifests (about 1 KB) still fit.
    vm.unified.write_bytes(vm.unified.read_bytes() + b"#" + b"." * 30_000 + b"\n")
    newer = bundle(stable="2.0.0.19", beta="2.0.0.16", gate=True)
    assert run_cli(vm, "accept", stdin=newer.model_dump_json().encode()).returncode == 0

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "--config", str(vm.config), "once"],
        capture_output=True,
        cwd=REPO,
        preexec_fn=limit,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    alerts = [json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"alert"' in line]
    failed = {a["resource"]: a["found"] for a in alerts if a["kind"] == "write_failed"}
    # However long the VM's path (xdist's tmp dirs are longer), the rollback note is said whole.
    assert failed["config_version"].startswith("write failed: ")
    assert failed["config_version"].endswith(
        "unified_config.yaml: File too large; rolled back stable, legacy"
    )
    assert len(failed["config_version"]) <= 160
    # The feed reads the version from the config, then that version's manifest: both still agree.
    assert read_update_version(vm.unified.read_bytes()) == ("2.0.0.15", "2.0.0.15")
    assert {p: p.read_bytes() for p in pair} == pair
    assert not (vm.manifests / "manifest_2.0.0.19.json").exists()
    assert (vm.manifests / "manifest_2.0.0.15.json").read_bytes() == dump_model(THE_BUNDLE.stable)  # type: ignore[arg-type]
    # Without the limit the next pass applies the whole group.
    assert run_cli(vm, "once").returncode == 0
    assert read_update_version(vm.unified.read_bytes()) == ("2.0.0.19", "2.0.0.19")


HANG = "import sys, time; open(sys.argv[1], 'a').write('started\\n'); time.sleep(60)\n"


def test_sigterm_is_answered_promptly_while_a_pass_hangs(tmp_path: Path) -> None:
    marker, script = tmp_path / "action.txt", tmp_path / "hang.py"
    script.write_text(HANG)
    vm = make_vm(
        tmp_path, extra=f"actions:\n  gate: [{sys.executable!r}, {str(script)!r}, {str(marker)!r}]\n"
    )
    daemon = Daemon(vm)
    daemon.wait_ready()
    assert run_cli(vm, "accept", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
    wait_for(marker.exists, 20, "the (hanging) gate action started")
    start = time.monotonic()
    code = daemon.stop()
    assert code == 0 and time.monotonic() - start < 10, "SIGTERM waited for the 60 s action"
    assert '"event":"stopped"' in daemon.log.read_text()
    # The action was cut short, so it is still owed: the next start runs it (at least once).
    assert json.loads((vm.state / "pending_actions.json").read_text()) == {"pending": ["gate"]}


def test_a_daemon_that_does_not_take_the_bundle_leaves_nothing_changed(vm: Vm) -> None:
    assert apply(vm, THE_BUNDLE) == 0
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        before = (vm.desired / "bundle.json").read_bytes()
        with daemon.paused():  # alive (status fresh) but not serving its inbox
            newer = bundle(stable="2.0.0.21")
            proc = run_cli(vm, "accept", "--wait", "2", stdin=newer.model_dump_json().encode())
            result = json.loads(proc.stdout.split(b"RESULT ")[1])
            assert proc.returncode == 1 and result["ok"] is False
            assert "did not take the bundle within 2 s; nothing changed" in result["error"]
            passes = vm.status()["passes"]  # type: ignore[index]
        daemon.proc.send_signal(signal.SIGHUP)
        # A pass serves the inbox before anything else: after this one, a bundle left there would be in.
        wait_for(lambda: vm.status()["passes"] != passes, 30, "the pass SIGHUP asks for")  # type: ignore[index]
        assert (vm.desired / "bundle.json").read_bytes() == before  # withdrawn, never committed
        assert list((vm.state / "inbox").iterdir()) == []
    finally:
        assert daemon.stop() == 0
