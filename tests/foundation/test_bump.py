"""``bump`` through the real task: each file kind, refusals, all-or-nothing, dry run."""

from __future__ import annotations

import json
import plistlib
import subprocess
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.parts.versioning import FileChange, apply_changes
from tests.conftest import run_inv

REPO = Path(__file__).resolve().parents[2]

DOC = "# Release\n\nCurrent release: `v2.0.0.14`\nOther text `v2.0.0.14` stays.\n"
TOML = '[project]\nname = "nexy"  # the client\nversion = "2.0.0.14"\n\n[tool.x]\nversion = "9"\n'
PLIST = {"CFBundleName": "Nexy", "CFBundleShortVersionString": "2.0.0.14", "CFBundleVersion": "2.0.0.14"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "docs").mkdir(parents=True)
    (app / "client").mkdir()
    (app / "VERSION").write_text("2.0.0.14\n")
    (app / "docs" / "RELEASE.md").write_text(DOC)
    (app / "client" / "pyproject.toml").write_text(TOML)
    (app / "client" / "Info.plist").write_bytes(plistlib.dumps(PLIST))
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "manifest.json").write_text("{}\n")
    text = (
        (REPO / "targets" / "sandbox.yaml").read_text().replace("workspace: .sandbox/app", "workspace: app")
    )
    (tmp_path / "target.yaml").write_text(f"root: {tmp_path}\n" + text)
    return tmp_path


def inv(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_inv(*args, "--target", str(project / "target.yaml"), timeout=60)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_list_shows_the_foundation_tasks() -> None:
    listing = run_inv("--list").stdout
    for name in ("bump", "schemas", "test"):
        assert f"  {name} " in listing


def test_bump_updates_every_kind(project: Path) -> None:
    result = inv(project, "bump", "2.0.0.15")
    assert result.returncode == 0, result.stderr
    app = project / "app"
    assert (app / "VERSION").read_text() == "2.0.0.15\n"
    assert (app / "docs" / "RELEASE.md").read_text() == DOC.replace(
        "release: `v2.0.0.14`", "release: `v2.0.0.15`"
    )
    toml = (app / "client" / "pyproject.toml").read_text()
    assert toml == TOML.replace('version = "2.0.0.14"', 'version = "2.0.0.15"')
    plist = plistlib.loads((app / "client" / "Info.plist").read_bytes())
    assert plist == PLIST | {"CFBundleShortVersionString": "2.0.0.15", "CFBundleVersion": "2.0.0.15"}
    assert (project / "manifests" / "manifest.json").read_text() == "{}\n"


def test_binary_plist_stays_binary(project: Path) -> None:
    path = project / "app" / "client" / "Info.plist"
    path.write_bytes(plistlib.dumps(PLIST, fmt=plistlib.FMT_BINARY))
    assert inv(project, "bump", "2.0.0.15").returncode == 0
    assert path.read_bytes().startswith(b"bplist00")
    assert plistlib.loads(path.read_bytes())["CFBundleVersion"] == "2.0.0.15"


@pytest.mark.parametrize("version", ["2.0.0.14", "2.0.0.9", "1.9.9.99"])
def test_refuses_not_newer(project: Path, version: str) -> None:
    before = snapshot(project)
    result = inv(project, "bump", version)
    assert result.returncode == 2
    assert "not newer" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize("version", ["2.0.0", "2.0.0.15/..", "v2.0.0.15", "2.0.0.015"])
def test_refuses_malformed(project: Path, version: str) -> None:
    before = snapshot(project)
    result = inv(project, "bump", version)
    assert result.returncode == 2
    assert "X.Y.Z.W" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("path", "content", "words"),
    [
        ("client/pyproject.toml", '[project]\nname = "nexy"\n', "not found"),
        ("client/Info.plist", "not a plist", "plist"),
        ("docs/RELEASE.md", "no marker here\n", "matches nothing"),
    ],
)
def test_one_bad_file_changes_nothing(project: Path, path: str, content: str, words: str) -> None:
    (project / "app" / path).write_text(content)
    before = snapshot(project)
    result = inv(project, "bump", "2.0.0.15")
    assert result.returncode == 2 and words in result.stderr
    assert snapshot(project) == before


def test_missing_file_changes_nothing(project: Path) -> None:
    (project / "app" / "client" / "Info.plist").unlink()
    before = snapshot(project)
    result = inv(project, "bump", "2.0.0.15")
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert snapshot(project) == before


