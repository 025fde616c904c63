"""Where the runtime files live on the VM, shared by the reconciler and the feed server.

Rules: paths are relative to ``root`` unless absolute; the defaults are the rulebook's layout
(``server/updates/manifests/…``, ``server/config/unified_config.yaml``, the legacy copy at
``server/server/updates/manifests/manifest.json``, and ``config.env`` beside them).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .version import parse_version

__all__ = ["GATE_KEY", "RuntimeLayout"]

GATE_KEY = "UPDATE_BETA_ENABLED"


class RuntimeLayout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path = Field(description="The app's runtime tree (`/home/azureuser/voice-assistant`).")
    manifests_dir: Path = Field(
        default=Path("server/updates/manifests"),
        description="The runtime manifests: `manifest.json`, `manifest_<version>.json`, `manifest_beta.json`.",
    )
    unified_config: Path = Field(
        default=Path("server/config/unified_config.yaml"),
        description="The app's config; its `update.default_version`/`default_build` decide what is served.",
    )
    legacy_manifest: Path = Field(
        default=Path("server/server/updates/manifests/manifest.json"),
        description="The legacy copy of `manifest.json`, kept identical only where it exists.",
    )
    config_env: Path = Field(
        default=Path("config.env"),
        description="The app's env file, holding `UPDATE_BETA_ENABLED` and secrets.",
    )

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
