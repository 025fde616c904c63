"""``demo``: a whole release on the sandbox, each step the real task run as a person would run it.

Rules:
- Every step is the program ``./inv`` runs (``python -m tasks <task> --target <target>``, this
  python, in the repo root) in a subprocess, so what the demo shows (``$ ./inv ...``) is exactly what
  the tasks print; a failing step stops the demo with that step's exit code.
- The demo makes its own artifacts in the beta inbox: a real dmg and pkg holding the app as the
  bumped build will be (``release.parts.archives.sample``, tens of MB), and release notes and bumps to the next version, so it runs again and again on one checkout.
- After promote, a simulated client population (``release.sandbox.clients``: a fixed, seeded set
  of Sparkle-like checks on loopback) checks the stable appcast; the demo ends with ``adoption``.
- The last act is a hand edit of the VM's runtime ``manifest.json``: the reconciler must heal it
  (the original bytes come back) and alert (its JSON alert line is shown from its log).
"""

from __future__ import annotations

import json
import plistlib
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.parts.archives.sample import make_dmg, make_pkg
from release.parts.signing import info_plist_path
from release.parts.target import load_target
from release.parts.versioning import current_version
from schemas import RuntimeLayout, Target, atomic_write

__all__ = ["next_version", "run_demo"]

HEAL_DEADLINE_S = 60.0


def next_version(version: str) -> str:
    parts = version.split(".")
    return ".".join([*parts[:-1], str(int(parts[-1]) + 1)])


