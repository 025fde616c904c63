"""Retries for the GitHub store: ours, not PyGithub's (its own retry is switched off).

Rules:
- Only transient failures retry: 5xx, a rate limit, and network errors or timeouts. Anything else
  (401, 404, 422 ...) is raised at once for the caller to turn into a line.
- A rate limit is what GitHub's "Rate limits for the REST API" page says it is
  (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api): primary, a 403 or 429
  with ``x-ratelimit-remaining: 0``; secondary, a 403 or 429 whose message says so (the messages
  PyGithub's ``Requester.isSecondaryRateLimitError`` knows), ``Retry-After`` only sometimes present.
  A 429 is always one. A 403 that is none of these is a permission problem and never retried.
- The wait honours the server: ``Retry-After`` first, then ``x-ratelimit-reset`` when the quota is
  spent; a secondary limit without either waits at least a minute, doubling on each further one (as
  the page asks); anything else backs off exponentially with jitter. Every server-asked wait is
  announced through ``notice`` before it is slept. A wait that would end past the deadline stops at
  once (a rate limit then says when to try again) instead of sleeping past it.
- ``before_retry`` runs between attempts: an upload uses it to delete its half-made asset.
- The retry is tenacity's, assembled from its own pieces (``stop_after_attempt`` or-ed with a stop
  before the deadline, ``retry_if_exception``, ``wait_exponential_jitter``) and extended where
  tenacity means it to be: a ``wait_base`` that reads the server's headers, a ``stop_base`` on the
  policy's clock, and a ``retry_error_callback`` that words a rate limit outlasting the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import httpx
import requests
from github.GithubException import GithubException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from release.errors import CHECK_FAILED, ReleaseError

__all__ = [
    "ERRORS",
    "SECONDARY_WAIT_S",
    "RetryPolicy",
    "call",
    "describe",
    "http_status",
    "is_rate_limit",
    "is_secondary_limit",
    "is_transient",
]

T = TypeVar("T")

# What a GitHub call can raise once its retries are spent; the store turns it into one line.
ERRORS = (GithubException, httpx.HTTPError, OSError)

# "Otherwise, wait for at least one minute before retrying" (GitHub, about secondary rate limits).
SECONDARY_WAIT_S = 60.0
# How GitHub words a secondary limit (PyGithub's Requester.isSecondaryRateLimitError, lower-cased).
_SECONDARY_STARTS = ("you have exceeded a secondary rate limit", "you have triggered an abuse detection")
_SECONDARY_ENDS = (
    "please retry your request again later.",
    "please wait a few minutes before you try again.",
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    deadline_s: float = 600.0
    base_s: float = 1.0
    max_backoff_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    wall: Callable[[], float] = field(default=time.time)
    notice: Callable[[str], None] | None = None


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


def _message(exc: BaseException) -> str:
    """GitHub's ``message`` field of an error answer ("" when there is none)."""
    data: Any = None
    if isinstance(exc, GithubException):
        data = exc.data
    elif isinstance(exc, httpx.HTTPStatusError):
        try:
            data = exc.response.json()
        except (ValueError, httpx.ResponseNotRead):
            data = None
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else ""


def is_secondary_limit(exc: BaseException) -> bool:
    """A 403/429 whose message says a secondary rate limit (or its old name, abuse detection)."""
    if http_status(exc) not in (403, 429):
        return False
    message = _message(exc).strip().lower()
    return message.startswith(_SECONDARY_STARTS) or message.endswith(_SECONDARY_ENDS)


def _primary_spent(exc: BaseException) -> bool:
    return http_status(exc) in (403, 429) and _headers(exc).get("x-ratelimit-remaining") == "0"


def is_rate_limit(exc: BaseException) -> bool:
    status = http_status(exc)
    if status not in (403, 429):
        return False
    return status == 429 or "retry-after" in _headers(exc) or _primary_spent(exc) or is_secondary_limit(exc)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError | requests.ConnectionError | requests.Timeout):
        return True
    status = http_status(exc)
    return status is not None and (status >= 500 or is_rate_limit(exc))


def _server_wait(exc: BaseException, now: float, secondary_seen: int = 1) -> float | None:
    """The wait the server asked for, in seconds, or None when it did not say.

    ``secondary_seen`` counts the secondary limits met so far in this call: without a header GitHub
    asks for at least a minute, and an exponentially longer wait when the limit persists.
    """
    headers = _headers(exc)
    try:
        if "retry-after" in headers:
            return max(0.0, float(headers["retry-after"]))
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(0.0, float(headers["x-ratelimit-reset"]) - now) + 1.0
    except ValueError:
        pass
    if is_secondary_limit(exc) or http_status(exc) == 429:
        return SECONDARY_WAIT_S * (1 << max(0, secondary_seen - 1))
    return None


