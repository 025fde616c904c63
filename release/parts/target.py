"""Load and validate a target (``targets/*.yaml``).

Rules: ``sandbox`` is the default; ``production`` or any other name means ``targets/<name>.yaml``;
anything with a slash or a ``.yaml`` suffix is a path. A target that fails validation is one line
naming the file and the field, and stops the task before it does anything.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from release.errors import ReleaseError
from schemas import Target
from schemas.errors import DocumentError, first_error, read_yaml_mapping

__all__ = ["DEFAULT_TARGET", "load_target", "target_path"]

DEFAULT_TARGET = "sandbox"


def target_path(name_or_path: str, root: Path) -> Path:
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path) if Path(name_or_path).is_absolute() else root / name_or_path
    return root / "targets" / f"{name_or_path}.yaml"


def load_target(name_or_path: str, root: Path) -> Target:
    path = target_path(name_or_path, root)
    try:
        raw = read_yaml_mapping(path)
    except DocumentError as exc:
        raise ReleaseError(f"target {path}: {exc}") from None
    raw.setdefault("root", str(root))
    try:
        return Target.model_validate(raw)
    except ValidationError as exc:
        raise ReleaseError(f"target {path}: {first_error(exc)}") from None
