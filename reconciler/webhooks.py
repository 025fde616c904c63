"""Webhook sinks, posted from one background thread so a slow or dead endpoint never blocks a pass.

Rules:
- ``json`` posts the alert document; ``slack`` posts ``{"text": ...}`` (Slack-compatible).
- With ``secret_env`` set, the body is signed: ``X-Nexy-Signature: sha256=<hex HMAC-SHA256>``.
  The secret is read from the environment and never logged.
- Encoding, signing and the post with its retries are ``schemas.webhook``'s (the release tasks'
  announcements sign and post the same way); here: the queue, the thread and the close deadline.
- Delivery retries with tenacity (exponential backoff, capped, a bounded number of attempts);
  the queue is bounded (oldest dropped). ``close`` keeps delivering and retrying what is queued
  until its deadline, then gives up: a one-shot ``once`` still gets its alerts out, and a stopping
  daemon never hangs on a dead endpoint.
- With metrics, each post is counted once: delivered (a 2xx or 3xx answer), or failed (a 4xx, the
  retries spent, the close deadline reached, or dropped from the full queue).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx

from schemas import webhook as shared

from .alerts import Alert
from .config import Webhook

if TYPE_CHECKING:
    from .metrics import ReconcilerMetrics  # loaded only when metrics are on (memory)

__all__ = ["Deliverer", "WebhookSink", "render"]


def render(webhook: Webhook, alert: Alert, env: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers to post for ``alert``."""
    document = {"text": alert.text()} if webhook.format == "slack" else alert.document()
    body = shared.encode(document)
    secret = env.get(webhook.secret_env) if webhook.secret_env else None
    return body, shared.request_headers(body, user_agent="nexy-reconciler", secret=secret)


class Deliverer:
    def __init__(
        self,
        client: httpx.Client,
        attempts: int = 5,
        max_wait_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: ReconcilerMetrics | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._attempts = attempts
        self._max_wait_s = max_wait_s
        self._monotonic = monotonic
        self._queue: deque[tuple[Webhook, bytes, dict[str, str]]] = deque(maxlen=200)
        self._ready = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def submit(self, webhook: Webhook, body: bytes, headers: dict[str, str]) -> None:
        with self._ready:
            if len(self._queue) == self._queue.maxlen:
                self._count(delivered=False)  # the oldest is about to be dropped
            self._queue.append((webhook, body, headers))
            self._ready.notify()

    def close(self, deadline_s: float = 2.0) -> None:
        with self._ready:
            self._closing = True
            self._deadline = self._monotonic() + deadline_s
            self._ready.notify_all()
        self._thread.join(deadline_s + 0.5)
        if not self._thread.is_alive():
            self._client.close()

    def _expired(self) -> bool:
        return self._monotonic() >= self._deadline

    def _pause(self, seconds: float) -> None:
        # A backoff pause, cut short only by the close deadline (a notify re-checks it).
        end = self._monotonic() + seconds
        with self._ready:
            while (now := self._monotonic()) < min(end, self._deadline):
                self._ready.wait(min(end, self._deadline) - now)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._ready.wait()
                if not self._queue or self._expired():
                    return
                item = self._queue.popleft()
            self._count(delivered=self._post(*item))

    def _count(self, *, delivered: bool) -> None:
        if self._metrics is not None:
            counter = self._metrics.alert_deliveries if delivered else self._metrics.alert_failures
            counter.labels("webhook").inc()

    def _post(self, webhook: Webhook, body: bytes, headers: dict[str, str]) -> bool:
        """Post with retries; True when the endpoint took it."""
        return shared.post(
            self._client,
            str(webhook.url),
            body,
            headers,
            timeout_s=webhook.timeout_s,
            attempts=self._attempts,
            max_wait_s=self._max_wait_s,
            sleep=self._pause,
            expired=self._expired,
        ).ok


class WebhookSink:
    def __init__(self, webhook: Webhook, deliverer: Deliverer, env: Mapping[str, str] | None = None) -> None:
        self._webhook = webhook
        self._deliverer = deliverer
        self._env = dict(env if env is not None else os.environ)

    def deliver(self, alert: Alert) -> None:
        body, headers = render(self._webhook, alert, self._env)
        self._deliverer.submit(self._webhook, body, headers)
