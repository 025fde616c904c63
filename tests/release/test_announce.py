"""Announcements on a real sandbox: publish (beta), promote and rollback each tell a Slack webhook, a
signed JSON webhook and a webhook that answers 500, all loopback receivers.

The tests in this module share one sandbox and run in order (V1 to beta, then stable, V2 the same,
then stable rolled back to V1). The Slack URL and the HMAC secret reach the tasks only through the
environment variables the target file names; neither may appear in any output or the journal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML

from release.outside.sandbox_layout import sandbox_paths
from release.parts.journal import log_path, read_entries
from schemas import Channel
from schemas import webhook as shared
from tests.conftest import Sandbox, run_inv
from tests.webhookkit import Receiver

from .helpers import make_artifacts, one_json

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
V1, V2 = "2.0.0.15", "2.0.0.16"
SECRET = "hook-secret-" + "9f2c4e"
ATTEMPTS = 2


@pytest.fixture(scope="module")
def hooks(sandbox: Sandbox) -> Iterator[dict[str, Receiver]]:
    """The three receivers, and the sandbox's target file naming them in ``announce:``."""
    receivers = {"slack": Receiver(), "hook": Receiver(), "down": Receiver(status=500)}
    yaml = YAML(typ="safe")
    raw = yaml.load(sandbox.target_file.read_text(encoding="utf-8"))
    raw["announce"] = {
        "attempts": ATTEMPTS,
        "notes_lines": 2,
        "sinks": [
            {"kind": "slack", "name": "slack", "url_env": "NEXY_TEST_SLACK_URL", "blocks": True},
            {
                "kind": "webhook",
                "name": "hook",
                "url": receivers["hook"].url,
                "secret_env": "NEXY_TEST_HOOK_SECRET",
            },
            {"kind": "webhook", "name": "down", "url": receivers["down"].url},
        ],
    }
    yaml.default_flow_style = False
    with sandbox.target_file.open("w", encoding="utf-8") as handle:
        yaml.dump(raw, handle)
    try:
        yield receivers
    finally:
        for receiver in receivers.values():
            receiver.close()


def inv(box: Sandbox, hooks: dict[str, Receiver], *args: str) -> Any:
    env = dict(os.environ) | {"NEXY_TEST_SLACK_URL": hooks["slack"].url, "NEXY_TEST_HOOK_SECRET": SECRET}
    done = run_inv(*args, "--target", str(box.target_file), env=env)
    assert done.returncode == 0, f"inv {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    said = done.stdout + done.stderr
    assert SECRET not in said and hooks["slack"].url not in said  # never printed
    return done


def counts(hooks: dict[str, Receiver]) -> dict[str, int]:
    return {name: len(receiver.requests) for name, receiver in hooks.items()}


def last_document(hooks: dict[str, Receiver]) -> dict[str, Any]:
    """The signed webhook's last post, its signature checked with the shared code."""
    headers, body = hooks["hook"].requests[-1]
    assert headers["content-type"] == "application/json"
    assert shared.verify(SECRET, body, headers[shared.SIGNATURE_HEADER.lower()])
    assert not shared.verify("another secret", body, headers[shared.SIGNATURE_HEADER.lower()])
    document: dict[str, Any] = json.loads(body)
    return document


def assert_told(box: Sandbox, hooks: dict[str, Receiver], before: dict[str, int], done: Any) -> None:
    """One post to slack and hook, ``ATTEMPTS`` to the 500 one: a warning line and a journal detail."""
    assert counts(hooks) == {
        "slack": before["slack"] + 1,
        "hook": before["hook"] + 1,
        "down": before["down"] + ATTEMPTS,
    }
    said = done.stdout + done.stderr  # stderr under --json
    assert f"warning: announce to down failed: HTTP 500 after {ATTEMPTS} attempts" in said
    assert "announced to slack (HTTP 200)" in said and "announced to hook (HTTP 200)" in said
    detail = read_entries(box.target)[-1].detail
    assert "announced to slack" in detail and f"announce to down failed: HTTP 500 after {ATTEMPTS}" in detail
    journal = log_path(box.target).read_text(encoding="utf-8")
    assert SECRET not in journal and hooks["slack"].url not in journal
    assert "signature" not in hooks["slack"].requests[-1][0]  # Slack sinks are not signed


