"""The real tasks against the fakes: preflight's credential rows, and publish through GitHub faults.

Each test runs a task as a person runs it (``./inv ... --target FILE``, a subprocess)
against the module's sandbox (real reconciler, real feeds) with the fake GitHub as the store and the
fake Azure Run Command as the way to the VM. Expected failures must be rows and one line, never a
traceback, and must never print a credential.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import up
from release.sandbox.procs import stop
from schemas import Channel
from tests.conftest import Sandbox
from tests.fakes.azure import FakeAzure
from tests.fakes.github import FakeGithub
from tests.fakes.production import TAGS, production_target, task_env
from tests.production.kit import assert_only_asset_writes, inv
from tests.release.helpers import write_archives

pytestmark = pytest.mark.timeout(300)
VERSION = "2.0.0.16"
Fakes = tuple[FakeGithub, FakeAzure]


@pytest.fixture(scope="module")
def inbox(sandbox: Sandbox) -> dict[str, bytes]:
    """The beta inbox of a new version (bumped once for the module), as publish expects it."""
    folder = sandbox.root / "release_inbox" / "beta"
    dmg, pkg = write_archives(sandbox.root, VERSION, 2 << 20, 1 << 20)
    files = {"Nexy.dmg": dmg, "Nexy.pkg": pkg}
    (folder / "LATEST_CHANGES.md").write_text(f"# Nexy {VERSION}\n\n- Steadier uploads.\n")
    sandbox.inv("bump", VERSION)
    return files


def _target(sandbox: Sandbox, fakes: Fakes) -> Path:
    github, azure = fakes
    return production_target(sandbox.target_file, sandbox.target, github, azure, sandbox.root / "fakes.yaml")


def _row(stdout: str, check: str) -> str:
    """The table row of ``check`` (its detail may fold onto the next lines; they are joined)."""
    lines = stdout.splitlines()
    for index, line in enumerate(lines):
        if f" {check} " in line:
            row = [line]
            for more in lines[index + 1 :]:
                if not more.startswith("│ ") or more.split("│")[1].strip():
                    break
                row.append(more)
            return " ".join(" ".join(part.split("│")[3].split()) for part in row).strip()
    raise AssertionError(f"no row {check!r} in:\n{stdout}")


def _one_line_failure(done: subprocess.CompletedProcess[str], *secrets: str) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), done.stderr
    for secret in secrets:
        assert secret not in done.stdout + done.stderr
    return errors[0]


def test_preflight_asks_github_and_the_vm_once(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    github, azure = fakes
    done = inv(_target(sandbox, fakes), task_env(github, azure), "preflight", "--channel", "beta")
    assert "✗" not in done.stdout
    assert _row(done.stdout, "credentials") == f"GitHub token accepted for {github.owner_repo}"
    assert _row(done.stdout, "VM env keys") == "GEMINI_API_KEY"
    assert _row(done.stdout, "fixed releases") == "UpdateBeta, AppBeta exist and are mutable"
    assert azure.posts == 1  # credential, VM and env key names: one Run Command (reconciler status)
    assert github.writes() == []


def test_preflight_missing_credentials_are_failed_rows(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    github, azure = fakes
    env = task_env(github, azure, GITHUB_TOKEN=None, AZURE_SUBSCRIPTION_ID=None)
    done = inv(_target(sandbox, fakes), env, "preflight", check=False)
    line = _one_line_failure(done)
    credentials = _row(done.stdout, "credentials")
    assert credentials.startswith("no GitHub token: set $GITHUB_TOKEN")
    assert _row(done.stdout, "VM env keys") == "no Azure subscription: set $AZURE_SUBSCRIPTION_ID"
    assert "credentials: no GitHub token: set $GITHUB_TOKEN" in line
    assert github.requests == [] and azure.posts == 0


def test_preflight_rejected_credentials_are_failed_rows(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    github, azure = fakes
    wrong_token, wrong_header = "ghp_wrong0123456789abcdef", "wrong-identity-header"
    env = task_env(github, azure, GITHUB_TOKEN=wrong_token, IDENTITY_HEADER=wrong_header)
    done = inv(_target(sandbox, fakes), env, "preflight", check=False)
    line = _one_line_failure(done, wrong_token, wrong_header)
    assert _row(done.stdout, "credentials").startswith("GitHub rejected the token (HTTP 401 Bad credentials)")
    assert _row(done.stdout, "VM env keys").startswith("Azure credential (managed_identity) failed:")
    assert "credentials: GitHub rejected the token" in line
    assert _row(done.stdout, "fixed releases") == "not checked: the store's credentials failed"
    assert line.count("GitHub rejected the token") == 1
    assert github.writes() == [] and azure.posts == 0


def test_publish_rides_out_500s_rate_limits_and_a_502_mid_upload(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    github, azure = fakes
    github.put_asset("UpdateBeta", "Nexy.dmg", b"the previous beta")
    target, env = _target(sandbox, fakes), task_env(github, azure)
    github.server_errors, github.rate_limited, github.fail_uploads_midway = 2, 1, 1
    github.secondary_limits, github.secondary_status, github.secondary_retry_after = 1, 429, "1"
    done = inv(target, env, "publish", "--channel", "beta")
    assert (github.server_errors, github.rate_limited, github.fail_uploads_midway) == (0, 0, 0)
    assert github.secondary_limits == 0
    # The person sees why the task paused, with the progress bars on stderr.
    assert "GitHub secondary rate limit (HTTP 429): waiting 1 s, until " in " ".join(done.stderr.split())
    for tag, name in (("UpdateBeta", "Nexy.dmg"), ("AppBeta", "Nexy.pkg")):
        assets = github.assets(tag)
        assert assets[name].sha256 == hashlib.sha256(inbox[name]).hexdigest()
        # nothing half-made (a "starter" asset) or temporary left behind
        assert all(a.state == "uploaded" and not a.name.endswith(".nexy-upload") for a in assets.values())
    assert_only_asset_writes(github)
    assert azure.posts == 1


@pytest.mark.parametrize("fault", ["immutable", "missing", "draft"])
def test_publish_stops_before_any_write_on_a_release_it_cannot_use(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes], fault: str
) -> None:
    github, azure = fakes
    github.put_asset("AppBeta", "Nexy.pkg", b"the previous installer")
    release = github.release("AppBeta")
    if fault == "immutable":
        release.immutable = True
    elif fault == "draft":
        release.draft = True
    else:
        del github.releases[release.id]
    target, env = _target(sandbox, fakes), task_env(github, azure)
    done = inv(target, env, "publish", "--channel", "beta", check=False)
    line = _one_line_failure(done)
    expected = {
        "immutable": f"release AppBeta in {github.owner_repo} is immutable: assets can never be replaced, "
        "even with the setting off; do not delete it (a tag can never be reused; the fixed URL would 404 "
        "for good); instead point the target's channel tags and update URLs at a new release under "
        "another tag",
        "missing": f"release AppBeta not found in {github.owner_repo}: create and publish it once by hand",
        "draft": f"release AppBeta in {github.owner_repo} is a draft: publish it once by hand",
    }[fault]
    assert "nothing was published" in line and expected in line
    assert github.writes() == [] and azure.posts == 0
    assert [tag for tag in TAGS if tag in {r.tag for r in github.releases.values()}] == [
        tag for tag in TAGS if not (fault == "missing" and tag == "AppBeta")
    ]


def _downloads(github: FakeGithub, since: int) -> list[str]:
    """Asset bytes asked for since request ``since``: public download URLs, the CDN, the API's blob."""
    return [
        path
        for method, path in github.requests[since:]
        if method == "GET" and ("/releases/download/" in path or path.startswith(("/cdn/", "/blob/")))
    ]


