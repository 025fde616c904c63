"""The contract the workstation tasks, the reconciler and the feed server share.

Rules: ``release/``, ``reconciler/`` and ``feed/`` never import each other; everything they
must agree on (documents, version rules, runtime layout, the atomic writer) lives here.
``Target`` (the target file's models, the workstation's alone) is imported when first asked for:
the VM side's processes never read a target file, and building its 30 models took 80 ms of CPU
at each daemon's, feed's and one-shot command's start.
"""

from typing import TYPE_CHECKING

from .appcast import (
    AppcastError,
    AppcastItem,
    SparkleItem,
    best_item,
    items_from_manifest,
    manifest_item,
    parse_appcast,
    render_appcast,
)
from .contracts import MAX_RESULT_BYTES, RESULT_PREFIX, AcceptReport, PlanDocument, PlanEntry, StageReport
from .exitcode import ExitCode
from .feedhealth import (
    FeedHealth,
    HealthDocument,
    HealthDocumentError,
    ServedChannels,
    ServedRelease,
    ServerHealth,
    parse_health,
)
from .fileio import atomic_write, dump_json, dump_model, write_model
from .models import (
    Artifact,
    BetaGate,
    Bundle,
    Channel,
    CheckResult,
    CriticalUpdate,
    Manifest,
    ReleaseLogEntry,
    Validation,
    compute_fingerprint,
    utcnow,
)
from .runtime import GATE_KEY, RuntimeLayout
from .status import AlertRecord, HealthState, PassRecord, ResourceName, ResourceState, Status, SyncState
from .version import Version, compare_versions, parse_version

if TYPE_CHECKING:
    from .target import Target

__all__ = [
    "GATE_KEY",
    "MAX_RESULT_BYTES",
    "RESULT_PREFIX",
    "AcceptReport",
    "AlertRecord",
    "AppcastError",
    "AppcastItem",
    "Artifact",
    "BetaGate",
    "Bundle",
    "Channel",
    "CheckResult",
    "CriticalUpdate",
    "ExitCode",
    "FeedHealth",
    "HealthDocument",
    "HealthDocumentError",
    "HealthState",
    "Manifest",
    "PassRecord",
    "PlanDocument",
    "PlanEntry",
    "ReleaseLogEntry",
    "ResourceName",
    "ResourceState",
    "RuntimeLayout",
    "ServedChannels",
    "ServedRelease",
    "ServerHealth",
    "SparkleItem",
    "StageReport",
    "Status",
    "SyncState",
    "Target",
    "Validation",
    "Version",
    "atomic_write",
    "best_item",
    "compare_versions",
    "compute_fingerprint",
    "dump_json",
    "dump_model",
    "items_from_manifest",
    "manifest_item",
    "parse_appcast",
    "parse_health",
    "parse_version",
    "render_appcast",
    "utcnow",
    "write_model",
]


def __getattr__(name: str) -> object:
    if name == "Target":
        from .target import Target

        return Target
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
