"""Announcements: one message per sink after a publish (beta), promote or rollback (``announce:`` in
the target file).

Rules:
- The message says what was released: the task, version, channel, who (the journal's ``who``), the
  release notes' first ``notes_lines`` lines, and the links: the channel's appcast and the fixed
  download URLs the manifest points at.
- ``slack`` posts Slack's incoming-webhook payload ``{"text": ...}`` (plus ``blocks`` when asked);
  ``webhook`` posts the document (``event: announce``), signed with ``X-Nexy-Signature`` when it
  has ``secret_env``. Encoding, signing and the post with retries are ``schemas.webhook``'s, the
  same code the reconciler's alerts go through.
- A failure to tell never fails the release: ``announce`` never raises; each sink's outcome is a
  ``Told`` the task turns into a warning line, a journal detail and a report entry. A URL or secret
  variable that is unset is such a failure (a webhook with ``secret_env`` is never posted unsigned).
- Secrets (a URL from ``url_env``, the HMAC secret) are read from the injected environment and
  never printed, logged, journaled or reported: a sink is named by its ``name``, a failure by the
  HTTP status or the error's type.
- A dry run tells nobody: its plan carries ``announce to NAME`` lines (``plan_lines``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from release.parts.journal import who
from schemas import Manifest, Target
from schemas import webhook as shared
from schemas.target import SlackSink, WebhookSink

__all__ = ["Told", "announce", "document", "plan_lines", "text"]

USER_AGENT = "nexy-release"
MAX_WAIT_S = 2.0  # between attempts: a release engineer waits for the task's last line


@dataclass(frozen=True, slots=True)
class Told:
    sink: str
    ok: bool
    detail: str

    def line(self) -> str:
        if self.ok:
            return f"announced to {self.sink} ({self.detail})"
        return f"announce to {self.sink} failed: {self.detail}; the release itself is done"

    def as_json(self) -> dict[str, Any]:
        return {"sink": self.sink, "ok": self.ok, "detail": self.detail}


def plan_lines(target: Target) -> list[str]:
    return [f"announce to {sink.name}" for sink in target.announce.sinks] if target.announce else []


_VERBS = {"publish": "published to", "promote": "promoted to", "rollback": "rolled back on"}


def document(target: Target, task: str, manifest: Manifest, by: str) -> dict[str, Any]:
    """The announcement of ``manifest`` going out through ``task``: what a generic webhook receives."""
    lines = target.announce.notes_lines if target.announce else 0
    notes = [line for line in manifest.release_notes.splitlines() if line.strip()][:lines]
    channel = manifest.channel
    links = {
        "appcast": target.appcast_url(channel),
        "dmg": str(manifest.artifact.url),
        "pkg": str(manifest.installer.url),
    }
    doc: dict[str, Any] = {
        "event": "announce",
        "task": task,
        "target": target.name,
        "channel": channel.value,
        "version": manifest.version,
        "who": by,
        "notes": notes,
        "links": links,
    }
    return doc | {"text": text(doc)}


def text(doc: Mapping[str, Any]) -> str:
    """The message a person reads (Slack's ``text``, and the document's)."""
    verb = _VERBS.get(str(doc["task"]), f"{doc['task']}:")
    head = f"{doc['target']}: {doc['version']} {verb} {doc['channel']} by {doc['who']}"
    links = [f"{name}: {url}" for name, url in doc["links"].items()]
    return "\n".join([head, *doc["notes"], *links])


def _slack(doc: Mapping[str, Any], blocks: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": doc["text"]}
    if blocks:
        head, _, rest = str(doc["text"]).partition("\n")
        payload["blocks"] = [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            *([{"type": "section", "text": {"type": "mrkdwn", "text": rest[:3000]}}] if rest else []),
        ]
    return payload


def _tell(
    client: httpx.Client,
    sink: SlackSink | WebhookSink,
    doc: dict[str, Any],
    attempts: int,
    env: Mapping[str, str],
) -> Told:
    url = str(sink.url) if sink.url is not None else env.get(sink.url_env or "", "")
    if not url:
        return Told(sink.name, False, f"{sink.url_env} is not set")
    secret = None
    if isinstance(sink, WebhookSink) and sink.secret_env:
        secret = env.get(sink.secret_env, "")
        if not secret:
            return Told(sink.name, False, f"{sink.secret_env} is not set (nothing is posted unsigned)")
    body = shared.encode(_slack(doc, sink.blocks) if isinstance(sink, SlackSink) else doc)
    headers = shared.request_headers(body, user_agent=USER_AGENT, secret=secret)
    try:
        delivery = shared.post(
            client, url, body, headers, timeout_s=sink.timeout_s, attempts=attempts, max_wait_s=MAX_WAIT_S
        )
    except Exception as exc:  # whatever it is (an invalid URL in the variable...), never the release's
        return Told(sink.name, False, type(exc).__name__)
    return Told(sink.name, delivery.ok, delivery.detail)


def announce(
    target: Target, task: str, manifest: Manifest, client: httpx.Client, env: Mapping[str, str]
) -> list[Told]:
    """Tell every sink of ``manifest`` going out (none without ``announce:``); never raises."""
    if target.announce is None:
        return []
    doc = document(target, task, manifest, who(target.root))
    return [_tell(client, sink, doc, target.announce.attempts, env) for sink in target.announce.sinks]