def test_write_failure_restores_everything(tmp_path: Path) -> None:
    first, second = tmp_path / "VERSION", tmp_path / "blocker"
    first.write_text("2.0.0.14\n")
    second.write_text("a file where a directory should be")
    changes = [
        FileChange(first, b"2.0.0.14\n", b"2.0.0.15\n"),
        FileChange(second / "Info.plist", b"old", b"new"),  # its parent is a file: the write fails
    ]
    with pytest.raises(ReleaseError, match="restored"):
        apply_changes(changes)
    assert first.read_text() == "2.0.0.14\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VERSION", "blocker"]


def test_dry_run_prints_diff_and_changes_nothing(project: Path) -> None:
    before = snapshot(project)
    result = inv(project, "bump", "2.0.0.15", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "-2.0.0.14" in result.stdout and "+2.0.0.15" in result.stdout
    assert "a/docs/RELEASE.md" in result.stdout
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["status", "--bogus"], "error: unknown option --bogus for status (see ./inv --help status)"),
        (["rollback"], "error: rollback needs --to (./inv --help rollback)"),
    ],
)
def test_the_inv_program_calls_an_unparsable_command_line_bad_input(argv: list[str], words: str) -> None:
    # tests/foundation/test_cli.py has the rest of invoke's parser errors.
    done = run_inv(*argv, timeout=60)
    assert (done.returncode, done.stderr) == (2, words + "\n")


def test_the_inv_program_lists_every_task() -> None:
    listing = run_inv("--list").stdout
    for name in ("bump", "publish", "promote", "verify", "staging.validate", "sandbox.up", "demo", "test"):
        assert f"  {name} " in listing


def test_bump_json_is_one_document_naming_each_file(project: Path) -> None:
    before = snapshot(project)
    planned = inv(project, "bump", "2.0.0.15", "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    (line,) = planned.stdout.splitlines()
    document = json.loads(line)
    files = ["VERSION", "docs/RELEASE.md", "client/pyproject.toml", "client/Info.plist"]
    assert {k: document[k] for k in ("version", "previous", "dry_run")} == {
        "version": "2.0.0.15",
        "previous": "2.0.0.14",
        "dry_run": True,
    }
    assert sorted(document["files"]) == sorted(files)
    assert "+2.0.0.15\n" in document["diff"] and snapshot(project) == before
    done = inv(project, "bump", "2.0.0.15", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert json.loads(line) == {
        "version": "2.0.0.15",
        "previous": "2.0.0.14",
        "dry_run": False,
        "files": document["files"],
    }
    assert (project / "app" / "VERSION").read_text() == "2.0.0.15\n"


@pytest.mark.parametrize(
    ("version", "says"),
    [("99999999999.0.0.1", "jumps 99999999997 majors"), ("2.0.1015.0", "component 3 grows by 1015")],
)
def test_a_typo_jump_needs_yes(project: Path, version: str, says: str) -> None:
    before = snapshot(project)
    done = inv(project, "bump", version)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()
    assert len(line) == 1 and says in line[0] and "--yes" in line[0]
    assert snapshot(project) == before
    assert inv(project, "bump", version, "--yes").returncode == 0
    assert (project / "app" / "VERSION").read_text() == f"{version}\n"


def test_undo_goes_back_until_the_version_is_published(project: Path) -> None:
    from schemas import write_model
    from tests.reconciler.helpers import make_manifest

    manifests = project / ".sandbox" / "manifests"  # the sandbox target's manifests_dir
    write_model(manifests / "manifest.json", make_manifest("2.0.0.14"))
    before = snapshot(project)
    assert inv(project, "bump", "2.0.0.15").returncode == 0
    assert inv(project, "bump", "undo").returncode == 0
    assert snapshot(project) == before  # every linked file is back, byte for byte
    assert inv(project, "bump", "2.0.0.15").returncode == 0
    write_model(manifests / "manifest_beta.json", make_manifest("2.0.0.15", "beta"))
    published = snapshot(project)
    for argv in (("bump", "undo"), ("bump", "2.0.0.14", "--yes")):
        done = inv(project, *argv)
        assert done.returncode == 2
        assert "2.0.0.15 was already published" in done.stderr and "manifest_beta.json" in done.stderr
        assert snapshot(project) == published
    lower = inv(project, "bump", "2.0.0.14")
    assert lower.returncode == 2 and "not newer" in lower.stderr
