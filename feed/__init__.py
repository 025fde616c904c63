"""The update feed server: Sparkle appcasts and health endpoints from the VM's runtime files.

Rules: ``feed/`` imports only ``schemas/`` from this project (never ``release/`` or
``reconciler/``); responses are rendered when the runtime files change, never per request.
"""

from .app import create_app
from .evaluate import Served, evaluate
from .service import FeedService
from .snapshot import Payload, Snapshot, build_snapshot

__all__ = ["FeedService", "Payload", "Served", "Snapshot", "build_snapshot", "create_app", "evaluate"]
