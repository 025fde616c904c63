"""Export the JSON Schema of every shared document into ``schemas/json/``.

Rules: one file per document, stable key order, written atomically; ``stale()`` tells which
exported files differ from the models, so a test can fail when someone forgets to export. It lives
in ``tasks`` (``./inv schemas``), not in ``schemas``: generating is development work, and the VM
installs ``schemas`` but never ``tasks``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from schemas import (
    AcceptReport,
    BetaGate,
    Bundle,
    FeedHealth,
    Manifest,
    PlanDocument,
    ReleaseLogEntry,
    ServerHealth,
    Status,
    Target,
    Validation,
    atomic_write,
    dump_json,
)

__all__ = ["DOCUMENTS", "JSON_DIR", "export", "rendered", "stale"]

JSON_DIR = Path(__file__).resolve().parent.parent / "schemas" / "json"
DOCUMENTS: dict[str, type[BaseModel]] = {
    "manifest": Manifest,
    "beta_gate": BetaGate,
    "validation": Validation,
    "release_log_entry": ReleaseLogEntry,
    "bundle": Bundle,
    "status": Status,
    "target": Target,
    "accept_report": AcceptReport,
    "plan_document": PlanDocument,
    "server_health": ServerHealth,
    "feed_health": FeedHealth,
}


def rendered() -> dict[str, bytes]:
    return {f"{name}.schema.json": dump_json(model.model_json_schema()) for name, model in DOCUMENTS.items()}


def stale(directory: Path = JSON_DIR) -> list[str]:
    """Names of exported files that are missing or differ from the models."""
    out = []
    for name, data in rendered().items():
        path = directory / name
        if not path.exists() or path.read_bytes() != data:
            out.append(name)
    return out


def export(directory: Path = JSON_DIR) -> list[str]:
    """Write the schema files that changed; return their names."""
    changed = stale(directory)
    files = rendered()
    for name in changed:
        atomic_write(directory / name, files[name])
    return changed
