"""A small simulated client population: Sparkle-like appcast checks against the sandbox's feed.

Rules:
- ``./inv sandbox.clients`` (``simulate``) sends the population of the desired stable version to
  the production feed of a sandbox target (a production target is refused).
- Loopback only: a URL whose host is not a loopback address is refused before anything is sent.
- Bounded: a fixed number of checks (``CHECKS``) over one keep-alive connection, no retries, each
  with a short timeout; nothing runs in the background.
- Deterministic: each version's share of the checks is exact (``SHARES``, largest remainder), and
  a ``random.Random(seed)`` only orders them and picks which clients send Sparkle's profile
  parameters, so a test knows the figures the feed will count.
- Each check is what Sparkle sends: ``GET`` of the appcast with ``User-Agent: <App>/<version>
  Sparkle/<version>`` (SPUUserAgent.m) and, for a client with system profiling on, the query
  SUSystemProfiler.m builds (``appName``, ``appVersion``, ``cpu64bit``, ``cputype``, ``lang``,
  ``model``, ``ncpu``, ``osVersion``, ...).
"""

from __future__ import annotations

import random
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.parts.desired import read_stable
from release.sandbox.tls import ssl_context
from schemas import Channel, Target
from schemas.loopback import is_loopback

__all__ = [
    "CHECKS",
    "SEED",
    "SHARES",
    "SPARKLE_VERSION",
    "Check",
    "plan_checks",
    "population",
    "run_checks",
    "simulate",
]

CHECKS = 60
SEED = 23
SPARKLE_VERSION = "2.6.4"
# The promoted version, the one before it, the one before that: the shape of a fresh rollout.
SHARES = (0.5, 0.3, 0.2)
PROFILE_SHARE = 1 / 3
# (osVersion, cputype as mach/machine.h numbers it, model) of the profiled clients.
_MACHINES = (("14.4.1", "16777228", "Mac14,2"), ("13.6.0", "16777223", "MacBookPro16,1"))


@dataclass(frozen=True)
class Check:
    version: str
    profile: dict[str, str] | None

    def user_agent(self) -> str:
        return f"Nexy/{self.version} Sparkle/{SPARKLE_VERSION}"


def _previous(version: str, back: int) -> str:
    parts = version.split(".")
    return ".".join([*parts[:-1], str(max(0, int(parts[-1]) - back))])


def population(version: str) -> list[tuple[str, int]]:
    """(client version, checks) for a rollout of ``version``: ``SHARES`` of ``CHECKS``, exact."""
    versions = [_previous(version, back) for back in range(len(SHARES))]
    exact = [share * CHECKS for share in SHARES]
    counts = [int(value) for value in exact]
    # Largest remainder, so the counts always sum to CHECKS.
    for index in sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)[
        : CHECKS - sum(counts)
    ]:
        counts[index] += 1
    return list(zip(versions, counts, strict=True))


def plan_checks(version: str, seed: int = SEED) -> list[Check]:
    """The checks, in order: ``population(version)`` shuffled, some with profile parameters."""
    rng = random.Random(seed)
    versions = [client for client, count in population(version) for _ in range(count)]
    rng.shuffle(versions)
    checks = []
    for client in versions:
        profile = None
        if rng.random() < PROFILE_SHARE:
            os_version, cputype, model = rng.choice(_MACHINES)
            profile = {
                "appName": "Nexy",
                "appVersion": client,
                "cpu64bit": "1",
                "cputype": cputype,
                "lang": rng.choice(("en", "de", "ru")),
                "model": model,
                "ncpu": "8",
                "osVersion": os_version,
            }
        checks.append(Check(client, profile))
    return checks


def _loopback(url: str) -> None:
    if not is_loopback(urlsplit(url).hostname or ""):
        raise ReleaseError(f"simulated clients: {url} is not on loopback; they only ever check the sandbox")


def run_checks(appcast_url: str, checks: list[Check], verify: ssl.SSLContext) -> Counter[str]:
    """Send ``checks`` to ``appcast_url``; the answers' status codes counted (``"200"``: 58, ...)."""
    _loopback(appcast_url)
    answers: Counter[str] = Counter()
    with httpx.Client(verify=verify, timeout=5.0) as client:
        for check in checks:
            url = appcast_url if check.profile is None else f"{appcast_url}?{urlencode(check.profile)}"
            try:
                answers[str(client.get(url, headers={"User-Agent": check.user_agent()}).status_code)] += 1
            except httpx.HTTPError as exc:
                answers[type(exc).__name__] += 1
    return answers


def simulate(target: Target, say: Callable[[str], None], seed: int = SEED) -> Counter[str]:
    """The population of a rollout of the desired stable version, sent to the production feed."""
    paths = sandbox_paths(target)  # a production target stops here, before anything is sent
    stable = read_stable(target)
    if stable is None:
        raise ReleaseError("sandbox.clients: no stable manifest yet: promote a release first")
    checks = plan_checks(stable.version, seed)
    url = target.appcast_url(Channel.STABLE)
    for client, count in population(stable.version):
        say(f"{count} checks as Nexy/{client} Sparkle/{SPARKLE_VERSION}")
    profiled = sum(1 for check in checks if check.profile is not None)
    say(f"{profiled} of them with Sparkle's profile parameters (osVersion, cputype, lang, ...)")
    answers = run_checks(url, checks, ssl_context(paths.ca_bundle))
    say(f"{url}: " + ", ".join(f"{code} ×{count}" for code, count in sorted(answers.items())))
    if set(answers) != {"200"}:
        raise ReleaseError(f"sandbox.clients: not every check was answered 200 by {url}", CHECK_FAILED)
    return answers
