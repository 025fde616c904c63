"""Secret patterns detect-secrets does not ship, loaded by ``release.parts.secrets`` as a plugin file.

Rules: regex only (no entropy guessing), so digests, signatures and versions are never reported.
"""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector

__all__ = ["GoogleApiKeyDetector"]


class GoogleApiKeyDetector(RegexBasedDetector):
    """Google API keys (``GEMINI_API_KEY`` on the VM is one): ``AIza`` and 35 URL-safe characters."""

    secret_type = "Google API Key"
    denylist = (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),)
