"""Pick the ``Store`` and ``Remote`` a target names; tasks never choose a backend themselves.

Rules: ``local`` backends are the sandbox's; ``github`` and ``azure`` are imported only when a target
asks for them (their SDKs are heavy), and a missing production module is one clear line, exit 2.
"""

from __future__ import annotations

import importlib
from typing import Any

from release.errors import ReleaseError
from release.outside.remote.base import Remote
from release.outside.store.base import Store
from schemas import Target

__all__ = ["open_remote", "open_store"]


def _production(module: str, cls: str, target: Target) -> Any:
    try:
        factory = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        raise ReleaseError(
            f"target {target.name!r}: {module}.{cls} is not available in this checkout"
        ) from None
    return factory(target)


def open_store(target: Target) -> Store:
    if target.store.kind == "local":
        from release.outside.store.local import LocalStore

        return LocalStore(target)
    store: Store = _production("release.outside.store.github", "GithubStore", target)
    return store


def open_remote(target: Target) -> Remote:
    if target.remote.kind == "local":
        from release.outside.remote.local import LocalRemote

        return LocalRemote(target)
    remote: Remote = _production("release.outside.remote.azure", "AzureRemote", target)
    return remote
