"""Backends follow the target: local for the sandbox, the production modules only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.outside.backends import _production, open_remote, open_store
from release.outside.remote.local import LocalRemote
from release.outside.sandbox_layout import sandbox_paths
from release.outside.store.local import LocalStore
from schemas import Target


def test_the_sandbox_target_gets_the_local_backends(sandbox_target: tuple[Target, Path]) -> None:
    target, _ = sandbox_target
    store = open_store(target)
    remote = open_remote(target)
    assert isinstance(store, LocalStore)
    assert isinstance(remote, LocalRemote)
    assert store.root == sandbox_paths(target).store_root
    assert remote.calls_log == sandbox_paths(target).dir / "remote_calls.jsonl"
    assert str(store.root) in store.describe()


def test_a_production_backend_that_is_not_there_is_one_line_exit_2(
    sandbox_target: tuple[Target, Path],
) -> None:
    with pytest.raises(ReleaseError, match="not available") as caught:
        _production("release.outside.store.no_such_backend", "GithubStore", sandbox_target[0])
    assert caught.value.code == 2


def test_the_sandbox_refuses_a_target_that_is_not_local(sandbox_target: tuple[Target, Path]) -> None:
    target, _ = sandbox_target
    production = Target.model_validate(target.model_dump() | {"remote": {"kind": "azure"}})
    with pytest.raises(ReleaseError, match="not a sandbox"):
        sandbox_paths(production)
