"""The shared webhook code (``schemas.webhook``) both sides post through, and the announce rules that
need no sandbox: signing, retries, what a failure says, the target file's ``announce`` section."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from reconciler.alerts import Alert
from reconciler.config import Webhook
from reconciler.webhooks import render
from release.parts.announce import announce
from schemas import Artifact, Channel, Manifest, compute_fingerprint, utcnow
from schemas import webhook as shared
from schemas.target import Announce
from tests.ports import free_ports
from tests.release.helpers import sandbox_target
from tests.webhookkit import Receiver

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def _post(client: httpx.Client, url: str, pauses: list[float]) -> shared.Delivery:
    body = shared.encode({"text": "hello"})
    headers = shared.request_headers(body, user_agent="test", secret=None)
    return shared.post(client, url, body, headers, timeout_s=5, attempts=3, max_wait_s=1, sleep=pauses.append)


def test_the_reconciler_signs_with_the_shared_code() -> None:
    hook = Webhook.model_validate({"url": "http://127.0.0.1:9/hook", "secret_env": "HOOK"})
    body, headers = render(hook, Alert(resource="feed", kind="down"), {"HOOK": "s3cret"})
    assert headers[shared.SIGNATURE_HEADER] == shared.signature("s3cret", body)
    assert shared.verify("s3cret", body, headers[shared.SIGNATURE_HEADER])
    assert not shared.verify("s3cret", body + b" ", headers[shared.SIGNATURE_HEADER])
    assert not shared.verify("s3cret", body, None)
    assert headers["User-Agent"] == "nexy-reconciler"


def test_a_5xx_is_retried_then_a_failure_naming_the_status(client: httpx.Client) -> None:
    down, pauses = Receiver(status=500), []
    try:
        assert _post(client, down.url, pauses) == shared.Delivery(False, "HTTP 500 after 3 attempts")
        assert len(down.requests) == 3 and len(pauses) == 2
    finally:
        down.close()


def test_a_flapping_endpoint_is_delivered_and_a_4xx_is_final(client: httpx.Client) -> None:
    flapping, refusing, pauses = Receiver(fail_first=1), Receiver(status=404), []
    try:
        assert _post(client, flapping.url, pauses) == shared.Delivery(True, "HTTP 200")
        assert len(flapping.requests) == 2
        assert _post(client, refusing.url, pauses) == shared.Delivery(False, "HTTP 404")
        assert len(refusing.requests) == 1  # a 4xx other than 429 is not retried
    finally:
        flapping.close()
        refusing.close()


def test_no_answer_names_the_error_type_never_the_url(client: httpx.Client) -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/secret-path-T0KEN"
    delivery = _post(client, url, [])
    assert not delivery.ok and delivery.detail == "ConnectError after 3 attempts"


def _manifest() -> Manifest:
    def artifact(name: str) -> Artifact:
        return Artifact(name=name, url=f"https://example.com/{name}", sha256="a" * 64, size=1)

    version = "2.0.0.15"
    return Manifest(
        version=version,
        build=version,
        channel=Channel.BETA,
        artifact=artifact("Nexy.dmg"),
        installer=artifact("Nexy.pkg"),
        release_notes="# Nexy 2.0.0.15\n\n- first\n",
        published_at=utcnow(),
        fingerprint=compute_fingerprint(version, version, "a" * 64, "a" * 64),
    )


def test_an_unset_secret_is_a_failure_and_nothing_goes_out_unsigned(
    tmp_path: Path, client: httpx.Client
) -> None:
    hook = Receiver()
    try:
        section = {"sinks": [{"kind": "webhook", "name": "ops", "url": hook.url, "secret_env": "NOPE"}]}
        target = sandbox_target(tmp_path).model_copy(update={"announce": Announce.model_validate(section)})
        told = announce(target, "publish", _manifest(), client, {})
        assert [(t.sink, t.ok, t.detail) for t in told] == [
            ("ops", False, "NOPE is not set (nothing is posted unsigned)")
        ]
        assert hook.requests == []
        told = announce(target, "publish", _manifest(), client, {"NOPE": "k"})
        assert told[0].ok and shared.verify("k", hook.requests[0][1], hook.requests[0][0]["x-nexy-signature"])
        assert json.loads(hook.requests[0][1])["notes"] == ["# Nexy 2.0.0.15", "- first"]
    finally:
        hook.close()


@pytest.mark.parametrize(
    ("sink", "words"),
    [
        ({"kind": "slack", "name": "a"}, "exactly one of url and url_env"),
        ({"kind": "slack", "name": "a", "url": "https://x.example", "url_env": "X"}, "exactly one of"),
        ({"kind": "webhook", "name": "a", "url": "https://x.example", "secret_env": "not a name"}, "pattern"),
    ],
)
def test_a_bad_sink_is_refused(sink: dict[str, str], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Announce.model_validate({"sinks": [sink]})


def test_sink_names_are_distinct() -> None:
    sink = {"kind": "webhook", "name": "a", "url": "https://x.example"}
    with pytest.raises(ValidationError, match="distinct"):
        Announce.model_validate({"sinks": [sink, sink]})