def _make_artifacts(target: Target, version: str, size_mb: int) -> list[str]:
    inbox = target.path(target.inbox_dir) / "beta"
    dmg, pkg = size_mb << 20, max(1, (size_mb * 2 // 3)) << 20
    plist = info_plist_path(target)
    info = plistlib.loads(plist.read_bytes()) if plist is not None and plist.is_file() else {}
    # The app as the build of ``version`` will be: bump runs next and gives the workspace the same.
    info |= {"CFBundleVersion": version, "CFBundleShortVersionString": version}
    make_dmg(inbox / target.dmg_name, info, dmg)
    make_pkg(inbox / target.pkg_name, info, version, pkg)
    notes = (
        f"# Nexy {version}\n\n"
        "- Faster wake word detection.\n"
        "- Fixed: the assistant no longer repeats the last answer after sleep.\n"
    )
    atomic_write(inbox / target.notes_name, notes.encode())
    return [f"{target.dmg_name} {dmg >> 20} MB", f"{target.pkg_name} {pkg >> 20} MB", target.notes_name]


class _Demo:
    def __init__(self, root: Path, target_arg: str, console: Console) -> None:
        self.root = root
        self.target_arg = target_arg
        self.console = console
        self.step = 0

    def title(self, text: str) -> None:
        self.step += 1
        self.console.rule(f"[bold]{self.step}. {text}", align="left")

    def inv(self, *args: str) -> None:
        argv = [sys.executable, "-m", "tasks", *args, "--target", self.target_arg]
        self.console.print(f"[dim]$ ./inv {' '.join(args)}[/]")
        sys.stdout.flush()
        code = subprocess.call(argv, cwd=self.root)
        if code != 0:
            raise ReleaseError(f"demo stopped: ./inv {' '.join(args)} exited {code}", code)


def _heal(target: Target, console: Console) -> None:
    paths = sandbox_paths(target)
    runtime = RuntimeLayout(root=paths.vm_root).stable_manifest
    log = paths.log_dir / "reconciler.log"
    original = runtime.read_bytes()
    offset = log.stat().st_size if log.exists() else 0
    document = json.loads(original)
    document["artifact"]["size"] = int(document["artifact"]["size"]) + 1
    atomic_write(runtime, (json.dumps(document, indent=2) + "\n").encode())
    edited_at = time.monotonic()
    console.print(
        f"edited {runtime}: artifact.size {document['artifact']['size'] - 1} → {document['artifact']['size']}"
    )
    end = edited_at + HEAL_DEADLINE_S
    while runtime.read_bytes() != original:
        if time.monotonic() > end:
            raise ReleaseError(
                f"the reconciler did not heal {runtime} within {HEAL_DEADLINE_S:.0f}s", CHECK_FAILED
            )
        time.sleep(0.005)
    healed_ms = (time.monotonic() - edited_at) * 1000
    console.print(f"healed in {healed_ms:.0f} ms: {runtime.name} has its desired bytes again")
    alerts: list[str] = []

    def resolved() -> bool:
        return any(json.loads(line).get("status") == "resolved" for line in alerts)

    # The drift alert fires, then resolves once the heal is seen: both lines are shown, so the
    # wait is for the resolved one (under load it is written well after the firing one).
    while not (alerts and resolved()) and time.monotonic() <= end:
        with log.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode("utf-8", "replace").splitlines()
        alerts = [line for line in lines if '"event":"alert"' in line]
        if not (alerts and resolved()):
            time.sleep(0.2)
    if not alerts:
        raise ReleaseError(f"healed, but no alert line appeared in {log}", CHECK_FAILED)
    console.print(f"alerts (the full JSON lines are in {log}):")
    for line in alerts:
        alert = json.loads(line)
        console.print(f"  [{alert.get('status', 'firing')}] {alert.get('text', line)}", markup=False)


def run_demo(root: Path, target_name: str, *, size_mb: int = 24, keep: bool = True) -> None:
    if size_mb < 1:
        raise ReleaseError(f"--size-mb {size_mb}: the demo needs artifacts of at least 1 MB")
    console = Console(highlight=False, soft_wrap=True)
    target = load_target(target_name, root)
    sandbox_paths(target)  # a production target stops here, before anything runs
    demo = _Demo(root, target_name, console)
    started = time.monotonic()
    demo.title("sandbox up: reconciler + production and staging feeds (TLS)")
    demo.inv("sandbox.up")
    version = next_version(current_version(target.path(target.workspace)))
    demo.title(f"demo artifacts in {target.inbox_dir}/beta/ for {version}")
    for line in _make_artifacts(target, version, size_mb):
        console.print(f"made {line}")
    demo.title(f"bump to {version}")
    demo.inv("bump", version)
    demo.title("publish --channel beta: preflight, UpdateBeta/AppBeta, manifest_beta.json")
    demo.inv("publish", "--channel", "beta")
    demo.title("staging.open (UPDATE_BETA_ENABLED=true on the VM)")
    demo.inv("staging.open", "--reason", "demo beta window")
    demo.title("staging.validate (step B of the funnel)")
    demo.inv("staging.validate")
    demo.title("promote --dry-run (the plan the real run executes, nothing changed)")
    demo.inv("promote", "--dry-run")
    demo.title("promote (beta → stable, same bytes, fixed URLs)")
    demo.inv("promote")
    demo.title("promote again (a no-op: said so, journaled skip)")
    demo.inv("promote")
    demo.title("simulated clients: Sparkle checks of three versions on loopback")
    demo.inv("sandbox.clients")
    demo.title("verify (the definition of done)")
    demo.inv("verify")
    demo.title("staging.close (beta feed answers 404 again)")
    demo.inv("staging.close", "--reason", "demo beta window over")
    demo.title("a hand edit on the VM: the reconciler heals it and alerts")
    _heal(target, console)
    demo.title("status: desired, runtime and served agree")
    demo.inv("status")
    demo.title("adoption: the clients' shares of the checks since the promote")
    demo.inv("adoption")
    if not keep:
        demo.title("sandbox down")
        demo.inv("sandbox.down")
    _urls(target, console, keep)
    console.print(f"[green]demo done[/] in {time.monotonic() - started:.0f}s: stable is {version}")


def _urls(target: Target, console: Console, running: bool) -> None:
    ca = target.path(target.ca_bundle or "")
    prod = str(target.endpoints.production.url).rstrip("/")
    staging = str(target.endpoints.staging.url).rstrip("/")
    console.rule(
        "try it" if running else "URLs (the sandbox is stopped; ./inv sandbox.up starts it)", align="left"
    )
    for url in (
        f"{prod}/health",
        f"{prod}/updates/health",
        f"{prod}/updates/appcast.xml",
        f"{staging}/updates/appcast-beta.xml",
        str(target.release_target.update.dmg_url),
    ):
        extra = " -o /dev/null -w '%{http_code} %{size_download}\\n'" if url.endswith(".dmg") else ""
        console.print(f"curl --cacert {ca} {url}{extra}", markup=False)
