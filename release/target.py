"""Load and validate a target (``targets/*.yaml``).

Rules: ``sandbox`` is the default; ``production`` or any other name means ``targets/<name>.yaml``;
anything with a slash or a ``.yaml`` suffix is a path. A target that fails validation is one line
naming the file and the field, and stops the task before it does anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from schemas import Target

from .errors import ReleaseError

__all__ = ["DEFAULT_TARGET", "first_error", "load_target", "target_path"]

DEFAULT_TARGET = "sandbox"


def target_path(name_or_path: str, root: Path) -> Path:
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path) if Path(name_or_path).is_absolute() else root / name_or_path
    return root / "targets" / f"{name_or_path}.yaml"


def first_error(error: ValidationError) -> str:
    """The first validation error as ``field.path: message``."""
    detail = error.errors()[0]
    location = ".".join(str(part) for part in detail["loc"]) or "(document)"
    return f"{location}: {detail['msg']}"


def load_target(name_or_path: str, root: Path) -> Target:
    path = target_path(name_or_path, root)
    try:
        raw: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"target {name_or_path!r}: {path} does not exist") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ReleaseError(f"target {path}:{where} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise ReleaseError(f"target {path}: expected a mapping at the top level")
    raw.setdefault("root", str(root))
    try:
        return Target.model_validate(raw)
    except ValidationError as exc:
        raise ReleaseError(f"target {path}: {first_error(exc)}") from None
