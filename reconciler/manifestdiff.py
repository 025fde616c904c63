"""How a runtime manifest differs from the desired one, in a few words for a diff line or an alert.

Rules: name the fields a hand edit changed (``artifact.url='...'``), not just the version, at most
two of them; never raise on a file that is missing or not JSON, only say so. Values are shown
only from a file that is a valid manifest: anything else is described by where it fails and the
schema's field names, because it may be someone else's file (a token, a password) at our name.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from schemas import Manifest
from schemas.bounded import field_error, load_json

__all__ = ["describe_manifest"]


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def describe_manifest(data: bytes | None, wanted: bytes) -> str:
    """What a runtime manifest holds, naming the fields a hand edit changed (not just its version)."""
    if data is None:
        return "missing"
    try:
        document = load_json(data)
    except ValueError as exc:
        return f"unparseable content ({exc})"
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as exc:
        return f"not a valid manifest ({field_error(exc)})"
    head = f"version {manifest.version} ({manifest.fingerprint[:12]})"
    have, want = _flatten(document), _flatten(json.loads(wanted))
    changed = [key for key in sorted(have.keys() | want.keys()) if have.get(key) != want.get(key)]
    if not changed:
        return f"{head}, formatting differs"
    shown = ", ".join(f"{key}={have.get(key)!r}" for key in changed[:2])
    more = f" (+{len(changed) - 2} more)" if len(changed) > 2 else ""
    return f"{head} with {shown}{more}"
