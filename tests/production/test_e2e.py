"""A whole release through the production backends: publish beta → staging → promote → verify, then
a second release and a rollback to the first (the stable release's body follows the bytes).

The tasks run as a person runs them (``./inv ... --target FILE`` in a subprocess). The
target names ``store: github`` (the fake GitHub) and ``remote: azure`` (the fake ARM), and the fake
ARM runs each Run Command script against the sandbox's VM tree, where the real reconciler daemon and
the real feeds (started by the ``sandbox`` fixture) serve what the release changed. The Azure
credential is azure-identity's ManagedIdentityCredential reading the App Service environment
variables; TLS to the fake ARM is trusted through ``REQUESTS_CA_BUNDLE``, as the SDK documents.
"""

from __future__ import annotations

import hashlib

import pytest

from release.outside.sandbox_layout import sandbox_paths
from tests.conftest import Sandbox
from tests.fakes.azure import FakeAzure
from tests.fakes.github import FakeGithub
from tests.fakes.production import TAGS, production_target, task_env
from tests.production.kit import assert_only_asset_writes, inv
from tests.release.helpers import one_json, write_archives

pytestmark = pytest.mark.timeout(600)
VERSION = "2.0.0.15"
NEXT = "2.0.0.16"


def test_release_through_github_and_run_command(
    sandbox: Sandbox, fakes: tuple[FakeGithub, FakeAzure]
) -> None:
    github, azure = fakes
    target = production_target(
        sandbox.target_file, sandbox.target, github, azure, sandbox.root / "fake-production.yaml"
    )
    env = task_env(github, azure)
    inbox = sandbox.root / "release_inbox" / "beta"
    dmg, pkg = write_archives(sandbox.root, VERSION, 3 << 20, 2 << 20)
    (inbox / "LATEST_CHANGES.md").write_text(f"# Nexy {VERSION}\n\n- Faster wake word.\n")

    inv(target, env, "bump", VERSION)
    posts = azure.posts
    inv(target, env, "publish", "--channel", "beta")
    assert azure.posts - posts == 1  # publish makes exactly one Run Command call
    beta = github.assets("UpdateBeta")["Nexy.dmg"]
    assert beta.sha256 == hashlib.sha256(dmg).hexdigest()
    assert github.assets("AppBeta")["Nexy.pkg"].sha256 == hashlib.sha256(pkg).hexdigest()

    inv(target, env, "staging.open", "--reason", "e2e beta window")
    inv(target, env, "staging.validate")
    inv(target, env, "promote")
    inv(target, env, "verify")

    # promote wrote the stable release's body from LATEST_CHANGES.md, its tag untouched
    update = github.release("Update")
    assert (update.tag, update.body) == ("Update", f"# Nexy {VERSION}\n\n- Faster wake word.\n")
    stable = github.assets("Update")
    assert stable["Nexy.dmg"].sha256 == hashlib.sha256(dmg).hexdigest()
    assert github.assets("App")["Nexy.pkg"].sha256 == hashlib.sha256(pkg).hexdigest()
    for tag in TAGS:
        assert not [name for name in github.assets(tag) if name.endswith(".nexy-upload")]
    assert_only_asset_writes(github)
    runtime = sandbox_paths(sandbox.target).vm_root / "server/updates/manifests"
    assert (runtime / "manifest.json").read_bytes() == (runtime / f"manifest_{VERSION}.json").read_bytes()
    assert github.base_url in (runtime / "manifest.json").read_text()

    # A second release, then a rollback to the first: the release page describes what it serves.
    notes = f"# Nexy {VERSION}\n\n- Faster wake word.\n"
    inv(target, env, "bump", NEXT)
    write_archives(sandbox.root, NEXT, 1 << 20, 1 << 20)
    (inbox / "LATEST_CHANGES.md").write_text(f"# Nexy {NEXT}\n\n- Quieter fan.\n")
    inv(target, env, "publish", "--channel", "beta")
    inv(target, env, "staging.validate")
    inv(target, env, "promote")
    assert github.release("Update").body == f"# Nexy {NEXT}\n\n- Quieter fan.\n"
    edits = len(github.release_edits)
    dry = one_json(inv(target, env, "rollback", "--to", VERSION, "--dry-run", "--json").stdout)
    body = next(action for action in dry["plan"] if action["key"] == "body")
    assert (body["mode"], body["text"]) == (
        "do",
        f"write the body of release Update from the release notes of {VERSION}",
    )
    assert len(github.release_edits) == edits and github.release("Update").body != notes
    inv(target, env, "rollback", "--to", VERSION, "--yes")
    assert (github.release("Update").tag, github.release("Update").body) == ("Update", notes)
    assert len(github.release_edits) == edits + 1
    again = one_json(inv(target, env, "rollback", "--to", VERSION, "--yes", "--json").stdout)
    assert {a["key"]: a["mode"] for a in again["plan"]}["body"] == "skip"
    assert len(github.release_edits) == edits + 1
    assert_only_asset_writes(github)
