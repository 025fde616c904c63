"""One-line explanations of bad documents, the same on every side.

Rules: an operator reads one line that names the field (``artifact.sha256: String should match…``)
and how many more problems there are; YAML files must hold a mapping, and a YAML error names its
line. Nothing here prints: callers prefix the file and raise their own error type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["DocumentError", "first_error", "read_yaml_mapping"]


class DocumentError(ValueError):
    """A document that cannot be read as what it should be; ``str()`` is the one line."""


def first_error(error: ValidationError) -> str:
    """The first validation error as ``field.path: message (+N more)``."""
    detail = error.errors()[0]
    location = ".".join(str(part) for part in detail["loc"]) or "(document)"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {detail['msg']}{more}"


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping (targets, the reconciler's config)."""
    try:
        raw: Any = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocumentError("does not exist") from None
    except OSError as exc:
        raise DocumentError(f"cannot read ({exc.strerror or exc})") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise DocumentError(f"{where}is not valid YAML") from None
    if not isinstance(raw, dict):
        raise DocumentError("expected a mapping of keys at the top level")
    return raw
