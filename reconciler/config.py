"""The reconciler's YAML configuration.

Rules:
- Unknown keys are errors; a bad config stops with one line that names the field.
- Relative paths resolve against the config file's directory, so a config can live inside the
  VM tree it describes (the sandbox does this).
- Secrets are never in the config: webhook secrets are named by environment variable only.
- Which ``actions:`` keys exist comes from the resource table (``resources.RESOURCES``).
- The state and desired directories never overlap the runtime root: the tree's owner (the app
  server's user) must not be able to rename, link or replace the reconciler's own files.
- The metrics endpoint is off unless ``metrics.port`` is set, and listens only on a loopback
  address: any other is refused with one line (the figures name resources and alert sinks).
- Every field carries a ``description``: docs/vm.md#config-reference is generated from them by
  ``./inv schemas`` (a field without one stops the generator).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas import RuntimeLayout
from schemas.errors import DocumentError, first_error, read_yaml_mapping
from schemas.status import KeyName

from .envgate import EnvGuard
from .resources import ACTION_KEYS

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "MetricsConfig",
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
    url: AnyHttpUrl = Field(
        description="The feed's base URL; TLS is verified against its host, so on the VM use the name the "
        "certificate was issued for, not 127.0.0.1."
    )
    ca_bundle: Path | None = Field(
        default=None, description="A PEM file to trust instead of the system store (the sandbox's own CA)."
    )
    timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Seconds before a probe counts as failed."
    )
    metrics_url: AnyHttpUrl | None = Field(
        default=None,
        description="The feed's Prometheus endpoint (`http://127.0.0.1:PORT/metrics`, its `--metrics-port`), "
        "loopback only; `status` reads the appcast checks there for `./inv adoption` (production: stable, "
        "staging: beta). Unset: no adoption figures.",
    )

    @field_validator("metrics_url")
    @classmethod
    def _loopback_url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None:
            _loopback((value.host or "").strip("[]"))
        return value


class Webhook(_Strict):
    url: AnyHttpUrl = Field(description="Where each alert is POSTed.")
    format: Literal["json", "slack"] = Field(
        default="json", description='`json`: the alert document; `slack`: `{"text": ...}`.'
    )
    secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The name of the environment variable holding the HMAC secret; when set, each post "
        "carries `X-Nexy-Signature: sha256=<HMAC-SHA256 of the body>`. Never the secret itself.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Seconds per delivery attempt.")


class AlertsConfig(_Strict):
    rate_limit_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A condition (resource, kind) that keeps on is alerted again only after this many "
        "seconds; repeats inside the window are logged as `suppressed`.",
    )
    webhooks: tuple[Webhook, ...] = Field(
        default=(), description="Webhooks that receive every alert besides the journal."
    )


class WatchConfig(_Strict):
    """How file events are polled from watchfiles: a short step while busy, a long one when idle."""

    debounce_ms: int = Field(
        default=40, ge=1, le=5000, description="How long watchfiles groups events into one batch."
    )
    step_ms: int = Field(
        default=2, ge=1, le=1000, description="The poll step while busy (within `hot_seconds` of activity)."
    )
    idle_step_ms: int = Field(
        default=100,
        ge=1,
        le=5000,
        description="The poll step when idle; each wake-up costs CPU (100 ms: 0.04 CPU s per minute idle, "
        "a first edit after an idle spell healed in about 160 ms; docs/performance.md).",
    )
    hot_seconds: float = Field(
        default=10.0, ge=0, description="How long after an event the short `step_ms` is kept."
    )


class MetricsConfig(_Strict):
    """The Prometheus endpoint (``reconciler.metrics``): off by default, loopback only."""

    address: str = Field(
        default="127.0.0.1",
        description="The loopback address the endpoint listens on (`127.0.0.1` or `::1`); any other "
        "address is refused: scrape it through SSH or a local agent.",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The TCP port of `http://<address>:<port>/metrics`; unset (the default): no endpoint.",
    )

    @field_validator("address")
    @classmethod
    def _loopback_address(cls, value: str) -> str:
        return _loopback(value)


def _loopback(value: str) -> str:
    """``value`` when it is a loopback IP address; else the one line that refuses it."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (the metrics endpoint is loopback only)") from None
    if not address.is_loopback:
        raise ValueError(f"{value} is not a loopback address: the metrics endpoint is never exposed")
    return value


class Config(_Strict):
    mode: Literal["enforce", "observe"] = Field(
        default="enforce",
        description="`enforce` heals and alerts; `observe` only alerts and writes nothing "
        "(like `puppet --noop`).",
    )
    layout: RuntimeLayout = Field(
        description="Where the runtime files live; only `root` is required, the rest default to the "
        "standard VM layout (`schemas.RuntimeLayout`)."
    )
    desired_dir: Path = Field(
        description="The desired state (`bundle.json`), written only by `accept`; outside `layout.root`."
    )
    state_dir: Path = Field(
        description="`status.json`, the alert memory, owed actions, the VM lock and `config.env`'s last "
        "good copy; outside `layout.root`."
    )
    resync_seconds: float = Field(
        default=300.0, gt=0, description="A full pass this often catches what the file watcher misses."
    )
    resync_jitter: float = Field(
        default=0.2, ge=0, lt=1, description="Each resync period varies by up to this fraction."
    )
    required_env_keys: tuple[KeyName, ...] = Field(
        default=("GEMINI_API_KEY",),
        max_length=16,
        description="`config.env` keys reported as present or missing by `status`, never their values "
        "(at most 16 names of at most 64 characters: the status must fit Run Command's 4 KB answer).",
    )
    actions: dict[ActionKey, tuple[str, ...]] = Field(
        default={},
        description="An argv per resource, run once after that resource changed (at least once, possibly "
        "twice, never zero times); e.g. `gate: [touch, /var/lib/nexy-reconciler/restart-staging.trigger]`.",
    )
    action_timeout_s: float = Field(
        default=120.0, gt=0, description="An action still running after this many seconds fails."
    )
    lock_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="How long a pass waits for the VM lock held by `accept`."
    )
    probes: dict[Literal["production", "staging"], ProbeConfig] = Field(
        default={}, description="Health probes of the feeds; a failing probe is an `unhealthy` alert."
    )
    alerts: AlertsConfig = Field(default=AlertsConfig(), description="Rate limit and webhooks.")
    watch: WatchConfig = Field(default=WatchConfig(), description="File-watch tuning.")
    metrics: MetricsConfig = Field(
        default=MetricsConfig(), description="The Prometheus endpoint of `run` (off unless `port` is set)."
    )

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

    @property
    def env_guard(self) -> EnvGuard:
        """What the gate's edit of config.env keeps: the required keys, and the backup."""
        return EnvGuard(tuple(self.required_env_keys), self.env_backup_path)


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
