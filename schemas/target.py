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

from .loopback import is_loopback
from .models import Channel
from .version import Version

__all__ = [
    "Announce",
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
    "SandboxMetrics",
    "Signing",
    "SlackSink",
    "Target",
    "TomlFile",
    "VersionFile",
    "WebhookSink",
    "host_port",
]

Repo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
RelPath = Annotated[str, StringConstraints(min_length=1)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Azure(_Strict):
    resource_group: str = Field(min_length=1, description="The VM's Azure resource group.")
    vm_name: str = Field(
        min_length=1,
        description="The VM's name; an `azure` remote runs Run Command on this VM in that group.",
    )


class _Server(_Strict):
    host: str = Field(
        min_length=1,
        description="The production server's host name, as the rulebook states it; no task connects by it "
        "(`endpoints` and `grpc` say where).",
    )


class _Grpc(_Strict):
    endpoint: str = Field(
        pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", description="The gRPC endpoint, `host:port`."
    )
    tls: bool = Field(description="Whether it speaks TLS: stated here, never derived from the port.")


class GrpcEndpoint(_Grpc):
    """One gRPC endpoint (``host:port``) and whether it speaks TLS: stated, never derived from the port."""


class GrpcSmoke(_Strict):
    """The gRPC smoke: ``grpc.health.v1.Health/Check`` on the production and staging endpoints."""

    production: GrpcEndpoint = Field(
        description="Checked by `preflight` and `verify` (stable); must equal `release_target.grpc` (endpoint and TLS)."
    )
    staging: GrpcEndpoint = Field(description="Checked by `staging.validate` and `verify --channel beta`.")
    service: str = Field(default="", description="health service name; empty asks for the whole server")
    deadline_s: float = Field(default=5.0, gt=0, le=60, description="deadline of each Check call")


class _Update(_Strict):
    dmg_url: AnyHttpUrl = Field(
        description="The stable dmg's fixed public URL: the store's `download_url` for `channels.stable.dmg_tag` "
        "and `dmg_name`, exactly. The stable manifest points here, and `verify` downloads it."
    )
    pkg_url: AnyHttpUrl = Field(
        description="The stable pkg's fixed public URL: the store's `download_url` for `channels.stable.pkg_tag` "
        "and `pkg_name`, exactly."
    )


class ReleaseTarget(_Strict):
    """The rulebook's ``release_target`` block, verbatim in meaning."""

    version: Version = Field(
        description="The release version as the rulebook states it (`X.Y.Z.W`); checked for its form only: "
        "the workspace's `VERSION` file is what a release ships."
    )
    azure: _Azure = Field(description="The production VM in Azure.")
    server: _Server = Field(description="The production server.")
    grpc: _Grpc = Field(
        description="The production gRPC endpoint; the smoke's `grpc.production` must equal it."
    )
    update: _Update = Field(description="The two stable fixed download URLs.")


class _Repositories(_Strict):
    code: Repo = Field(description="The app's code repository, `owner/name`; no task ever writes to it.")
    assets: Repo = Field(
        description="The repository whose fixed releases receive the dmg and pkg, `owner/name`; must differ "
        "from `code` (in any letter case, the GitHub store refuses it too)."
    )


class ChannelTags(_Strict):
    dmg_tag: Tag = Field(
        description="The fixed release that holds this channel's dmg (and the release notes)."
    )
    pkg_tag: Tag = Field(description="The fixed release that holds this channel's pkg.")


class _Channels(_Strict):
    stable: ChannelTags = Field(
        description="The fixed tags stable clients update from (production: `Update`, `App`)."
    )
    beta: ChannelTags = Field(description="The fixed tags of beta (production: `UpdateBeta`, `AppBeta`).")

    def tags(self, channel: Channel) -> ChannelTags:
        return self.stable if channel is Channel.STABLE else self.beta


class Endpoint(_Strict):
    url: AnyHttpUrl = Field(description="The feed's base URL; `/health`, `/updates/...` are under it.")
    secure: bool = Field(
        description="TLS is decided here, never by the port number; `staging.validate` checks the TLS handshake "
        "of each secure endpoint."
    )


class _Endpoints(_Strict):
    production: Endpoint = Field(
        description="The production feed, where stable clients update from; `preflight` and `verify` read it."
    )
    staging: Endpoint = Field(
        description="The staging feed, serving the beta appcast while the gate is open; `staging.validate` and "
        "`verify --channel beta` read it."
    )


class GithubStore(_Strict):
    kind: Literal["github"] = Field(description="GitHub Releases (or GitHub Enterprise), through PyGithub.")
    api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.github.com"),
        description="The REST API's base URL (GitHub Enterprise: `https://HOST/api/v3`).",
    )
    download_url: str = Field(
        default="https://github.com/{repo}/releases/download/{tag}/{name}",
        description="The public URL of an asset, from `{repo}` (the assets repository), `{tag}` and `{name}`.",
    )
    token_env: str = Field(default="GITHUB_TOKEN", description="The environment variable holding the token.")
    token_file: RelPath | None = Field(
        default=None, description="A file holding the token, read when the variable is unset or empty."
    )
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds allowed for each phase of every request (connect, read, write), uploads included; "
        "retrying one request gives up after 6 attempts or ten times this (at least 60 s).",
    )
    pace_requests: bool = Field(
        default=True,
        description="Requests a quarter second apart and writes a second apart, as GitHub asks of "
        "integrations; `false` only for an `api_url` on loopback (the tests' fake GitHub).",
    )

    @model_validator(mode="after")
    def _paced_unless_loopback(self) -> GithubStore:
        # An unpaced client can trip GitHub's secondary rate limits: only a local fake may go unpaced.
        if not self.pace_requests and not is_loopback(self.api_url.host or ""):
            raise ValueError(
                f"store.pace_requests false needs an api_url on loopback, not {self.api_url.host}"
            )
        return self


