"""What the production tests share besides fixtures: a task runner, the write audit, asset checks.

Rules: helpers assert or return facts about the fakes; none of them changes a fake's state.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from release.outside.store.github import GithubStore
from tests.conftest import run_inv
from tests.fakes.github import FakeGithub

__all__ = [
    "NEW",
    "Artifact",
    "MakeStore",
    "assert_only_asset_writes",
    "intact",
    "inv",
    "names",
    "running_totals",
    "uploads",
]

Artifact = Callable[[str, bytes], tuple[Path, str, int]]
MakeStore = Callable[..., GithubStore]
NEW = b"new dmg bytes " * 5000


def names(github: FakeGithub, tag: str) -> list[str]:
    return sorted(github.assets(tag))


def uploads(github: FakeGithub) -> int:
    return sum(1 for method, path in github.requests if method == "POST" and path.startswith("/uploads/"))


def intact(github: FakeGithub, tag: str) -> None:
    """No half-made (``starter``) or temporary asset is left in ``tag``."""
    left = [
        a.name
        for a in github.assets(tag).values()
        if a.state != "uploaded" or a.name.endswith(".nexy-upload")
    ]
    assert left == []


def running_totals(moved: list[int]) -> list[int]:
    totals, total = [], 0
    for count in moved:
        total += count
        totals.append(total)
    return totals


def assert_only_asset_writes(github: FakeGithub) -> None:
    """Every request went to the assets repository, and every write was an asset upload, edit or
    delete, or a release edit that changed its body only (promote writes the stable release's body).

    So no release, tag, branch or ref was created, no tag or title changed, and nothing was aimed at
    another repository (the fake logs every request, also those it answers 404).
    """
    repo = re.escape(github.owner_repo)
    allowed = {
        "POST": rf"/uploads/repos/{repo}/releases/\d+/assets",
        "PATCH": rf"/repos/{repo}/releases/(assets/)?\d+",
        "DELETE": rf"/repos/{repo}/releases/assets/\d+",
    }
    writes = github.writes()
    wrong = [(m, p) for m, p in writes if not re.fullmatch(allowed.get(m, "(?!)"), p)]
    assert wrong == [], f"writes other than asset uploads/edits/deletes: {wrong}"
    for (tag, name, _), sent in github.release_edits:
        assert sent.get("tag_name", tag) == tag, f"a release edit moved tag {tag} to {sent.get('tag_name')}"
        shown = tag if name is None else name  # GitHub shows the tag as the title of an unnamed release
        assert sent.get("name", shown) == shown, f"release {tag} renamed to {sent.get('name')}"
    elsewhere = [
        p
        for _, p in github.requests
        if p != "/user" and not re.match(rf"/(uploads/)?(repos/)?{repo}(/|$)|/(cdn|blob)/", p)
    ]
    assert elsewhere == [], f"requests outside {github.owner_repo}: {elsewhere}"


def inv(
    target: Path, env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one task as a person does (``./inv ... --target FILE``, through ``run_inv``) with ``env``."""
    done = run_inv(*args, "--target", str(target), env=env, timeout=300)
    if check and done.returncode != 0:
        pytest.fail(
            f"inv {' '.join(args)} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done
