"""The secret scan that gates every publish (detect-secrets with explicit patterns only).

Rules:
- Only pattern detectors run (GitHub, GitLab, AWS, Google API keys, private keys, Slack, Stripe,
  OpenAI, JWT, npm, PyPI, SendGrid, Twilio, Azure storage keys, basic auth in URLs). The entropy
  detectors are off on purpose: sha256 digests, ed25519 signatures and X.Y.Z.W versions fill
  manifests and are not secrets.
- A finding is reported as ``file:line (kind)``; the secret itself never leaves this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from detect_secrets.core.scan import scan_file
from detect_secrets.settings import transient_settings

__all__ = ["Finding", "scan_paths"]

_BUILTIN = (
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "JwtTokenDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "StripeDetector",
    "TwilioKeyDetector",
)
_EXTRA = Path(__file__).with_name("secret_patterns.py")


@dataclass(frozen=True, order=True)
class Finding:
    path: Path
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.kind})"


def _config() -> dict[str, object]:
    plugins: list[dict[str, str]] = [{"name": name} for name in _BUILTIN]
    plugins.append({"name": "GoogleApiKeyDetector", "path": f"file://{_EXTRA}"})
    return {"plugins_used": plugins}


def scan_paths(paths: Iterable[Path]) -> list[Finding]:
    """Every finding in the given files (missing files are skipped), sorted by file and line."""
    findings: set[Finding] = set()
    existing = [path for path in paths if path.is_file()]
    with transient_settings(_config()):
        for path in existing:
            for secret in scan_file(str(path)):
                findings.add(Finding(path, int(secret.line_number), str(secret.type)))
    return sorted(findings)