class LocalStore(_Strict):
    kind: Literal["local"] = Field(description="A directory per fixed tag: the sandbox's store.")
    root: RelPath = Field(
        description="The directory holding `<tag>/<name>`; a missing tag directory is a release nobody made."
    )
    download_url: str = Field(
        description="The public URL of an asset, from `{repo}`, `{tag}` and `{name}` (in the sandbox, the "
        "staging feed serves `root` at `/releases/download/`)."
    )


class AzureRemote(_Strict):
    kind: Literal["azure"] = Field(
        description="The VM through Azure Run Command (`release_target.azure` names it)."
    )
    subscription_id_env: str = Field(
        default="AZURE_SUBSCRIPTION_ID", description="The environment variable holding the subscription id."
    )
    arm_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://management.azure.com"), description="Azure Resource Manager's base URL."
    )
    credential: Literal["default", "cli", "environment", "managed_identity"] = Field(
        default="default",
        description="The azure-identity credential: `DefaultAzureCredential`, `AzureCliCredential`, "
        "`EnvironmentCredential` or `ManagedIdentityCredential`.",
    )
    reconciler_cli: str = Field(
        default="/opt/nexy-release/.venv/bin/nexy-reconciler", description="The reconciler's CLI on the VM."
    )
    reconciler_config: str = Field(
        default="/etc/nexy-reconciler/config.yaml", description="The reconciler's config file on the VM."
    )
    # Run Command runs scripts as root; they drop to this user (the unit's User=, who owns the
    # runtime tree) before calling the reconciler CLI. None: no drop (a VM where root is meant).
    reconciler_user: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="The user the root-run scripts drop to before calling the CLI: the reconciler unit's "
        "`User=`, who owns the runtime tree. `null`: no drop.",
    )
    staging_dir: str = Field(
        default="/var/lib/nexy-release-stage",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        description="Where root stages a bundle too long for one Run Command (over 224 KiB of script), "
        "in parts `accept` takes whole, checked by sha256; made root-owned, mode 0755.",
    )
    deadline_s: float = Field(
        default=600.0,
        gt=0,
        description="Seconds one Run Command call may take, polling and busy-VM retries included "
        "(plus an `accept`'s wait).",
    )
    polling_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds between two looks at a running Run Command's status (when ARM's answer "
        "gives no `Retry-After`).",
    )


LoopbackEndpoint = Annotated[
    str, StringConstraints(pattern=r"^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}:[0-9]{1,5}$")
]


def host_port(endpoint: str) -> tuple[str, int]:
    """``host`` and ``port`` of a ``host:port`` endpoint (gRPC, metrics)."""
    host, port = endpoint.rsplit(":", 1)
    return host, int(port)


class SandboxMetrics(_Strict):
    """Where the sandbox's processes serve Prometheus metrics: loopback `host:port` each, never exposed."""

    production: LoopbackEndpoint | None = Field(
        default=None,
        description="The production feed's `--metrics-host`/`--metrics-port`; `adoption` reads the stable "
        "appcast checks here (through the reconciler's `status`).",
    )
    staging: LoopbackEndpoint | None = Field(
        default=None,
        description="The staging feed's metrics endpoint; `adoption --channel beta` reads the beta checks here.",
    )
    reconciler: LoopbackEndpoint | None = Field(
        default=None, description="The reconciler's `metrics.address`/`metrics.port`."
    )


