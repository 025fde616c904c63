"""The fake GitHub's routes: releases, assets, uploads and the CDN (rules in ``tests.fakes.github``).

Rules: anything outside the assets repository's releases answers 404 (creating a release, a tag or
a ref has no route here at all); an immutable release answers 422 to every asset change; an upload
name already taken (a half-made ``starter`` asset included) answers 422 ``already_exists``.
Bodies follow the recordings in ``tests/fixtures/recorded/github`` (each file names its source).
``PATCH /releases/{id}`` edits a release as GitHub does (release_update_patch.txt, from PyGithub's
``tests/ReplayData/GitRelease.testUpdate.txt``): ``tag_name``, ``name``, ``body``, ``draft`` and
``prerelease`` as sent, the whole release in the answer; a new ``tag_name`` on an immutable release
is refused (its tag is fixed), its notes and title stay editable. Downloads redirect to the CDN origin (``fake.cdn_url``): the API's octet-stream asset GET to
``/blob/<id>``, the public ``/<repo>/releases/download/<tag>/<name>`` to ``/cdn/<tag>/<name>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .github_model import FakeAsset, FakeRelease

if TYPE_CHECKING:
    from .github import _Handler

__all__ = ["handle_api", "handle_blob", "handle_cdn", "handle_public_download"]

# immutable_upload_422.txt; an asset change on an immutable release is refused the same way.
IMMUTABLE_UPLOAD = "Cannot upload assets to an immutable release."
IMMUTABLE_CHANGE = "Cannot modify an asset of an immutable release."


def handle_api(h: _Handler, method: str, path: str, query: dict[str, list[str]]) -> None:
    fake = h.server.fake
    repo = f"/repos/{fake.owner_repo}"
    if method == "GET" and path == "/user":
        return h._send(200, {"login": "release-bot", "id": 1, "type": "User"})
    if method == "GET" and path == repo:
        return h._send(200, fake.repo_json())
    if method == "POST" and path.startswith(f"/uploads{repo}/releases/"):
        match = re.fullmatch(rf"/uploads{re.escape(repo)}/releases/(\d+)/assets", path)
        release = fake.releases.get(int(match.group(1))) if match else None
        if release is None:
            h._drain()
            return h._error(404, "Not Found")
        label = query["label"][0] if "label" in query else None
        return _upload(h, release, query.get("name", [""])[0], label)
    if not path.startswith(repo + "/releases"):
        h._drain()
        return h._error(404, "Not Found")
    rest = path[len(repo) :]
    if method == "GET" and rest == "/releases":
        return h._send(200, [fake.release_json(r) for r in fake.releases.values()])
    if method == "GET" and rest.startswith("/releases/tags/"):
        tag = rest[len("/releases/tags/") :]
        found = [r for r in fake.releases.values() if r.tag == tag and not r.draft]
        return h._send(200, fake.release_json(found[0])) if found else h._error(404, "Not Found")
    match = re.fullmatch(r"/releases/(\d+)(/assets)?", rest)
    if method == "PATCH" and match and not match.group(2):
        return _edit_release(h, fake.releases.get(int(match.group(1))))
    if method == "GET" and match:
        release = fake.releases.get(int(match.group(1)))
        if release is None:
            return h._error(404, "Not Found")
        if match.group(2):
            return h._send(200, [fake.asset_json(release, a) for a in release.assets.values()])
        return h._send(200, fake.release_json(release))
    match = re.fullmatch(r"/releases/assets/(\d+)", rest)
    found_asset = fake.find_asset(int(match.group(1))) if match else None
    if found_asset is None:
        h._drain()
        return h._error(404, "Not Found")
    release, asset = found_asset
    if method == "GET":
        with fake.lock:
            failing = fake.asset_get_errors > 0 and h.headers.get("Accept") != "application/octet-stream"
            fake.asset_get_errors -= int(failing)
        if failing:
            return h._error(500, "Server Error")
        if h.headers.get("Accept") == "application/octet-stream":
            # asset_download_302.txt: a signed URL on another host, good for minutes, no token needed
            location = f"{fake.cdn_url}/blob/{asset.id}?se=300&sig=fake-signature"
            return h._send(302, None, {"Location": location, "Content-Type": "text/html;charset=utf-8"})
        return h._send(200, fake.asset_json(release, asset))
    if release.immutable:
        h._drain()
        return h._error(422, IMMUTABLE_CHANGE, status="422")
    if method == "DELETE":
        with fake.lock:
            del release.assets[asset.id]
            if asset.state == "uploaded":
                fake.stale[(release.tag, asset.name)] = asset.path
        return h._send(204)
    if method == "PATCH":
        body: Any = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"{}")
        name = body.get("name", asset.name)
        with fake.lock:
            if any(a.name == name and a.id != asset.id for a in release.assets.values()):
                return _exists(h)
            asset.name = name
            asset.label = body.get("label", asset.label)
        return h._send(200, fake.asset_json(release, asset))
    h._drain()
    return h._error(404, "Not Found")


def _edit_release(h: _Handler, release: FakeRelease | None) -> None:
    fake = h.server.fake
    body: Any = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"{}")
    if release is None:
        return h._error(404, "Not Found")
    with fake.lock:
        fake.release_edits.append(((release.tag, release.name, release.body), body))
        tag = body.get("tag_name", release.tag)
        if release.immutable and tag != release.tag:
            return h._error(422, "Cannot change the tag of an immutable release.", status="422")
        release.tag = tag
        release.name = body.get("name", release.name)
        release.body = body.get("body", release.body) or ""
        release.draft = bool(body.get("draft", release.draft))
        release.prerelease = bool(body.get("prerelease", release.prerelease))
    return h._send(200, fake.release_json(release))


def _exists(h: _Handler) -> None:
    errors = [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]
    h._error(422, "Validation Failed", errors=errors)


def _upload(h: _Handler, release: FakeRelease, name: str, label: str | None) -> None:
    fake = h.server.fake
    if "Content-Length" not in h.headers:
        return h._error(411, "Length Required")
    length = int(h.headers["Content-Length"])
    if release.immutable:
        h._drain()
        return h._error(422, IMMUTABLE_UPLOAD, status="422")
    with fake.lock:
        if not name or any(a.name == name for a in release.assets.values()):
            h._drain()
            return _exists(h)
        asset = FakeAsset(next(fake.ids), name, Path(), 0, "", state="starter", label=label)
        release.assets[asset.id] = asset
        midway = fake.fail_uploads_midway > 0
        if midway:
            fake.fail_uploads_midway -= 1
        stalled = not midway and fake.stall_uploads > 0
        if stalled:
            fake.stall_uploads -= 1
        corrupt = not midway and fake.corrupt_uploads > 0
        if corrupt:
            fake.corrupt_uploads -= 1
    fd, name_on_disk = tempfile.mkstemp(prefix="asset-", dir=fake.root)
    asset.path = Path(name_on_disk)
    digest, received = hashlib.sha256(), 0
    limit = length // 2 if midway else length
    with open(fd, "wb") as handle:
        while received < limit:
            chunk = h.rfile.read(min(limit - received, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            handle.write(chunk)
            received += len(chunk)
    asset.size = received
    if midway or received < length:
        # GitHub keeps the half-made asset in state "starter"; its name is taken until deleted.
        h.close_connection = True
        return h._error(502, "Bad Gateway", headers={"Connection": "close"})
    if corrupt:
        # Bytes damaged on the way in: the stored asset (and so its digest) is not what was sent.
        with open(asset.path, "r+b") as handle:
            first = handle.read(1)
            handle.seek(0)
            handle.write(bytes([first[0] ^ 0xFF]) if first else b"")
        digest = hashlib.sha256(asset.path.read_bytes())
    asset.sha256, asset.state = digest.hexdigest(), "uploaded"
    if stalled:
        # The asset landed; the answer comes after the client stopped waiting for it.
        time.sleep(fake.stall_s)
    return h._send(201, fake.asset_json(release, asset))


def handle_blob(h: _Handler, path: str) -> None:
    fake = h.server.fake
    found = fake.find_asset(int(path.split("/")[2]))
    if found is None:
        return h._send(404, {"message": "Not Found"})
    with fake.lock:
        cut = fake.cut_downloads > 0
        fake.cut_downloads -= int(cut)
    return h._file(found[1].path, cut)


def _served(h: _Handler, tag: str, name: str, *, take_stale: bool) -> Path | None:
    """The bytes the public URL serves for ``tag``/``name`` now: stale ones while the CDN lags."""
    fake = h.server.fake
    with fake.lock:
        stale = fake.stale.get((tag, name))
        if stale is not None and fake.stale_cdn_reads > 0:
            if take_stale:
                fake.stale_cdn_reads -= 1
            return stale
        current = next(
            (a for a in fake.assets(tag).values() if a.name == name and a.state == "uploaded"), None
        )
    return current.path if current is not None else None


def handle_public_download(h: _Handler, path: str) -> None:
    """``github.com/<repo>/releases/download/<tag>/<name>``: 302 to the CDN, or 404 if no such asset."""
    fake = h.server.fake
    match = re.fullmatch(rf"/{re.escape(fake.owner_repo)}/releases/download/([^/]+)/([^/]+)", path)
    if match is None or _served(h, *match.groups(), take_stale=False) is None:
        return h._send(404, {"message": "Not Found"})
    tag, name = match.groups()
    return h._send(302, None, {"Location": f"{fake.cdn_url}/cdn/{tag}/{name}?se=300&sig=fake-signature"})


def handle_cdn(h: _Handler, path: str) -> None:
    _, _, tag, name = path.split("/", 3)
    served = _served(h, tag, name, take_stale=True)
    if served is None:
        return h._send(404, {"message": "Not Found"})
    return h._file(served)
