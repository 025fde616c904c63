"""The import contracts in pyproject.toml ([tool.importlinter]) hold today, and catch a crossing.

lint-imports (import-linter) runs for real, on a copy of the packages, so planting a bad import
never touches the work tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "release", "reconciler", "feed", "tasks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is a test dependency")


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_contracts_hold_today() -> None:
    clean = _lint(REPO)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert " kept, 0 broken." in clean.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("release/steps/flow.py", "import reconciler.plan", "release, reconciler and feed are independent"),
        ("feed/evaluate.py", "from release import errors", "release, reconciler and feed are independent"),
        ("schemas/__init__.py", "import feed.app", "schemas imports none of the sides"),
        ("tasks/dev.py", "import reconciler.watch", "tasks reach the VM side only through release"),
        (
            "release/outside/stream.py",
            "from release.outside.store import base",
            "stores build on probes and streaming",
        ),
        (
            "release/outside/probes.py",
            "from release.outside.store import Progress",
            "stores build on probes and streaming",
        ),
        ("release/outside/store/_replace.py", "from . import github", "the GitHub store calls the replacer"),
        ("release/parts/desired.py", "from release.steps import flow", "release is layered"),
        ("release/outside/probes.py", "from release.parts import journal", "release is layered"),
        ("release/sandbox/tree.py", "from release.steps import verify", "release is layered"),
    ],
)
def test_a_crossing_import_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    root = _copy(tmp_path)
    with (root / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{planted}  # planted by the test\n")
    crossed = _lint(root)
    assert crossed.returncode == 1, crossed.stdout + crossed.stderr
    assert broken in crossed.stdout and "BROKEN" in crossed.stdout