class LocalRemote(_Strict):
    kind: Literal["local"] = Field(
        description="The reconciler's CLI in a local subprocess, as Run Command runs it on the VM: the sandbox."
    )
    reconciler_config: RelPath = Field(description="The reconciler's config file on this machine.")
    python: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        description="The command each call runs for the VM side's `python` (`<python> -m reconciler "
        "--config …`), for a VM side under another interpreter; unset: the interpreter running `./inv`. "
        "The tests set a launcher that forks each call from a server that made its imports once.",
    )
    metrics: SandboxMetrics = Field(
        default=SandboxMetrics(),
        description="The sandbox's metrics endpoints (`sandbox.up` starts the feeds and the reconciler with "
        "them; unset: no metrics); `sandbox.status` lists their URLs.",
    )


class RegexFile(_Strict):
    kind: Literal["regex"] = Field(description="A line of text in any file.")
    path: RelPath = Field(description="The file, relative to `workspace`.")
    pattern: str = Field(
        description="A Python regular expression (multi-line mode) with exactly one capture group: the "
        "version, replaced in every match; a pattern that matches nothing stops the bump."
    )

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
    kind: Literal["toml"] = Field(description="A key of a TOML file, rewritten keeping the file's layout.")
    path: RelPath = Field(description="The file, relative to `workspace`.")
    key: str = Field(
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="The dotted key (`project.version`); it must exist.",
    )


class PlistFile(_Strict):
    kind: Literal["plist"] = Field(description="Keys of a property list (XML or binary, kept as it was).")
    path: RelPath = Field(description="The plist, relative to `workspace`.")
    keys: tuple[str, ...] = Field(
        default=("CFBundleShortVersionString", "CFBundleVersion"),
        description="The top-level keys set to the version; each must exist.",
    )


VersionFile = Annotated[RegexFile | TomlFile | PlistFile, Field(discriminator="kind")]


class KeychainKey(_Strict):
    """The login keychain item Sparkle's ``generate_keys`` made (macOS only)."""

    kind: Literal["keychain"] = Field(
        description="The login keychain item Sparkle's `generate_keys` made (macOS only)."
    )
    account: str = Field(default="ed25519", min_length=1, description="generate_keys/sign_update --account")


class FileKey(_Strict):
    """A key file as ``generate_keys -x`` exports it and ``sign_update --ed-key-file`` reads it."""

    kind: Literal["file"] = Field(
        description="A key file as `generate_keys -x` exports it and `sign_update --ed-key-file` reads it."
    )
    path: RelPath = Field(description="The key file, relative to the target's `root`.")


class EnvKey(_Strict):
    """An environment variable naming such a key file (for CI); the variable never holds the key."""

    kind: Literal["env"] = Field(
        description="An environment variable naming such a key file (for CI); the variable never holds the key."
    )
    var: str = Field(
        default="SPARKLE_ED_KEY_FILE",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The variable; its value is the key file's path, relative to the target's `root`.",
    )


class Signing(_Strict):
    """Where the EdDSA private key comes from, and whether an unsigned release is refused."""

    key: Annotated[
        KeychainKey | FileKey | EnvKey,
        Field(discriminator="kind", description="Where the EdDSA private key comes from, by `kind`."),
    ]
    required: bool = Field(default=True, description="refuse to publish when the app has no SUPublicEDKey")
    info_plist: RelPath | None = Field(
        default=None, description="the app's Info.plist (workspace-relative); default: the plist version file"
    )


class _Sink(_Strict):
    name: str = Field(
        pattern=r"^[a-z0-9_-]+$",
        description="The sink's name, in the plan line (`announce to NAME`) and warnings.",
    )
    url: AnyHttpUrl | None = Field(
        default=None, description="Where the message is POSTed, when it is no secret (else `url_env`)."
    )
    url_env: EnvName | None = Field(
        default=None,
        description="The environment variable holding the URL (a Slack incoming webhook URL is a secret); "
        "exactly one of `url` and `url_env`. Never the URL itself.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Seconds per delivery attempt.")

    @model_validator(mode="after")
    def _one_url(self) -> _Sink:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"announce sink {self.name}: give exactly one of url and url_env")
        return self


class SlackSink(_Sink):
    """A Slack incoming webhook: Slack's documented payload, `{"text": ...}`."""

    kind: Literal["slack"] = Field(description='A Slack incoming webhook: `{"text": ...}`.')
    blocks: bool = Field(
        default=False, description="Also send the message as Block Kit `blocks` (`text` stays the fallback)."
    )


class WebhookSink(_Sink):
    """A generic JSON webhook: the announcement document, signed like the reconciler's alerts."""

    kind: Literal["webhook"] = Field(
        description="A generic JSON webhook: the announcement document (`event: announce`)."
    )
    secret_env: EnvName | None = Field(
        default=None,
        description="The environment variable holding the HMAC secret; when set, each post carries "
        "`X-Nexy-Signature: sha256=<HMAC-SHA256 of the body>`. Never the secret itself.",
    )


