"""A release target: where the assets go, how the VM is reached, what the endpoints are.

Rules:
- ``release_target`` is the rulebook's canonical block; every release is checked against it.
- The stable fixed URLs in that block must be exactly what the store's download template gives
  for the stable tags, so the manifest can only ever point at the fixed URL.
- Code and assets repositories differ: assets never go to the code repository.
- Relative paths resolve against ``root`` (the project checkout unless the file says otherwise).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .models import Channel
from .version import Version

__all__ = [
    "AzureRemote",
    "ChannelTags",
    "Endpoint",
    "EnvKey",
    "FileKey",
    "GithubStore",
    "GrpcEndpoint",
    "GrpcSmoke",
    "KeychainKey",
    "LocalRemote",
    "LocalStore",
    "PlistFile",
    "RegexFile",
    "ReleaseTarget",
    "Signing",
    "Target",
    "TomlFile",
    "VersionFile",
]

Repo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
RelPath = Annotated[str, StringConstraints(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Azure(_Strict):
    resource_group: str = Field(min_length=1)
    vm_name: str = Field(min_length=1)


class _Server(_Strict):
    host: str = Field(min_length=1)


class _Grpc(_Strict):
    endpoint: str = Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
    tls: bool


class GrpcEndpoint(_Grpc):
    """One gRPC endpoint (``host:port``) and whether it speaks TLS: stated, never derived from the port."""


class GrpcSmoke(_Strict):
    """The gRPC smoke: ``grpc.health.v1.Health/Check`` on the production and staging endpoints."""

    production: GrpcEndpoint
    staging: GrpcEndpoint
    service: str = Field(default="", description="health service name; empty asks for the whole server")
    deadline_s: float = Field(default=5.0, gt=0, le=60, description="deadline of each Check call")


class _Update(_Strict):
    dmg_url: AnyHttpUrl
    pkg_url: AnyHttpUrl


class ReleaseTarget(_Strict):
    """The rulebook's ``release_target`` block, verbatim in meaning."""

    version: Version
    azure: _Azure
    server: _Server
    grpc: _Grpc
    update: _Update


class _Repositories(_Strict):
    code: Repo
    assets: Repo


class ChannelTags(_Strict):
    dmg_tag: Tag
    pkg_tag: Tag


class _Channels(_Strict):
    stable: ChannelTags
    beta: ChannelTags

    def tags(self, channel: Channel) -> ChannelTags:
        return self.stable if channel is Channel.STABLE else self.beta


class Endpoint(_Strict):
    url: AnyHttpUrl
    secure: bool = Field(description="TLS is decided here, never by the port number")


class _Endpoints(_Strict):
    production: Endpoint
    staging: Endpoint


class GithubStore(_Strict):
    kind: Literal["github"]
    api_url: AnyHttpUrl = AnyHttpUrl("https://api.github.com")
    download_url: str = "https://github.com/{repo}/releases/download/{tag}/{name}"
    token_env: str = "GITHUB_TOKEN"
    token_file: RelPath | None = None
    timeout_s: float = Field(default=60.0, gt=0)


class LocalStore(_Strict):
    kind: Literal["local"]
    root: RelPath
    download_url: str


class AzureRemote(_Strict):
    kind: Literal["azure"]
    subscription_id_env: str = "AZURE_SUBSCRIPTION_ID"
    arm_url: AnyHttpUrl = AnyHttpUrl("https://management.azure.com")
    credential: Literal["default", "cli", "environment", "managed_identity"] = "default"
    reconciler_cli: str = "/opt/nexy-release/.venv/bin/nexy-reconciler"
    reconciler_config: str = "/etc/nexy-reconciler/config.yaml"
    # Run Command runs scripts as root; they drop to this user (the unit's User=, who owns the
    # runtime tree) before calling the reconciler CLI. None: no drop (a VM where root is meant).
    reconciler_user: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    deadline_s: float = Field(default=600.0, gt=0)


class LocalRemote(_Strict):
    kind: Literal["local"]
    reconciler_config: RelPath


class RegexFile(_Strict):
    kind: Literal["regex"]
    path: RelPath
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern, re.MULTILINE)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        if compiled.groups != 1:
            raise ValueError("pattern must have exactly one capture group (the version)")
        return pattern


class TomlFile(_Strict):
    kind: Literal["toml"]
    path: RelPath
    key: str = Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


