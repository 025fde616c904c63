"""The values the release owns in the VM's runtime config files, read one way by the reconciler and
the feed: ``update.default_version``/``default_build`` in ``unified_config.yaml`` and the beta gate
in ``config.env``.

Rules:
- ``read_update_keys`` is the only reader of the update keys. A missing key is None, never filled
  in from another key: ``default_build`` is Sparkle's ``sparkle:version``, which may differ from
  the version, so a missing one is a config to heal (the reconciler's ``config_version`` writes
  it) and a degraded reason for the feed, never a guess.
- The owned keys must be scalars; a collection (or an alias to one) is refused naming the key,
  never stringified (an alias bomb would expand). Errors name a key or an error type, never a
  value from the file. The document's nesting is bounded (``schemas.bounded.check_yaml_depth``)
  before anything is composed, here, so no caller can forget it: a deep document is an
  UpdateKeysError, never a RecursionError.
- ``read_gate`` is the only reader of the gate: the last active ``UPDATE_BETA_ENABLED=`` line in
  ``schemas.envfile``'s grammar; open only for ``true`` (any case, quotes stripped), closed when
  the file or the key is missing, closed with a problem for any other value.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .bounded import check_yaml_depth
from .envfile import assignments
from .runtime import GATE_KEY

__all__ = ["GateReading", "UpdateKeys", "UpdateKeysError", "gate_value", "read_gate", "read_update_keys"]


class UpdateKeysError(ValueError):
    """``unified_config.yaml`` cannot be read as the expected YAML mapping."""


@dataclass(frozen=True, slots=True)
class UpdateKeys:
    version: str | None
    build: str | None
    title: str | None = None
    minimum_system_version: str | None = None
    has_block: bool = True
    """False when the document has no ``update:`` mapping at all."""


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float)


def read_update_keys(data: bytes) -> UpdateKeys:
    """The ``update:`` block's keys; UpdateKeysError for YAML that is not a mapping or a collection
    where an owned key's value should be."""
    try:
        check_yaml_depth(data)
    except ValueError as exc:
        raise UpdateKeysError(str(exc)) from None
    # Round-trip mode, as the reconciler edits the file: merge keys and anchors read the same.
    try:
        document = YAML(typ="rt").load(io.BytesIO(data))
    except YAMLError as exc:
        raise UpdateKeysError(f"not valid YAML ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise UpdateKeysError("top level is not a mapping")
    update = document.get("update")
    if not isinstance(update, dict):
        return UpdateKeys(None, None, has_block=False)
    owned = []
    for key in ("default_version", "default_build"):
        value = update.get(key)
        if value is not None and not _scalar(value):
            raise UpdateKeysError(f"update.{key} is not a scalar")
        owned.append(None if value is None else str(value))
    # Not owned, only shown by the feed: an odd value is simply not used.
    title, minimum = (update.get(key) for key in ("appcast_title", "minimum_system_version"))
    return UpdateKeys(
        version=owned[0],
        build=owned[1],
        title=str(title) if _scalar(title) else None,
        minimum_system_version=str(minimum) if _scalar(minimum) else None,
    )


@dataclass(frozen=True, slots=True)
class GateReading:
    enabled: bool
    problem: str | None = None


def gate_value(data: bytes) -> str | None:
    """The effective gate value ("true"/"false"/other, lower-cased), the last active line winning;
    None if absent."""
    value = None
    for assignment in assignments(data):
        if assignment.key == GATE_KEY:
            value = assignment.value.strip().lower()
    return value


def read_gate(data: bytes) -> GateReading:
    value = gate_value(data)
    if value is None or value == "false":
        return GateReading(enabled=False)
    if value == "true":
        return GateReading(enabled=True)
    # The value is not quoted: config.env holds secrets, and this text is served on /updates/health.
    return GateReading(enabled=False, problem=f"config.env: {GATE_KEY} is neither true nor false")
