"""What every row of one check run reads (``release.steps.checks``), each fetched at most once.

Rules:
- Built before the dry run as well: nothing is asked until a row reads it (cached properties).
- The downloads (staging's ``download`` and ``signature`` rows) live as long as the run: the run
  closes the subject (``with subject:``), which removes them.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import TracebackType

from release.errors import ReleaseError
from release.outside.probes import Reach, fetch_appcast
from release.parts.session import Session
from release.parts.signing import KeyCheck, check_signing
from release.steps.checks.stage import Stage
from release.steps.flow import appcast_url, base_url
from release.steps.served_signature import Download, Feed, downloads
from schemas import Channel, Manifest, Target

__all__ = ["Subject"]


@dataclass
class Subject:
    """The session and stage of one run, the channel, and its manifest (verify, staging) or the
    preflight's options (``signing`` given by publish, ``yes``, the checkout ``source``)."""

    session: Session
    stage: Stage
    channel: Channel
    given: Manifest | None = None
    signing_given: KeyCheck | None = None
    yes: bool = False
    source: Path = field(default_factory=Path.cwd)
    _open: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> Subject:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._open.close()

    @property
    def target(self) -> Target:
        return self.session.target

    @property
    def manifest(self) -> Manifest:
        """The channel's manifest, which verify and staging.validate read before building the subject."""
        if self.given is None:
            raise ReleaseError(f"{self.stage.value} has no manifest to check")
        return self.given

    @cached_property
    def reach(self) -> Reach:
        """Which endpoints answer, each asked once per run."""
        return Reach(self.session.http)

    @cached_property
    def feed(self) -> Feed:
        """The channel's appcast, fetched once for every row that reads it."""
        return fetch_appcast(self.session.http, appcast_url(self.target, self.channel))

    @property
    def base(self) -> str:
        """The feed endpoint serving the channel, no trailing slash."""
        return base_url(self.target, self.channel)

    @cached_property
    def files(self) -> list[Download]:
        """Both assets downloaded once: the download rows hash them, the signature row verifies them."""
        return self._open.enter_context(downloads(self.session, self.manifest, progress=True))

    @cached_property
    def credentials(self) -> tuple[bool, str]:
        """Whether the store's credentials work, and what the store says (preflight's first row;
        ``fixed releases`` is not asked without them)."""
        try:
            return True, self.session.store.check_access()
        except ReleaseError as exc:
            return False, str(exc)

    @cached_property
    def signing(self) -> KeyCheck:
        """The signing key, as publish loaded it or loaded here (the signing key and archive rows)."""
        return self.signing_given if self.signing_given is not None else check_signing(self.target)
