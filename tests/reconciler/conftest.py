"""Fixtures for the reconciler tests: a VM tree, a webhook receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webhookkit import Receiver

from .helpers import Vm, make_vm


@pytest.fixture
def vm(tmp_path: Path) -> Vm:
    return make_vm(tmp_path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def flapping_receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


@pytest.fixture
def slow_receiver() -> Iterator[Receiver]:
    r = Receiver(delay_s=20.0)
    yield r
    r.close()