def _wait_line(exc: BaseException, seconds: float, now: float) -> str:
    kind = "secondary rate limit" if not _primary_spent(exc) else "rate limit"
    until = datetime.fromtimestamp(now + seconds, UTC).strftime("%H:%M:%S UTC")
    return f"GitHub {kind} (HTTP {http_status(exc)}): waiting {seconds:.0f} s, until {until}, then retrying"


class _ServerWait(wait_base):
    """The wait between attempts, as tenacity is extended (a ``wait_base``): what the failure's headers
    ask for (``_server_wait``), else ``fallback``'s backoff. ``asked`` keeps what the last failure
    asked for (None: it did not say), for the notice and for the deadline's message."""

    def __init__(self, policy: RetryPolicy, fallback: wait_base) -> None:
        self._wall = policy.wall
        self._fallback = fallback
        self._secondary_seen = 0  # each secondary limit without a header waits twice as long
        self.asked: float | None = None

    def __call__(self, retry_state: RetryCallState) -> float:
        # tenacity calls the wait once per failed attempt, before the stop (so a stop sees upcoming_sleep).
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        self.asked = None
        if exc is not None:
            if is_rate_limit(exc) and not _primary_spent(exc):
                self._secondary_seen += 1
            self.asked = _server_wait(exc, self._wall(), self._secondary_seen)
        return self.asked if self.asked is not None else float(self._fallback(retry_state))


class _StopBeforeDeadline(stop_base):
    """tenacity's ``stop_before_delay`` (stop when the next wait would end past the limit) on the
    policy's clock: tenacity times a call with ``time.monotonic`` itself (``RetryCallState.start_time``),
    which the tests' virtual clock, advanced by their recorded sleeps, cannot move."""

    def __init__(self, deadline_s: float, monotonic: Callable[[], float]) -> None:
        self._deadline_s = deadline_s
        self._monotonic = monotonic
        self._started = monotonic()

    def left(self) -> float:
        return self._deadline_s - (self._monotonic() - self._started)

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self.left()


def call(
    policy: RetryPolicy,
    fn: Callable[[], T],
    *,
    retry_also: Callable[[BaseException], bool] | None = None,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """Run ``fn`` until it succeeds, retrying transient failures under ``policy``."""
    wait = _ServerWait(policy, wait_exponential_jitter(multiplier=policy.base_s, max=policy.max_backoff_s))
    attempts = stop_after_attempt(policy.attempts)
    deadline = _StopBeforeDeadline(policy.deadline_s, policy.monotonic)
    retry: retry_base = retry_if_exception(is_transient)
    if retry_also is not None:
        retry = retry | retry_if_exception(retry_also)

    def between(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None and wait.asked is not None and is_rate_limit(exc) and policy.notice is not None:
            policy.notice(_wait_line(exc, wait.asked, policy.wall()))
        if before_retry is not None:
            before_retry()

    def gave_up(state: RetryCallState) -> T:
        outcome = state.outcome
        assert outcome is not None  # tenacity only gives up after an attempt
        exc = outcome.exception()
        # Out of time rather than attempts, on a wait the server asked for: say when to come back.
        if exc is not None and is_rate_limit(exc) and wait.asked is not None and not attempts(state):
            raise _rate_limit_error(exc, policy.wall(), wait.asked, deadline.left()) from None
        return cast(T, outcome.result())  # anything else: the last failure, raised as it was

    retrying: Retrying = Retrying(
        retry=retry,
        stop=attempts | deadline,
        wait=wait,
        sleep=policy.sleep,
        before_sleep=between,
        retry_error_callback=gave_up,
    )
    return retrying(fn)


def _rate_limit_error(exc: BaseException, now: float, wait: float, left: float) -> ReleaseError:
    when = datetime.fromtimestamp(now + wait, UTC).strftime("%H:%M:%S UTC")
    if _primary_spent(exc):
        return ReleaseError(
            f"GitHub rate limit reached; it resets at {when}: run the task again then", CHECK_FAILED
        )
    return ReleaseError(
        f"GitHub secondary rate limit (HTTP {http_status(exc)}): it asks for {wait:.0f} s, more than the "
        f"{max(0.0, left):.0f} s left before the deadline; run the task again after {when}",
        CHECK_FAILED,
    )


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a failure for a one-line message."""
    status = http_status(exc)
    if status is not None:
        data: Any = exc.data if isinstance(exc, GithubException) else None
        message = data.get("message") if isinstance(data, dict) else None
        return f"HTTP {status}" + (f" {message}" if message else "")
    return type(exc).__name__