class Announce(_Strict):
    """Who is told of a publish (beta), promote or rollback; a failure to tell never fails the task."""

    sinks: tuple[
        Annotated[SlackSink | WebhookSink, Field(discriminator="kind")],
        ...,
    ] = Field(min_length=1, description="Each gets one message per release, by `kind`.")
    notes_lines: int = Field(
        default=5, ge=0, le=50, description="How many first lines of the release notes the message carries."
    )
    attempts: int = Field(
        default=3, ge=1, le=10, description="Delivery attempts per sink (a 5xx, 429 or no answer is retried)."
    )

    @model_validator(mode="after")
    def _distinct(self) -> Announce:
        names = [sink.name for sink in self.sinks]
        if len(set(names)) != len(names):
            raise ValueError("announce.sinks: the names must be distinct")
        return self


class Target(_Strict):
    name: str = Field(
        pattern=r"^[a-z0-9_-]+$", description="The target's name, shown in tables and the release log."
    )
    root: Path | None = Field(
        default=None,
        description="What relative paths resolve against; the tasks set it to the project checkout unless "
        "the file names one.",
    )
    release_target: ReleaseTarget = Field(
        description="The rulebook's canonical `release_target` block; every release is checked against it."
    )
    repositories: _Repositories = Field(description="The code and assets repositories.")
    channels: _Channels = Field(
        description="The four fixed release tags; all distinct, never created by a task."
    )
    endpoints: _Endpoints = Field(description="The two feeds the tasks probe.")
    store: Annotated[
        GithubStore | LocalStore,
        Field(discriminator="kind", description="Where the assets go, by `kind`."),
    ]
    remote: Annotated[
        AzureRemote | LocalRemote,
        Field(discriminator="kind", description="How the reconciler on the VM is reached, by `kind`."),
    ]
    workspace: RelPath = Field(
        default=".",
        description="The app's checkout: its `VERSION` file and the `version_files` live there; of the release tasks only `bump` writes to it.",
    )
    version_files: tuple[VersionFile, ...] = Field(
        default=(),
        description="The files `bump` rewrites with `VERSION`, all or nothing, by `kind`.",
    )
    required_env_keys: tuple[str, ...] = Field(
        default=("GEMINI_API_KEY",),
        description="`config.env` keys on the VM that `preflight` requires present (never their values).",
    )
    manifests_dir: RelPath = Field(
        default="manifests",
        description="The desired state: the manifests, the gate, the validation and `release_log.jsonl`.",
    )
    inbox_dir: RelPath = Field(
        default="release_inbox",
        description="Where `publish` reads `<channel>/` with the dmg, the pkg and the release notes.",
    )
    archive_dir: RelPath = Field(
        default=".release-archive",
        description="A copy of every published artifact by sha256 and the manifest each version went to beta "
        "with, for `rollback`; scratch space.",
    )
    ca_bundle: RelPath | None = Field(
        default=None,
        description="A PEM file trusted instead of the system store by the tasks' HTTPS clients (feeds, "
        "downloads) and the gRPC smoke; PyGithub's API requests and Azure's SDK keep their own trust.",
    )
    grpc: GrpcSmoke | None = Field(
        default=None, description="The gRPC smoke; without it the `grpc` rows fail, naming this block."
    )
    dmg_name: str = Field(
        default="Nexy.dmg", description="The dmg's file name in the inbox and its asset name."
    )
    pkg_name: str = Field(
        default="Nexy.pkg", description="The pkg's file name in the inbox and its asset name."
    )
    notes_name: str = Field(
        default="LATEST_CHANGES.md",
        description="The release notes' file name in the inbox and its asset name (beside the dmg).",
    )
    signing: Signing | None = Field(
        default=None,
        description="EdDSA signing; `null`: unsigned, refused when the app's Info.plist has a `SUPublicEDKey`.",
    )
    product_link: AnyHttpUrl | None = Field(default=None, description="the product page: each item's <link>")
    announce: Announce | None = Field(
        default=None,
        description="Tell Slack or a webhook of each publish (beta), promote and rollback; `null`: nobody is told.",
    )

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

    def appcast_url(self, channel: Channel) -> str:
        """The appcast a client on ``channel`` reads (the app's ``SUFeedURL`` names the stable one):
        ``appcast.xml`` on production, ``appcast-beta.xml`` on staging."""
        feed = "appcast.xml" if channel is Channel.STABLE else "appcast-beta.xml"
        return f"{str(self.endpoint(channel).url).rstrip('/')}/updates/{feed}"