def test_a_dry_run_plans_each_sink_and_tells_nobody(sandbox: Sandbox, hooks: dict[str, Receiver]) -> None:
    inv(sandbox, hooks, "bump", V1)
    make_artifacts(
        sandbox.root, 2 * MB, MB, f"# Nexy {V1}\n\n- Faster wake word.\n- Fewer crashes.\n- More.\n"
    )
    done = inv(sandbox, hooks, "publish", "--channel", "beta", "--dry-run")
    for name in hooks:
        assert f"plan: announce to {name}" in done.stdout
    assert counts(hooks) == {"slack": 0, "hook": 0, "down": 0}


def test_publish_beta_tells_each_sink_and_a_500_is_a_warning(
    sandbox: Sandbox, hooks: dict[str, Receiver]
) -> None:
    before = counts(hooks)
    done = inv(sandbox, hooks, "publish", "--channel", "beta")
    assert_told(sandbox, hooks, before, done)
    document = last_document(hooks)
    target = sandbox.target
    entry = read_entries(target)[-1]
    assert (entry.task, entry.result) == ("publish", "ok")
    assert {k: document[k] for k in ("event", "task", "channel", "version", "who", "target")} == {
        "event": "announce",
        "task": "publish",
        "channel": "beta",
        "version": V1,
        "who": entry.who,
        "target": target.name,
    }
    assert document["notes"] == [f"# Nexy {V1}", "- Faster wake word."]  # notes_lines: 2
    assert document["links"] == {
        "appcast": target.appcast_url(Channel.BETA),
        "dmg": target.download_url(target.channels.beta.dmg_tag, target.dmg_name),
        "pkg": target.download_url(target.channels.beta.pkg_tag, target.pkg_name),
    }
    slack = json.loads(hooks["slack"].requests[-1][1])
    assert slack["text"] == document["text"] and slack["text"].startswith(
        f"{target.name}: {V1} published to beta"
    )
    assert (
        slack["blocks"][0]["type"] == "header" and "- Faster wake word." in slack["blocks"][1]["text"]["text"]
    )


def test_promote_tells_the_fixed_urls_and_writes_the_release_body(
    sandbox: Sandbox, hooks: dict[str, Receiver]
) -> None:
    inv(sandbox, hooks, "staging.open")
    inv(sandbox, hooks, "staging.validate")
    before = counts(hooks)
    done = inv(sandbox, hooks, "promote")
    assert_told(sandbox, hooks, before, done)
    document = last_document(hooks)
    target = sandbox.target
    update = target.release_target.update
    assert (document["task"], document["channel"], document["version"]) == ("promote", "stable", V1)
    assert document["links"] == {
        "appcast": target.appcast_url(Channel.STABLE),
        "dmg": str(update.dmg_url),
        "pkg": str(update.pkg_url),
    }
    body = sandbox_paths(target).store_root / target.channels.stable.dmg_tag / ".release-body.md"
    notes = (sandbox.root / "release_inbox" / "beta" / "LATEST_CHANGES.md").read_text(encoding="utf-8")
    assert body.read_text(encoding="utf-8") == notes
    assert "wrote the body of release Update from LATEST_CHANGES.md" in done.stdout

    # The same promote again: a skip, which tells nobody.
    before = counts(hooks)
    again = one_json(inv(sandbox, hooks, "promote", "--json").stdout)
    assert again["skip"] is True and "announce" not in again
    assert counts(hooks) == before


def test_rollback_tells_each_sink(sandbox: Sandbox, hooks: dict[str, Receiver]) -> None:
    inv(sandbox, hooks, "bump", V2)
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {V2}\n\n- Second.\n")
    inv(sandbox, hooks, "publish", "--channel", "beta")
    inv(sandbox, hooks, "staging.validate")
    promoted = inv(sandbox, hooks, "promote")
    assert "wrote the body of release Update" in promoted.stdout
    before = counts(hooks)
    done = inv(sandbox, hooks, "rollback", "--to", V1, "--yes", "--json")
    assert_told(sandbox, hooks, before, done)
    report = one_json(done.stdout)
    assert {(t["sink"], t["ok"]) for t in report["announce"]} == {
        ("slack", True),
        ("hook", True),
        ("down", False),
    }
    document = last_document(hooks)
    assert (document["task"], document["channel"], document["version"]) == ("rollback", "stable", V1)
    assert json.loads(hooks["slack"].requests[-1][1])["text"].startswith(
        f"{sandbox.target.name}: {V1} rolled back on stable"
    )
