"""Fixtures for the feed tests: a runtime tree like the VM's and the real server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.feed.feedkit import FeedProcess, RuntimeTree, make_manifest

STABLE_VERSION = "2.0.0.14"
BETA_VERSION = "2.0.0.15"


@pytest.fixture
def tree(tmp_path: Path) -> RuntimeTree:
    """The VM fixtures (gate closed) with the stable pair at 2.0.0.14 and a beta at 2.0.0.15."""
    runtime = RuntimeTree(tmp_path / "vm")
    runtime.install_fixtures()
    runtime.write_stable(make_manifest(STABLE_VERSION, notes="Stable fixes & <speed> ]]> tweaks"))
    runtime.write_beta(make_manifest(BETA_VERSION, "beta", notes="Beta: new voice"))
    return runtime


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


@pytest.fixture
def start_feed(tmp_path: Path, client: httpx.Client) -> Iterator[Callable[..., FeedProcess]]:
    started: list[FeedProcess] = []

    def start(
        root: Path,
        *extra: str,
        http: httpx.Client | None = None,
        scheme: str = "http",
        env: dict[str, str] | None = None,
    ) -> FeedProcess:
        process = FeedProcess(root, tmp_path / f"feed-{len(started)}.log", *extra, scheme=scheme, env=env)
        started.append(process)
        return process.start(http or client)

    yield start
    for process in started:
        process.stop()
