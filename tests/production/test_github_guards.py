"""What the GitHub store refuses: immutable, missing and draft releases, missing or rejected tokens, the
code repository, and (statically) any PyGithub call that could create a release, tag or branch."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from github.Branch import Branch
from github.GitRef import GitRef
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset
from github.GitTag import GitTag
from github.Repository import Repository

from release.errors import ReleaseError
from release.outside.store.github import GithubStore
from schemas import Target
from tests.conftest import REPO
from tests.fakes.github import FakeGithub, TagBurned
from tests.production.conftest import target_document
from tests.production.kit import (
    NEW,
    Artifact,
    MakeStore,
    assert_only_asset_writes,
    uploads,
)


def test_immutable_release_stops_before_any_write_and_says_what_is_true(
    make_store: MakeStore, github: FakeGithub, artifact: Artifact
) -> None:
    """Published while the setting was on, ``Update`` stays immutable when it is turned off; the message
    says the assets can never be replaced, warns against deleting the release, and says what to do."""
    github.delete_release("Update")
    github.immutable_releases = True
    github.add_release("Update")
    github.immutable_releases = False  # the operator follows the old advice: changes nothing
    store = make_store()
    assert store.release("Update").immutable
    path, sha, size = artifact("Nexy.dmg", NEW)
    with pytest.raises(ReleaseError) as caught:
        store.upload("Update", "Nexy.dmg", path, sha256=sha, size=size)
    message = str(caught.value)
    assert message.startswith("Nexy.dmg cannot be uploaded: release Update in acme/Nexy_assets is immutable")
    for fact in (
        "assets can never be replaced, even with the setting off",
        "do not delete it (a tag can never be reused; the fixed URL would 404 for good)",
        "instead point the target's channel tags and update URLs at a new release under another tag",
    ):
        assert fact in message
    assert "\n" not in message and "re-publish" not in message
    assert uploads(github) == 0 and github.writes() == []


def test_the_fake_burns_the_tag_of_a_deleted_immutable_release(github: FakeGithub) -> None:
    """What the old advice led to, as GitHub answers it: the tag can never carry a release again."""
    github.immutable_releases = True
    github.add_release("Stable")
    github.immutable_releases = False
    assert github.release("Stable").immutable
    github.delete_release("Stable")
    with pytest.raises(TagBurned) as caught:
        github.add_release("Stable")
    assert caught.value.body["errors"][0]["message"] == "tag_name was used by an immutable release"
    github.add_release("Mutable")
    github.delete_release("Mutable")
    assert not github.add_release("Mutable").immutable  # a mutable release's tag is free again


def test_missing_and_draft_releases_say_what_to_do(make_store: MakeStore, github: FakeGithub) -> None:
    github.add_release("Nightly", draft=True)
    store = make_store()
    with pytest.raises(ReleaseError, match="release Gone not found in acme/Nexy_assets: create and publish"):
        store.release("Gone")
    with pytest.raises(ReleaseError, match="release Nightly in acme/Nexy_assets is a draft"):
        store.release("Nightly")
    assert_only_asset_writes(github)


def test_missing_and_rejected_tokens_are_one_line(make_store: MakeStore, github: FakeGithub) -> None:
    with pytest.raises(ReleaseError, match=r"no GitHub token: set \$GITHUB_TOKEN"):
        make_store(token=None).check_access()
    with pytest.raises(ReleaseError) as caught:
        make_store(token="wrong-secret").check_access()
    assert "GitHub rejected the token" in str(caught.value) and "wrong-secret" not in str(caught.value)
    assert make_store().check_access() == "GitHub token accepted for acme/Nexy_assets"
    github.push = False
    with pytest.raises(ReleaseError, match="can read acme/Nexy_assets but not write"):
        make_store().check_access()


def test_token_file_from_the_target(tmp_path: Path, github: FakeGithub) -> None:
    (tmp_path / "gh-token").write_text("fake-token\n")
    document = target_document(tmp_path, github.base_url)
    document["store"]["token_file"] = "gh-token"
    store = GithubStore(Target.model_validate(document), environ={}, pace_writes=False)
    assert store.check_access().startswith("GitHub token accepted")


def test_code_repository_is_never_written(tmp_path: Path, github: FakeGithub) -> None:
    document = target_document(tmp_path, github.base_url)
    document["repositories"]["assets"] = "ACME/nexy"  # the code repository in other letters
    document["release_target"]["update"] = {
        "dmg_url": f"{github.base_url}/ACME/nexy/releases/download/Update/Nexy.dmg",
        "pkg_url": f"{github.base_url}/ACME/nexy/releases/download/App/Nexy.pkg",
    }
    store = GithubStore(Target.model_validate(document), token="fake-token", environ={})
    with pytest.raises(ReleaseError, match="the assets repository is the code repository"):
        store.release("UpdateBeta")
    assert github.requests == []


def _pygithub_writes() -> set[str]:
    """Every PyGithub method that creates, changes or deletes something on a repository or release."""
    verbs = re.compile(
        r"^(create|update|delete|edit|merge|remove|add|replace|rename|set|upload|transfer)(_|$)"
    )
    classes = (Repository, GitRelease, GitReleaseAsset, GitRef, GitTag, Branch)
    # ``update()`` re-reads an object (a GET), despite its name.
    return {name for cls in classes for name in dir(cls) if verbs.match(name)} - {"update"}


def test_no_code_path_can_create_a_release_tag_or_branch() -> None:
    """Statically, over every workstation module: the only PyGithub writes are asset delete and rename
    (uploads go through ``_transfer.upload_asset``, into a release that already exists), and one
    ``update_release`` in the GitHub store (promote's release body) that sends the release's own
    tag back (``tag_name=<release>.tag_name``), so it can never move the tag.

    The fake proves what a run asked for; this proves what no run can ask for, whatever path it takes
    (``create_git_release``, ``create_git_ref``, ``create_git_tag``, ``update_file``, ``edit`` ...).
    """
    forbidden = _pygithub_writes() - {"delete_asset", "update_asset"}
    assert {
        "create_git_release",
        "create_git_ref",
        "create_git_tag_and_release",
        "update_release",
    } <= forbidden
    found = []
    for path in sorted([*(REPO / "release").rglob("*.py"), *(REPO / "tasks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            ours = isinstance(receiver, ast.Name) and receiver.id == "_transfer"  # our streaming upload
            if node.func.attr == "update_release" and path == REPO / "release/outside/store/github.py":
                tag = next((k.value for k in node.keywords if k.arg == "tag_name"), None)
                ours = isinstance(tag, ast.Attribute) and tag.attr == "tag_name"
            if node.func.attr in forbidden and not ours:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.func.attr}()")
    assert found == []