class PlistFile(_Strict):
    kind: Literal["plist"]
    path: RelPath
    keys: tuple[str, ...] = ("CFBundleShortVersionString", "CFBundleVersion")


VersionFile = Annotated[RegexFile | TomlFile | PlistFile, Field(discriminator="kind")]


class KeychainKey(_Strict):
    """The login keychain item Sparkle's ``generate_keys`` made (macOS only)."""

    kind: Literal["keychain"]
    account: str = Field(default="ed25519", min_length=1, description="generate_keys/sign_update --account")


class FileKey(_Strict):
    """A key file as ``generate_keys -x`` exports it and ``sign_update --ed-key-file`` reads it."""

    kind: Literal["file"]
    path: RelPath


class EnvKey(_Strict):
    """An environment variable naming such a key file (for CI); the variable never holds the key."""

    kind: Literal["env"]
    var: str = Field(default="SPARKLE_ED_KEY_FILE", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Signing(_Strict):
    """Where the EdDSA private key comes from, and whether an unsigned release is refused."""

    key: Annotated[KeychainKey | FileKey | EnvKey, Field(discriminator="kind")]
    required: bool = Field(default=True, description="refuse to publish when the app has no SUPublicEDKey")
    info_plist: RelPath | None = Field(
        default=None, description="the app's Info.plist (workspace-relative); default: the plist version file"
    )


class Target(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    root: Path | None = None
    release_target: ReleaseTarget
    repositories: _Repositories
    channels: _Channels
    endpoints: _Endpoints
    store: Annotated[GithubStore | LocalStore, Field(discriminator="kind")]
    remote: Annotated[AzureRemote | LocalRemote, Field(discriminator="kind")]
    workspace: RelPath = "."
    version_files: tuple[VersionFile, ...] = ()
    required_env_keys: tuple[str, ...] = ("GEMINI_API_KEY",)
    manifests_dir: RelPath = "manifests"
    inbox_dir: RelPath = "release_inbox"
    archive_dir: RelPath = ".release-archive"
    ca_bundle: RelPath | None = None
    grpc: GrpcSmoke | None = None
    dmg_name: str = "Nexy.dmg"
    pkg_name: str = "Nexy.pkg"
    notes_name: str = "LATEST_CHANGES.md"
    signing: Signing | None = None
    product_link: AnyHttpUrl | None = Field(default=None, description="the product page: each item's <link>")

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.repositories.code == self.repositories.assets:
            raise ValueError("repositories: code and assets must differ (assets never go to the code repo)")
        tags = [self.channels.stable.dmg_tag, self.channels.stable.pkg_tag]
        tags += [self.channels.beta.dmg_tag, self.channels.beta.pkg_tag]
        if len(set(tags)) != len(tags):
            raise ValueError("channels: the four fixed tags must be distinct")
        for field, tag, name in (
            ("dmg_url", self.channels.stable.dmg_tag, self.dmg_name),
            ("pkg_url", self.channels.stable.pkg_tag, self.pkg_name),
        ):
            want = self.download_url(tag, name)
            have = str(getattr(self.release_target.update, field))
            if have != want:
                raise ValueError(f"release_target.update.{field}: {have} is not the fixed URL {want}")
        plists = [file for file in self.version_files if isinstance(file, PlistFile)]
        if self.signing is not None and self.signing.info_plist is None and len(plists) != 1:
            raise ValueError("signing.info_plist: name the app's Info.plist (no single plist version file)")
        canonical = self.release_target.grpc
        if self.grpc is not None and (self.grpc.production.endpoint, self.grpc.production.tls) != (
            canonical.endpoint,
            canonical.tls,
        ):
            # One production endpoint: the rulebook's block is what every release is checked against.
            raise ValueError(
                f"grpc.production: {self.grpc.production.endpoint} tls={self.grpc.production.tls} is not "
                f"release_target.grpc ({canonical.endpoint} tls={canonical.tls})"
            )
        return self

    def path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else (self.root or Path.cwd()) / path

    def download_url(self, tag: str, name: str) -> str:
        return self.store.download_url.format(repo=self.repositories.assets, tag=tag, name=name)

    def endpoint(self, channel: Channel) -> Endpoint:
        return self.endpoints.production if channel is Channel.STABLE else self.endpoints.staging
