"""Retries for the GitHub store: ours, not PyGithub's (its own retry is switched off).

Rules:
- Only transient failures retry: 5xx, 429, a 403 that is a rate limit, and network errors or
  timeouts. Anything else (401, 404, 422 ...) is raised at once for the caller to turn into a line.
- The wait honours the server: ``Retry-After`` first, then ``x-ratelimit-reset`` when the quota is
  spent, else exponential backoff with jitter. A wait that would end past the deadline stops at once
  (a rate limit then says when to try again) instead of sleeping past it.
- ``before_retry`` runs between attempts: an upload uses it to delete its half-made asset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import requests
from github.GithubException import GithubException
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from ..errors import CHECK_FAILED, ReleaseError

__all__ = ["RetryPolicy", "call", "describe", "http_status", "is_rate_limit", "is_transient"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    deadline_s: float = 600.0
    base_s: float = 1.0
    max_backoff_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    wall: Callable[[], float] = field(default=time.time)


def _headers(exc: BaseException) -> Mapping[str, str]:
    if isinstance(exc, GithubException):
        return {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
    if isinstance(exc, httpx.HTTPStatusError):
        return {k.lower(): v for k, v in exc.response.headers.items()}
    return {}


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, GithubException):
        return exc.status
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return None


def is_rate_limit(exc: BaseException) -> bool:
    status = http_status(exc)
    if status not in (403, 429):
        return False
    headers = _headers(exc)
    return status == 429 or "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError | requests.ConnectionError | requests.Timeout):
        return True
    status = http_status(exc)
    return status is not None and (status >= 500 or is_rate_limit(exc))


def _server_wait(exc: BaseException, now: float) -> float | None:
    """The wait the server asked for, in seconds, or None when it did not say."""
    headers = _headers(exc)
    try:
        if "retry-after" in headers:
            return max(0.0, float(headers["retry-after"]))
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(0.0, float(headers["x-ratelimit-reset"]) - now) + 1.0
    except ValueError:
        return None
    return None


def call(
    policy: RetryPolicy,
    fn: Callable[[], T],
    *,
    retry_also: Callable[[BaseException], bool] | None = None,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """Run ``fn`` until it succeeds, retrying transient failures under ``policy``."""
    started = policy.monotonic()
    backoff = wait_exponential_jitter(multiplier=policy.base_s, max=policy.max_backoff_s)

    def retryable(exc: BaseException) -> bool:
        return is_transient(exc) or (retry_also is not None and retry_also(exc))

    def planned(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = _server_wait(exc, policy.wall()) if exc is not None else None
        return asked if asked is not None else float(backoff(state))

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = _server_wait(exc, policy.wall()) if exc is not None else None
        left = policy.deadline_s - (policy.monotonic() - started)
        if asked is not None and asked > left:
            if exc is not None and is_rate_limit(exc):
                raise _rate_limit_error(exc, policy.wall()) from None
            return True
        return left <= 0

    def between(state: RetryCallState) -> None:
        if before_retry is not None:
            before_retry()

    retrying: Retrying = Retrying(
        retry=retry_if_exception(retryable),
        stop=stop,
        wait=planned,
        sleep=policy.sleep,
        before_sleep=between,
        reraise=True,
    )
    return retrying(fn)


def _rate_limit_error(exc: BaseException, now: float) -> ReleaseError:
    asked = _server_wait(exc, now) or 0.0
    when = datetime.fromtimestamp(now + asked, UTC).strftime("%H:%M:%S UTC")
    return ReleaseError(
        f"GitHub rate limit reached; it resets at {when}: run the task again then", CHECK_FAILED
    )


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a failure for a one-line message."""
    status = http_status(exc)
    if status is not None:
        data: Any = exc.data if isinstance(exc, GithubException) else None
        message = data.get("message") if isinstance(data, dict) else None
        return f"HTTP {status}" + (f" {message}" if message else "")
    return type(exc).__name__
