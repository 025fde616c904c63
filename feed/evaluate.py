"""Deciding what the feed serves from what was read, keeping the last good state on bad input.

Rules:
- Stable: ``manifest_<default_version>.json``, else ``manifest.json`` when its version is the
  default version. Anything that breaks docs/rules.md#r7 (the pair missing or disagreeing, a build
  not ``default_build``) is a degraded reason; a stable slot holding a non-stable manifest is refused.
- Bad input never replaces good state: an unreadable config, a malformed manifest or an unreadable
  ``config.env`` keeps what was served before, and says why. An empty ``config.env`` (a writer
  caught halfway, or one that lost the file's secrets) is bad input too, never "gate closed".
- Pure: no I/O, the result depends only on the inputs and the previous state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import ValidationError

from schemas import Channel, Manifest
from schemas.errors import first_error
from schemas.vmconfig import read_gate

from .inputs import FileRead, Inputs, UpdateConfig, parse_update_config

__all__ = ["DEFAULT_TITLE", "Served", "evaluate"]

DEFAULT_TITLE = "Nexy Updates"


@dataclass(frozen=True, slots=True)
class Served:
    """The state the feed serves: every field is the last good value seen."""

    stable: Manifest | None = None
    stable_digest: str | None = None
    beta: Manifest | None = None
    beta_enabled: bool = False
    title: str = DEFAULT_TITLE
    minimum_system_version: str | None = None


def _manifest(read: FileRead | None, reasons: list[str]) -> Manifest | None:
    """The file's manifest; missing gives None silently, broken gives None with a reason."""
    if read is None or (read.data is None and read.error is None):
        return None
    if read.error is not None or read.data is None:
        reasons.append(read.error or f"{read.name}: unreadable")
        return None
    try:
        return Manifest.model_validate_json(read.data)
    except ValidationError as exc:
        reasons.append(f"{read.name}: invalid manifest ({first_error(exc)})")
        return None


def _same_release(a: Manifest, b: Manifest) -> bool:
    key = (a.version, a.build, str(a.artifact.url), a.artifact.size, a.artifact.sha256)
    return key == (b.version, b.build, str(b.artifact.url), b.artifact.size, b.artifact.sha256)


def _stable(config: UpdateConfig, inputs: Inputs, reasons: list[str]) -> tuple[Manifest, str] | None:
    version = config.default_version
    versioned_name = f"manifest_{version}.json"
    versioned = _manifest(inputs.versioned, reasons)
    pair = _manifest(inputs.stable, reasons)
    if versioned is not None and versioned.version != version:
        reasons.append(f"{versioned_name}: names version {versioned.version}, not {version}")
        versioned = None
    chosen: tuple[Manifest, str] | None = None
    if versioned is not None and inputs.versioned is not None and inputs.versioned.data is not None:
        chosen = (versioned, hashlib.sha256(inputs.versioned.data).hexdigest())
        if pair is not None and not _same_release(pair, versioned):
            reasons.append(f"manifest.json ({pair.version}) disagrees with {versioned_name}")
        elif pair is None and inputs.stable.data is None and inputs.stable.error is None:
            reasons.append(f"manifest.json is missing beside {versioned_name}")
    elif pair is not None and pair.version == version and inputs.stable.data is not None:
        chosen = (pair, hashlib.sha256(inputs.stable.data).hexdigest())
        reasons.append(f"{versioned_name} is missing; serving manifest.json")
    else:
        found = f"manifest.json is {pair.version}" if pair is not None else "no usable manifest.json"
        reasons.append(f"no runtime manifest for default_version {version} ({found})")
    if chosen is None:
        return None
    manifest = chosen[0]
    if manifest.channel is not Channel.STABLE:
        reasons.append(f"stable manifest {manifest.version} has channel {manifest.channel.value}; refused")
        return None
    if config.default_build is None:
        reasons.append("update.default_build is missing")
    elif manifest.build != config.default_build:
        reasons.append(f"manifest build {manifest.build} differs from default_build {config.default_build}")
    return chosen


def _config(read: FileRead, reasons: list[str]) -> UpdateConfig | None:
    if read.data is None:
        reasons.append(read.error or f"{read.name}: missing")
        return None
    try:
        return parse_update_config(read.data)
    except ValueError as exc:
        reasons.append(f"{read.name}: {exc}")
        return None


def _gate(read: FileRead, previous: bool, reasons: list[str]) -> bool:
    if read.error is not None:
        reasons.append(read.error)
        return previous
    if read.data is None:
        return False
    if not read.data.strip():
        state = "open" if previous else "closed"
        reasons.append(f"{read.name} is empty: the beta gate stays {state} as last read")
        return previous
    try:
        read.data.decode("utf-8")
    except UnicodeDecodeError:
        reasons.append(f"{read.name}: not UTF-8 text")
        return previous
    reading = read_gate(read.data)
    if reading.problem is not None:
        reasons.append(reading.problem)
    return reading.enabled


def _beta(inputs: Inputs, previous: Manifest | None, reasons: list[str]) -> Manifest | None:
    read = inputs.beta
    if read.data is None and read.error is None:
        return None
    before = len(reasons)
    beta = _manifest(read, reasons)
    if beta is not None and beta.channel is not Channel.BETA:
        reasons.append(f"{read.name}: channel is {beta.channel.value}, not beta; refused")
        beta = None
    return beta if len(reasons) == before else previous


def evaluate(inputs: Inputs, previous: Served, *, title: str | None = None) -> tuple[Served, tuple[str, ...]]:
    """The state to serve and the reasons it is degraded (empty when healthy)."""
    reasons: list[str] = []
    config = _config(inputs.config, reasons)
    stable, digest = previous.stable, previous.stable_digest
    config_title, minimum = None, previous.minimum_system_version
    if config is not None:
        config_title, minimum = config.title, config.minimum_system_version
        chosen = _stable(config, inputs, reasons)
        if chosen is not None:
            stable, digest = chosen
    enabled = _gate(inputs.env, previous.beta_enabled, reasons)
    beta = _beta(inputs, previous.beta, reasons)
    if enabled and beta is None:
        reasons.append("beta gate is open but there is no usable manifest_beta.json")
    served = Served(
        stable=stable,
        stable_digest=digest,
        beta=beta,
        beta_enabled=enabled,
        title=title or (config_title if config is not None else previous.title) or DEFAULT_TITLE,
        minimum_system_version=minimum,
    )
    return served, tuple(reasons)