@pytest.mark.parametrize("digests", [True, False], ids=["digest", "no-digest"])
def test_status_reads_the_stored_digest_and_shows_a_flipped_byte(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes], digests: bool
) -> None:
    github, azure = fakes
    target, env = _target(sandbox, fakes), task_env(github, azure)
    inv(target, env, "publish", "--channel", "beta")
    asset = github.assets("UpdateBeta")["Nexy.dmg"]
    want = asset.sha256
    flipped = bytearray(asset.path.read_bytes())
    flipped[1000] ^= 0x01
    asset.path.write_bytes(bytes(flipped))
    # GitHub's digest is of the bytes it stores (computed at upload), so it changes with them.
    asset.sha256 = hashlib.sha256(flipped).hexdigest()
    github.report_digests = digests
    before = len(github.requests)
    done = inv(target, env, "status", "--json", check=False)
    assert done.returncode == 1
    rows = {row["item"]: row for row in json.loads(done.stdout)["rows"]}
    row = rows["UpdateBeta/Nexy.dmg"]
    assert (row["desired"], row["served"], row["drift"]) == (f"{want[:12]}…", f"{asset.sha256[:12]}…", True)
    assert rows["AppBeta/Nexy.pkg"]["drift"] is False
    # With a digest the store's metadata decides: not one byte of an asset is fetched. Without one
    # (an asset from before June 2025, an older Enterprise server) what clients download is hashed.
    fetched = _downloads(github, before)
    if digests:
        assert fetched == []
    else:
        assert any(path.endswith("/UpdateBeta/Nexy.dmg") for path in fetched), fetched
    assert "error: drift: " in done.stderr and "UpdateBeta/Nexy.dmg" in done.stderr


