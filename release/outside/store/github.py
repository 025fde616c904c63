"""The production ``Store``: fixed GitHub releases of the assets repository, through PyGithub.

Rules:
- The token comes from the environment variable the target names (``GITHUB_TOKEN``) or the target's
  token file; it is never printed, logged or put in a message. Missing or rejected: one line.
- Releases are found by tag and never created (nor tags, nor branches). Missing, draft: one line
  saying what to do; ``immutable`` is reported, and a write to an immutable release stops early.
- Only the assets repository is ever touched; a target whose assets repository is the code
  repository (in any letter case) is refused before any call.
- PyGithub's own retry is off and every call has the target's timeout; ``_retry.call`` owns retries.
- Requests are paced as GitHub asks of integrations (writes a second apart), the swap that ends a
  replace included (``_replace`` measures and reports the 404 window it leaves); only a loopback
  ``api_url`` may turn it off (``store.pace_requests``: the tests' fake GitHub).
- A wait for a rate limit is announced (``notice``; by default a line on stderr above the progress
  bar), so a silent minute is never mistaken for a hang.
- ``set_notes`` reads the release once (the GET that finds it) and PATCHes it only when the body
  differs, through PyGithub's ``update_release`` with the release's own tag, name, draft and
  prerelease flags: only the body changes (the tag is never touched).
- Replacing an asset in place lives in ``_replace``, which sees this store only through the narrow
  ``AssetApi`` built here and never imports it; streaming uploads in ``_transfer``; the public URL
  check is ``stream.verify_public``, the one every store uses.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
from github import Auth, Github
from github.GithubException import UnknownObjectException
from github.GitRelease import GitRelease
from github.Repository import Repository
from tenacity import wait_exponential

from release.console import err_console
from release.errors import BAD_INPUT, CHECK_FAILED, ReleaseError
from release.outside.probes import ssl_context
from release.outside.store import _replace
from release.outside.store._immutable import immutable_message
from release.outside.store._retry import (
    ERRORS,
    RetryPolicy,
    call,
    describe,
    http_status,
    is_rate_limit,
    is_transient,
)
from release.outside.store.base import FixedRelease, UploadResult
from release.outside.stream import Progress, verify_public
from schemas import Target
from schemas.target import GithubStore as GithubStoreConfig

__all__ = ["GithubStore", "find_token"]


def _say_waiting(line: str) -> None:
    # Printed through a console on stderr: under a live progress bar rich puts it above the bar.
    err_console().print(f"[yellow]{line}[/]", markup=True)


def find_token(target: Target, environ: Mapping[str, str]) -> tuple[str, str]:
    """The token and where it was read (``$GITHUB_TOKEN`` or the token file; never the value
    itself), or one line saying where to put it."""
    config = target.store
    if not isinstance(config, GithubStoreConfig):
        raise ReleaseError(f"target {target.name}: store kind is {config.kind}, not github")
    from_env = environ.get(config.token_env, "").strip()
    if from_env:
        return from_env, f"${config.token_env}"
    if config.token_file:
        path = target.path(config.token_file)
        try:
            from_file = path.read_text(encoding="utf-8").strip()
        except OSError:
            raise ReleaseError(f"GitHub token file {path} cannot be read") from None
        if from_file:
            return from_file, f"token file {path}"
    where = f"${config.token_env}" + (f" or {config.token_file}" if config.token_file else "")
    raise ReleaseError(
        f"no GitHub token: set {where} (a token with contents: write on {target.repositories.assets})"
    )


class GithubStore:
    """Fixed releases on GitHub (or GitHub Enterprise, or the loopback fake: ``api_url`` decides)."""

    def __init__(
        self,
        target: Target,
        *,
        token: str | None = None,
        environ: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        notice: Callable[[str], None] | None = None,
        pace_writes: bool = True,
    ) -> None:
        if not isinstance(target.store, GithubStoreConfig):
            raise ReleaseError(f"target {target.name}: store kind is {target.store.kind}, not github")
        self._target = target
        self._config: GithubStoreConfig = target.store
        self._assets_repo = target.repositories.assets
        self._token_value = token
        self._environ = environ if environ is not None else os.environ
        self._policy = RetryPolicy(
            sleep=sleep,
            monotonic=monotonic,
            notice=notice if notice is not None else _say_waiting,
            deadline_s=max(60.0, 10 * self._config.timeout_s),
        )
        self._pace_writes = pace_writes
        self._http = http
        self._github: Github | None = None
        self._repo_handle: Repository | None = None
        self._api = _replace.AssetApi(
            policy=self._policy,
            http=self.http,
            token=self._token,
            asset=lambda asset_id: self._repo().get_release_asset(asset_id),
        )

    def describe(self) -> str:
        host = httpx.URL(str(self._config.api_url)).host
        return f"GitHub releases of {self._assets_repo} ({host})"

    # -- plumbing -------------------------------------------------------------------------------

    def _token(self) -> str:
        if not self._token_value:
            self._token_value, _where = find_token(self._target, self._environ)
        return self._token_value

    def _make_client(self, paced: bool) -> Github:
        if self._assets_repo.lower() == self._target.repositories.code.lower():
            raise ReleaseError("the assets repository is the code repository: refusing to write to it")
        return Github(
            base_url=str(self._config.api_url).rstrip("/"),
            auth=Auth.Token(self._token()),
            timeout=math.ceil(self._config.timeout_s),
            retry=0,
            seconds_between_requests=0.25 if paced else None,
            seconds_between_writes=1.0 if paced else None,
            lazy=True,
        )

    def _client(self) -> Github:
        if self._github is None:
            self._github = self._make_client(self._pace_writes and self._config.pace_requests)
        return self._github

    def http(self) -> httpx.Client:
        """The streaming client (uploads host, CDN, public URLs), trusting as ``probes.ssl_context`` says."""
        if self._http is None:
            self._http = httpx.Client(
                verify=ssl_context(self._target),
                timeout=httpx.Timeout(self._config.timeout_s),
                follow_redirects=True,
            )
        return self._http

    def _repo(self) -> Repository:
        if self._repo_handle is None:
            self._repo_handle = self._client().get_repo(self._assets_repo)
        return self._repo_handle

    def _fail(self, doing: str, exc: BaseException) -> ReleaseError:
        """The one line for a GitHub failure that retries did not (or may not) fix."""
        status = http_status(exc)
        if status == 401:
            return ReleaseError(
                f"GitHub rejected the token ({describe(exc)}): set a valid token in ${self._config.token_env}"
            )
        if is_rate_limit(exc):
            # Waited out until the attempts ran out (a wait past the deadline says so itself).
            return ReleaseError(
                f"GitHub kept rate-limiting {doing} ({describe(exc)}): nothing was left half-made; "
                "run the task again in a few minutes",
                CHECK_FAILED,
            )
        if status == 403:
            return ReleaseError(
                f"GitHub refused {doing} ({describe(exc)}): the token needs contents: write on {self._assets_repo}"
            )
        if is_transient(exc):
            return ReleaseError(
                f"GitHub kept failing while {doing} ({describe(exc)}); nothing was left half-made: run again",
                CHECK_FAILED,
            )
        return ReleaseError(f"GitHub failed while {doing} ({describe(exc)})", CHECK_FAILED)

    # -- Store protocol ------------------------------------------------------------------------

    def check_access(self) -> str:
        try:
            repo = call(self._policy, lambda: self._client().get_repo(self._assets_repo).complete())
        except UnknownObjectException:
            raise ReleaseError(
                f"GitHub: repository {self._assets_repo} not found, or the token cannot see it"
            ) from None
        except ERRORS as exc:
            raise self._fail(f"reading {self._assets_repo}", exc) from None
        permissions = repo.permissions
        if permissions is not None and not permissions.push:
            raise ReleaseError(f"the GitHub token can read {self._assets_repo} but not write its releases")
        return f"GitHub token accepted for {self._assets_repo}"

    def _git_release(self, tag: str) -> GitRelease:
        """The release for ``tag``, checked to be published and to belong to the assets repository."""
        try:
            release = call(self._policy, lambda: self._repo().get_release(tag))
        except UnknownObjectException:
            raise self._missing(tag) from None
        except ERRORS as exc:
            raise self._fail(f"finding release {tag}", exc) from None
        if release.draft:
            raise ReleaseError(f"release {tag} in {self._assets_repo} is a draft: publish it once by hand")
        if f"/repos/{self._assets_repo.lower()}/" not in release.url.lower():
            raise ReleaseError(f"release {tag} does not belong to {self._assets_repo}: refusing to touch it")
        return release

    def _missing(self, tag: str) -> ReleaseError:
        # GitHub finds only published releases by tag; a draft shows up in the listing.
        try:
            drafts = [r for r in self._repo().get_releases() if r.tag_name == tag and r.draft]
        except ERRORS:
            drafts = []
        if drafts:
            return ReleaseError(f"release {tag} in {self._assets_repo} is a draft: publish it once by hand")
        return ReleaseError(
            f"release {tag} not found in {self._assets_repo}: create and publish it once by hand "
            "(tasks never create tags or releases)",
            BAD_INPUT,
        )

    def release(self, tag: str) -> FixedRelease:
        release = self._git_release(tag)
        try:
            assets = call(self._policy, lambda: list(release.get_assets()))
        except ERRORS as exc:
            raise self._fail(f"listing the assets of {tag}", exc) from None
        done = tuple(_replace.asset_of(a) for a in assets if a.state == "uploaded")
        return FixedRelease(tag=tag, immutable=bool(release.immutable), assets=done, body=release.body or "")

    def upload(
        self, tag: str, name: str, source: Path, *, sha256: str, size: int, progress: Progress | None = None
    ) -> UploadResult:
        release = self._git_release(tag)
        if release.immutable:
            raise ReleaseError(f"{name} cannot be uploaded: {immutable_message(self._assets_repo, [tag])}")
        try:
            return _replace.replace_asset(
                self._api, release, name, source, sha256=sha256, size=size, progress=progress
            )
        except ERRORS as exc:
            raise self._fail(f"replacing {name} in release {tag}", exc) from None

    def download(self, tag: str, name: str, dest: Path, *, progress: Progress | None = None) -> str:
        release = self._git_release(tag)
        try:
            return _replace.download_asset(self._api, release, name, dest, progress=progress)
        except ERRORS as exc:
            raise self._fail(f"downloading {name} from release {tag}", exc) from None

    def set_notes(self, tag: str, text: str) -> bool:
        release = self._git_release(tag)
        if (release.body or "") == text:
            return False
        try:
            call(
                self._policy,
                lambda: release.update_release(
                    release.name or "",
                    text,
                    draft=release.draft,
                    prerelease=release.prerelease,
                    tag_name=release.tag_name,
                ),
            )
        except ERRORS as exc:
            raise self._fail(f"writing the body of release {tag}", exc) from None
        return True

    def verify(self, tag: str, name: str, *, sha256: str, size: int) -> bool:
        # No token: this is the URL clients download from, through whatever CDN is in front.
        return verify_public(
            self.http(),
            self._target.download_url(tag, name),
            sha256=sha256,
            size=size,
            attempts=7,
            wait=wait_exponential(multiplier=2, max=30),
            sleep=self._policy.sleep,
        )
