"""The reconciler's YAML configuration.

Rules:
- Unknown keys are errors; a bad config stops with one line that names the field.
- Relative paths resolve against the config file's directory, so a config can live inside the
  VM tree it describes (the sandbox does this).
- Secrets are never in the config: webhook secrets are named by environment variable only.
- Which ``actions:`` keys exist comes from the resource table (``resources.RESOURCES``).
- The state and desired directories never overlap the runtime root: the tree's owner (the app
  server's user) must not be able to rename, link or replace the reconciler's own files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from schemas import RuntimeLayout
from schemas.errors import DocumentError, first_error, read_yaml_mapping

from .resources import ACTION_KEYS

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "ProbeConfig",
    "WatchConfig",
    "Webhook",
    "load_config",
]

if TYPE_CHECKING:
    ActionKey = str
else:
    # A Literal built from the table, so pydantic names the allowed keys and the JSON schema lists them.
    ActionKey = Literal[ACTION_KEYS]


class ConfigError(Exception):
    """A configuration problem, with a one-line message that names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeConfig(_Strict):
    url: AnyHttpUrl
    ca_bundle: Path | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=120)


class Webhook(_Strict):
    url: AnyHttpUrl
    format: Literal["json", "slack"] = "json"
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class AlertsConfig(_Strict):
    rate_limit_seconds: float = Field(default=300.0, ge=0)
    webhooks: tuple[Webhook, ...] = ()


class WatchConfig(_Strict):
    """How file events are polled from watchfiles: a short step while busy, a long one when idle."""

    debounce_ms: int = Field(default=40, ge=1, le=5000)
    step_ms: int = Field(default=2, ge=1, le=1000)
    idle_step_ms: int = Field(default=50, ge=1, le=5000)
    hot_seconds: float = Field(default=10.0, ge=0)


class Config(_Strict):
    mode: Literal["enforce", "observe"] = "enforce"
    layout: RuntimeLayout
    desired_dir: Path
    state_dir: Path
    resync_seconds: float = Field(default=300.0, gt=0)
    resync_jitter: float = Field(default=0.2, ge=0, lt=1)
    required_env_keys: tuple[str, ...] = ("GEMINI_API_KEY",)
    actions: dict[ActionKey, tuple[str, ...]] = {}
    action_timeout_s: float = Field(default=120.0, gt=0)
    lock_timeout_s: float = Field(default=10.0, gt=0, le=600)
    probes: dict[Literal["production", "staging"], ProbeConfig] = {}
    alerts: AlertsConfig = AlertsConfig()
    watch: WatchConfig = WatchConfig()

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "lock"

    @property
    def alert_state_path(self) -> Path:
        return self.state_dir / "alerts.json"

    @property
    def pending_actions_path(self) -> Path:
        return self.state_dir / "pending_actions.json"

    @property
    def env_backup_path(self) -> Path:
        """The last good config.env (secrets: mode 0600, in the state directory, never in the tree)."""
        return self.state_dir / "config.env.last-good"


def _resolve(base: Path, path: Path | None) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def load_config(path: Path) -> Config:
    """Read, validate and resolve a config file, or raise ConfigError with one line."""
    try:
        raw = read_yaml_mapping(path)
    except DocumentError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config {path}: {first_error(exc)}") from None
    base = path.resolve().parent
    root = _resolve(base, config.layout.root)
    probes = {
        name: probe.model_copy(update={"ca_bundle": _resolve(base, probe.ca_bundle)})
        for name, probe in config.probes.items()
    }
    resolved = config.model_copy(
        update={
            "layout": config.layout.model_copy(update={"root": root}),
            "desired_dir": _resolve(base, config.desired_dir),
            "state_dir": _resolve(base, config.state_dir),
            "probes": probes,
        }
    )
    for field in ("state_dir", "desired_dir"):
        inside = getattr(resolved, field)
        if root is not None and (
            inside == root or inside.is_relative_to(root) or root.is_relative_to(inside)
        ):
            raise ConfigError(
                f"config {path}: {field} {inside} overlaps layout.root {root}: the reconciler's own state "
                "(desired state, lock, config.env's last good copy) must live outside the runtime tree, "
                "whose owner may not be trusted with it"
            )
    return resolved
