"""Webhook posts both sides make: the reconciler's alerts and the release tasks' announcements.

Rules:
- The body is compact JSON (``encode``); a Slack incoming webhook takes ``{"text": ...}`` (and
  optionally ``blocks``), a generic sink takes any document.
- With a secret, the body is signed: ``X-Nexy-Signature: sha256=<hex HMAC-SHA256 of the body>``
  (``signature``); a receiver checks it with ``verify`` (constant-time). The secret comes from the
  caller (read from an environment variable it names) and is never logged or put in a result.
- ``post`` delivers one body with retries (tenacity: exponential backoff, capped, a bounded number
  of attempts) on a transport error, a 5xx or a 429; a 2xx or 3xx is delivered, another 4xx is
  final. The pause between attempts is the caller's (``sleep``), so a daemon can cut it short,
  and ``expired`` lets it give up at a deadline. Its ``detail`` names the status or the error type,
  never the URL (a Slack webhook URL is itself a secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

__all__ = ["SIGNATURE_HEADER", "Delivery", "encode", "post", "request_headers", "signature", "verify"]

SIGNATURE_HEADER = "X-Nexy-Signature"


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    detail: str  # "HTTP 204", "HTTP 500 after 3 attempts", "ConnectError after 3 attempts", "deadline"


class _Retryable(Exception):
    pass


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Nexy-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` under ``secret``."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def request_headers(body: bytes, *, user_agent: str, secret: str | None) -> dict[str, str]:
    """The headers of a post of ``body``: JSON, who sends it, and the signature when there is a secret."""
    headers = {"Content-Type": "application/json", "User-Agent": user_agent}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    attempts: int,
    max_wait_s: float,
    sleep: Callable[[float], None] = time.sleep,
    expired: Callable[[], bool] = lambda: False,
) -> Delivery:
    """Post ``body`` with retries; ``Delivery.ok`` when the endpoint took it."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=max_wait_s),
        retry=retry_if_exception_type((httpx.HTTPError, _Retryable)),
        sleep=sleep,
        reraise=False,
        retry_error_callback=lambda state: None,
    )
    result = Delivery(False, f"no answer after {attempts} attempts")
    for attempt in retrying:
        with attempt:
            if expired():
                return Delivery(False, "deadline")
            try:
                response = client.post(url, content=body, headers=dict(headers), timeout=timeout_s)
            except httpx.HTTPError as exc:
                result = Delivery(False, f"{type(exc).__name__} after {attempts} attempts")
                raise
            if response.status_code >= 500 or response.status_code == 429:
                result = Delivery(False, f"HTTP {response.status_code} after {attempts} attempts")
                raise _Retryable(f"HTTP {response.status_code}")
            result = Delivery(response.status_code < 400, f"HTTP {response.status_code}")
    return result
