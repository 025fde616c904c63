"""``vm.install`` / ``vm.upgrade`` / ``vm.check`` on the sandbox, and the script's own lint.

The sandbox runs the same script the VM runs, short of systemd (those steps say ``skip (sandbox)``),
through the real ``./inv``. The runtime tree and the reconciler's state are compared byte for byte
around every upgrade, the failing one included. The demo on an installed build is in test_demo.py, which
runs its one demo on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.parts.target import load_target
from release.sandbox.tree import seed, write_reconciler_config
from release.steps.vm import script_inputs
from release.steps.vm_artifact import build_artifact
from release.steps.vm_script import check_body, install_body, launcher
from schemas import Target
from tests.conftest import REPO, run_inv

from .helpers import copy_source

pytestmark = pytest.mark.timeout(600)


def _tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` (path, mode and sha256): the tree byte for byte."""
    return {
        str(
            path.relative_to(root)
        ): f"{oct(path.lstat().st_mode)} {hashlib.sha256(path.read_bytes()).hexdigest()}"
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _inv_json(*args: str) -> tuple[int, dict[str, object], str]:
    done = run_inv(*args, "--json", timeout=400)
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, document, done.stderr


@pytest.mark.parametrize("name", ["production", "sandbox"])
def test_scripts_pass_bash_n_and_shellcheck(name: str, tmp_path: Path) -> None:
    target = load_target(name, REPO)
    artifact = build_artifact(REPO, target)
    inputs = script_inputs(target, artifact, "upgrade")
    for kind, body in (("install", install_body(inputs)), ("check", check_body(inputs))):
        script = tmp_path / f"{kind}.sh"
        script.write_text(body)
        subprocess.run(["bash", "-n", str(script)], check=True)
        launch = tmp_path / f"{kind}-launcher.sh"
        launch.write_text("\n".join(launcher(body, kind)) + "\n")
        subprocess.run(["sh", "-n", str(launch)], check=True)
        if shutil.which("shellcheck") is None:
            continue
        for path, shell in ((script, "bash"), (launch, "sh")):
            done = subprocess.run(["shellcheck", "-s", shell, str(path)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed: only bash -n and sh -n ran")


def test_artifact_fits_the_staged_channel() -> None:
    """The artifact goes as staged parts (docs/vm.md): it must stay within 8 parts of 224 KiB."""
    from release.outside.remote._staging import MAX_PARTS, split_payload

    artifact = build_artifact(REPO, load_target("production", REPO))
    import base64

    parts = split_payload(base64.b64encode(artifact.tarball).decode())
    assert 1 < len(parts) <= MAX_PARTS
    again = build_artifact(REPO, load_target("production", REPO))
    assert (again.build, again.tarball) == (artifact.build, artifact.tarball)


def _prepare(sandbox_target: tuple[Target, Path]) -> tuple[Target, Path, list[Path]]:
    target, target_file = sandbox_target
    paths = sandbox_paths(target)
    seed(target, paths)
    write_reconciler_config(target, paths)
    # A daemon's state as a pass leaves it (status.json, the alert memory).
    subprocess.run(
        [
            str(REPO / ".venv/bin/python"),
            "-m",
            "reconciler",
            "--config",
            str(paths.reconciler_config),
            "once",
        ],
        check=False,
        capture_output=True,
    )
    return target, target_file, [paths.vm_root, paths.state_dir]


def test_install_twice_then_upgrade_and_a_failed_upgrade_rolls_back(
    sandbox_target: tuple[Target, Path], tmp_path: Path
) -> None:
    target, target_file, kept = _prepare(sandbox_target)
    paths = sandbox_paths(target)
    opt = paths.vm_dir / "opt" / "nexy-release"
    before = {str(root): _tree(root) for root in kept}
    assert before[str(paths.vm_root)], "the seeded runtime tree is empty"
    where = ("--target", str(target_file))

    code, first, err = _inv_json("vm.install", *where)
    assert code == 0, err
    assert first["action"] == "installed"
    assert first["steps"]["user"] == "skip (sandbox)"  # type: ignore[index]
    installed = str(first["build"])
    assert (opt / "current").readlink() == Path(installed)
    assert (opt / ".venv").readlink() == Path("current/venv")
    assert (paths.vm_dir / "etc/systemd/system/nexy-reconciler.service").read_bytes() == (
        REPO / "systemd/nexy-reconciler.service"
    ).read_bytes()

    code, second, err = _inv_json("vm.install", *where)
    assert code == 0, err
    assert (second["action"], second["build"]) == ("skip", installed)
    assert "nothing changed (skip)" in err

    code, _, err = _inv_json("vm.check", *where)
    assert code == 0, err

    changed = copy_source(tmp_path / "changed")
    with (changed / "feed" / "__init__.py").open("a") as handle:
        handle.write("# a changed build\n")
    code, upgraded, err = _inv_json("vm.upgrade", *where, "--source", str(changed))
    assert code == 0, err
    assert (upgraded["action"], upgraded["previous"]) == ("upgraded", installed)
    new = str(upgraded["build"])
    assert new != installed
    assert (opt / "current").readlink() == Path(new)
    assert (opt / installed / ".complete").exists(), "the old build stays beside the new one"
    assert {str(root): _tree(root) for root in kept} == before

    # A build whose reconciler cannot answer `status`: the checks fail and current goes back.
    broken = copy_source(tmp_path / "broken")
    with (broken / "reconciler" / "cli.py").open("a") as handle:
        handle.write("\n\ndef main(argv: object = None) -> int:\n    raise SystemExit(3)\n")
    code, failed, err = _inv_json("vm.upgrade", *where, "--source", str(broken))
    assert code == 1
    assert failed["action"] == "rolled_back"
    assert "switched back to " + new in err
    assert (opt / "current").readlink() == Path(new)
    assert {str(root): _tree(root) for root in kept} == before

    # The workstation's checkout is not what runs now: vm.check says so.
    code, _, err = _inv_json("vm.check", *where)
    assert code == 1
    assert "build" in err


def test_dry_run_prints_every_step_and_changes_nothing(sandbox_target: tuple[Target, Path]) -> None:
    target, target_file = sandbox_target
    done = run_inv("vm.install", "--target", str(target_file), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "user, dirs, tls, artifact, release, switch, units, config, verify, start, check" in done.stdout
    assert not (sandbox_paths(target).vm_dir / "opt").exists()
