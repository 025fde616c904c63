"""Where the runtime files live on the VM, shared by the reconciler and the feed server.

Rules: paths are relative to ``root`` unless absolute; the defaults are the rulebook's layout
(``server/updates/manifests/…``, ``server/config/unified_config.yaml``, the legacy copy at
``server/server/updates/manifests/manifest.json``, and ``config.env`` beside them).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .version import parse_version

__all__ = ["GATE_KEY", "RuntimeLayout"]

GATE_KEY = "UPDATE_BETA_ENABLED"


class RuntimeLayout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path
    manifests_dir: Path = Path("server/updates/manifests")
    unified_config: Path = Path("server/config/unified_config.yaml")
    legacy_manifest: Path = Path("server/server/updates/manifests/manifest.json")
    config_env: Path = Path("config.env")

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    @property
    def stable_manifest(self) -> Path:
        return self.resolve(self.manifests_dir) / "manifest.json"

    @property
    def beta_manifest(self) -> Path:
        return self.resolve(self.manifests_dir) / "manifest_beta.json"

    def versioned_manifest(self, version: str) -> Path:
        return self.resolve(self.manifests_dir) / f"manifest_{parse_version(version)}.json"

    @property
    def unified_config_path(self) -> Path:
        return self.resolve(self.unified_config)

    @property
    def legacy_manifest_path(self) -> Path:
        return self.resolve(self.legacy_manifest)

    @property
    def config_env_path(self) -> Path:
        return self.resolve(self.config_env)