def test_status_with_the_production_feed_down_names_its_url(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    github, azure = fakes
    target, env = _target(sandbox, fakes), task_env(github, azure)
    production = str(sandbox.target.endpoints.production.url).rstrip("/")
    pid_file = sandbox_paths(sandbox.target).run_dir / "production-feed.pid"
    stop(pid_file)
    try:
        done = inv(target, env, "status", check=False)
    finally:
        up(sandbox.target)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    # Production is not the sandbox: the fix is the URL that did not answer, not ./inv sandbox.up.
    assert f"status unknown: {production} did not answer: check that the VM is running" in line
    assert "sandbox.up" not in line
    assert "no answer" in done.stdout


def test_status_with_the_vm_stopped_marks_the_runtime_side_and_says_why(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    github, azure = fakes
    target, env = _target(sandbox, fakes), task_env(github, azure)
    azure.not_running = True
    done = inv(target, env, "status", "--json", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    document = json.loads(done.stdout)
    rows = {row["item"]: row for row in document["rows"]}
    assert rows["stable version"]["unknown"] == "runtime" and rows["stable version"]["drift"] is False
    assert document["remote_error"]
    line = done.stderr.strip().splitlines()[-1]
    assert "status unknown: the VM (" in line and "did not answer" in line
    shown = inv(target, env, "status", check=False).stdout
    assert "no answer" in shown and "runtime (VM) unknown:" in shown


def test_adoption_comes_with_the_one_run_command_of_status(
    sandbox: Sandbox, fakes: Fakes, inbox: dict[str, bytes]
) -> None:
    from release.sandbox.clients import plan_checks, run_checks
    from release.sandbox.tls import ssl_context

    github, azure = fakes
    target, env = _target(sandbox, fakes), task_env(github, azure)
    url = sandbox.target.appcast_url(Channel.STABLE)
    answers = run_checks(url, plan_checks("2.0.0.15"), ssl_context(sandbox_paths(sandbox.target).ca_bundle))
    assert answers == {"200": 60}
    before = azure.posts
    document = json.loads(inv(target, env, "adoption", "--json").stdout)
    assert azure.posts == before + 1  # the VM's figures ride on reconciler status: one Run Command
    # No promote in this module: no baseline, so the counts are since the feed started.
    assert document["baseline_at"] is None
    assert [(row["version"], row["checks"]) for row in document["versions"]] == [
        ("2.0.0.15", 30),
        ("2.0.0.14", 18),
        ("2.0.0.13", 12),
    ]
    shown = inv(target, env, "status", check=False).stdout
    assert "adoption (stable, since the feed started): 2.0.0.15 50%, 2.0.0.14 30%, 2.0.0.13 20%" in shown
