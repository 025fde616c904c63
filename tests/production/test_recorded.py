"""Every recording in ``tests/fixtures/recorded`` replayed against our fakes.

Each recording (its first lines name its source) is a real exchange with GitHub or ARM, or, where no
recording exists, one built from the official documentation. Its request is sent to the fake, and the
fake's answer must match: the status, the headers that matter (a redirect to another origin, the
rate-limit headers, ``Retry-After`` present or not, ARM's two long-running-operation headers), and
the JSON field names and types (every field the recording has, the fake has, with the same type).
A recording without a replay here fails, so none is kept that nothing checks.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from github.Requester import Requester
from ruamel.yaml import YAML

from release.outside.remote._runscript import split_output
from tests.fakes.azure import FakeAzure
from tests.fakes.github import FakeGithub

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
pytestmark = pytest.mark.timeout(60)


# -- reading recordings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One exchange: the request line and the answer, whatever file format it came in."""

    source: str
    method: str
    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # JSON document, or the raw text when it is not JSON
    request_headers: tuple[str, ...] = ()  # lower-case names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _github(path: Path) -> Recorded:
    """PyGithub's ReplayData format: protocol, verb, host, port, path, request headers, request body,
    status, response headers, response body; ``#`` lines before it name the source."""
    lines = path.read_text(encoding="utf-8").split("\n")
    source = " ".join(line[2:] for line in lines if line.startswith("# "))
    fields = [line for line in lines if not line.startswith("# ")]
    protocol, method, host, _, url_path, _, _, status, headers = fields[:9]
    answer = {k.lower(): v for k, v in ast.literal_eval(headers)}
    body = "\n".join(fields[9:]).strip()
    return Recorded(
        source, method, f"{protocol}://{host}{url_path}", int(status), answer, _json_or_text(body)
    )


def _azure(path: Path) -> Recorded:
    """One interaction of a vcrpy cassette (the Azure CLI's recording format)."""
    text = path.read_text(encoding="utf-8")
    source = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    document: Any = YAML(typ="safe").load(text)
    response = document["response"]
    headers = {k.lower(): v[0] for k, v in response["headers"].items()}
    body = response["body"]["string"]
    return Recorded(
        source,
        document["request"]["method"],
        document["request"]["uri"],
        int(response["status"]["code"]),
        headers,
        _json_or_text(body) if body else None,
    )


def _load(path: Path) -> Recorded:
    return _github(path) if path.suffix == ".txt" else _azure(path)


# -- comparing answers -------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return {bool: "bool", int: "int", float: "number", str: "str", list: "list", dict: "object"}.get(
        type(value), "null"
    )


def assert_same_shape(recorded: Any, ours: Any, where: str = "$") -> None:
    """Every field of ``recorded`` is in ``ours`` with the same JSON type (a recorded null accepts a
    string or null: GitHub fills such fields, e.g. ``label`` or ``digest``, only sometimes)."""
    if recorded is None:
        assert ours is None or isinstance(ours, str), f"{where}: recorded null, ours {_kind(ours)}"
        return
    assert _kind(ours) == _kind(recorded) or {_kind(ours), _kind(recorded)} == {"int", "number"}, (
        f"{where}: recorded {_kind(recorded)}, ours {_kind(ours)}"
    )
    if isinstance(recorded, dict):
        missing = sorted(set(recorded) - set(ours))
        assert missing == [], f"{where}: fields the recording has and the fake lacks: {missing}"
        for key, value in recorded.items():
            assert_same_shape(value, ours[key], f"{where}.{key}")
    elif isinstance(recorded, list) and recorded:
        assert ours, f"{where}: recorded a non-empty list, ours is empty"
        assert_same_shape(recorded[0], ours[0], f"{where}[0]")


def assert_matches(recorded: Recorded, answer: httpx.Response) -> None:
    assert answer.status_code == recorded.status, f"{recorded.source}: status {answer.status_code}"
    for name in ("location", "azure-asyncoperation"):
        assert (answer.headers.get(name) is None) == (recorded.header(name) is None), name
    location = recorded.header("location")
    if location is not None and recorded.status == 302:
        # GitHub redirects downloads to another host: ours must leave the request's origin too.
        moved = httpx.URL(location).host != httpx.URL(recorded.url).host
        ours = httpx.URL(answer.headers["location"])
        assert moved and (ours.host, ours.port) != (answer.request.url.host, answer.request.url.port)
    assert ("retry-after" in answer.headers) == (recorded.header("retry-after") is not None)
    if recorded.header("x-ratelimit-remaining") == "0":
        assert answer.headers["x-ratelimit-remaining"] == "0"
    elif recorded.header("x-ratelimit-remaining") is not None:
        assert int(answer.headers["x-ratelimit-remaining"]) > 0
    if isinstance(recorded.body, dict | list):
        assert answer.headers["content-type"].startswith("application/json")
        assert_same_shape(recorded.body, answer.json())
    elif recorded.body in (None, ""):
        assert answer.content == b"" or recorded.status == 200


# -- GitHub replays ----------------------------------------------------------------------------


def _api(github: FakeGithub, path: str) -> str:
    return f"{github.base_url}/repos/{github.owner_repo}{path}"


def _auth(github: FakeGithub, **more: str) -> dict[str, str]:
    return {"Authorization": f"token {github.token}", **more}


def _upload(github: FakeGithub, tag: str, name: str, data: bytes = b"PK\x03\x04 zip bytes") -> httpx.Response:
    release = github.release(tag)
    url = f"{github.base_url}/uploads/repos/{github.owner_repo}/releases/{release.id}/assets"
    headers = _auth(github, **{"Content-Type": "application/zip"})
    return httpx.post(url, params={"name": name, "label": ""}, headers=headers, content=data)


def _asset(github: FakeGithub) -> int:
    return github.put_asset("UpdateBeta", "Nexy.dmg", b"dmg bytes").id


def release_by_tag(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    _asset(github)
    return httpx.get(_api(github, "/releases/tags/UpdateBeta"), headers=_auth(github))


def asset_upload_201(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    return _upload(github, "UpdateBeta", "foobar.zip")


def duplicate_upload_422(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    _asset(github)
    answer = _upload(github, "UpdateBeta", "Nexy.dmg")
    assert answer.json()["errors"] == recorded.body["errors"]
    return answer


def immutable_upload_422(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    github.release("Update").immutable = True
    answer = _upload(github, "Update", "Nexy.dmg")
    assert answer.json()["message"] == recorded.body["message"]
    return answer


def asset_rename_patch(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    url = _api(github, f"/releases/assets/{_asset(github)}")
    answer = httpx.patch(
        url, headers=_auth(github), json={"name": "updated-name.zip", "label": "Updated label"}
    )
    assert (answer.json()["name"], answer.json()["label"]) == ("updated-name.zip", "Updated label")
    return answer


def release_update_patch(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    # PyGithub's update_release sends the release's own tag back with the new name and body.
    release = github.release("Update")
    sent = {"tag_name": "Update", "name": "Updated Test", "body": "Updated Body", "draft": False}
    answer = httpx.patch(
        _api(github, f"/releases/{release.id}"), headers=_auth(github), json=sent | {"prerelease": False}
    )
    assert {k: answer.json()[k] for k in ("tag_name", "name", "body")} == {
        "tag_name": "Update",
        "name": recorded.body["name"],
        "body": recorded.body["body"],
    }
    return answer


def asset_delete_204(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    return httpx.delete(_api(github, f"/releases/assets/{_asset(github)}"), headers=_auth(github))


def asset_download_302(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    url = _api(github, f"/releases/assets/{_asset(github)}")
    return httpx.get(url, headers=_auth(github, Accept="application/octet-stream"))


def asset_download_cdn_200(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    # The recorded CDN request carries no Authorization header: neither does ours (the CDN would refuse it).
    assert "authorization" not in recorded.request_headers
    hop = asset_download_302(github, recorded)
    answer = httpx.get(hop.headers["location"], headers={"Accept": "application/octet-stream"})
    assert "authorization" not in {k.lower() for k in answer.request.headers}
    assert answer.headers["content-type"] == recorded.header("content-type")
    assert hashlib.sha256(answer.content).hexdigest() == github.assets("UpdateBeta")["Nexy.dmg"].sha256
    return answer


def public_asset_download_302(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    url = _api(github, f"/releases/assets/{_asset(github)}")
    return httpx.get(url, headers={"Accept": "application/octet-stream"})  # anonymous, as recorded


def public_download_url_302(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    _asset(github)
    return httpx.get(f"{github.base_url}/{github.owner_repo}/releases/download/UpdateBeta/Nexy.dmg")


def primary_rate_limit_403(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    github.rate_limited = 1
    answer = httpx.get(_api(github, "/releases/tags/UpdateBeta"), headers=_auth(github))
    for message in (recorded.body["message"], answer.json()["message"]):
        assert Requester.isPrimaryRateLimitError(message), message
    return answer


def _secondary(github: FakeGithub, recorded: Recorded) -> httpx.Response:
    github.secondary_limits, github.secondary_status = 1, recorded.status
    github.secondary_retry_after = recorded.header("retry-after")
    answer = httpx.get(_api(github, "/releases/tags/UpdateBeta"), headers=_auth(github))
    for message in (recorded.body["message"], answer.json()["message"]):
        assert Requester.isSecondaryRateLimitError(message), message  # PyGithub's own test of the words
    return answer


GITHUB: dict[str, Callable[[FakeGithub, Recorded], httpx.Response]] = {
    "release_by_tag": release_by_tag,
    "asset_upload_201": asset_upload_201,
    "duplicate_upload_422": duplicate_upload_422,
    "immutable_upload_422": immutable_upload_422,
    "asset_rename_patch": asset_rename_patch,
    "release_update_patch": release_update_patch,
    "asset_delete_204": asset_delete_204,
    "asset_download_302": asset_download_302,
    "asset_download_cdn_200": asset_download_cdn_200,
    "public_asset_download_302": public_asset_download_302,
    "public_download_url_302": public_download_url_302,
    "primary_rate_limit_403": primary_rate_limit_403,
    "secondary_rate_limit_403": _secondary,
    "secondary_rate_limit_429": _secondary,
}


# -- ARM replays -------------------------------------------------------------------------------


@pytest.fixture
def arm(azure: FakeAzure) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {azure.token}"}
    trust = ssl.create_default_context(cafile=str(azure.ca_path))
    with httpx.Client(base_url=azure.base_url, verify=trust, headers=headers) as client:
        yield client


def _run(arm: httpx.Client, azure: FakeAzure, *script: str) -> httpx.Response:
    path = (
        f"/subscriptions/{azure.subscription}/resourceGroups/{azure.resource_group}/providers/"
        f"Microsoft.Compute/virtualMachines/{azure.vm_name}/runCommand"
    )
    body = {"commandId": "RunShellScript", "script": list(script)}
    return arm.post(path, params={"api-version": "2026-04-01"}, json=body)


def _settled(arm: httpx.Client, azure: FakeAzure, started: httpx.Response) -> httpx.Response:
    """Poll the async URL until the operation leaves InProgress; its last status answer."""
    answer = arm.get(started.headers["azure-asyncoperation"])
    while answer.json()["status"] == "InProgress":
        time.sleep(0.05)
        answer = arm.get(started.headers["azure-asyncoperation"])
    return answer


def runcommand_post_202(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    azure.hold_s = 0.3
    answer = _run(arm, azure, "echo hello")
    async_url, monitor = (
        httpx.URL(answer.headers["azure-asyncoperation"]),
        httpx.URL(answer.headers["location"]),
    )
    assert async_url.path == monitor.path and monitor.params.get("monitor") == "true"
    recorded_async, recorded_monitor = map(
        httpx.URL, (recorded.header("azure-asyncoperation"), recorded.header("location"))
    )
    assert recorded_async.path == recorded_monitor.path and recorded_monitor.params.get("monitor") == "true"
    _settled(arm, azure, answer)
    return answer


def operation_inprogress(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    azure.hold_s = 1.0
    answer = arm.get(_run(arm, azure, "echo hello").headers["azure-asyncoperation"])
    assert answer.json()["status"] == recorded.body["status"] == "InProgress"
    while azure.running():
        time.sleep(0.05)
    return answer


def operation_succeeded(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    answer = _settled(arm, azure, _run(arm, azure, "echo hello"))
    assert answer.json()["status"] == recorded.body["status"]
    return answer


def final_get_location(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    started = _run(arm, azure, "echo hello")
    _settled(arm, azure, started)
    return arm.get(started.headers["location"])


def _ended(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    azure.outcome = recorded.body["status"]
    answer = _settled(arm, azure, _run(arm, azure, "echo hello"))
    assert answer.json()["status"] == recorded.body["status"]
    return answer


def conflict_in_progress_409(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    azure.busy = 1
    answer = _run(arm, azure, "echo hello")
    assert answer.json() == recorded.body  # the exact code and message: the remote matches on them
    return answer


def conflict_not_running_409(arm: httpx.Client, azure: FakeAzure, recorded: Recorded) -> httpx.Response:
    azure.not_running = True
    answer = _run(arm, azure, "echo hello")
    assert answer.json() == recorded.body
    return answer


AZURE: dict[str, Callable[[httpx.Client, FakeAzure, Recorded], httpx.Response]] = {
    "runcommand_post_202": runcommand_post_202,
    "operation_inprogress": operation_inprogress,
    "operation_succeeded": operation_succeeded,
    "final_get_location": final_get_location,
    "operation_failed": _ended,
    "operation_canceled": _ended,
    "conflict_in_progress_409": conflict_in_progress_409,
    "conflict_not_running_409": conflict_not_running_409,
}


# -- the tests ---------------------------------------------------------------------------------


def _files(folder: str) -> list[Path]:
    return sorted(p for p in (RECORDED / folder).iterdir() if p.is_file())


def test_every_recording_has_a_replay() -> None:
    """Nothing under ``recorded/`` goes unchecked, and every file names its source first."""
    cases = {**GITHUB, **AZURE, "extension_message": None}
    files = _files("github") + _files("azure")
    assert sorted(p.stem for p in files) == sorted(cases)
    for path in files:
        assert path.read_text(encoding="utf-8").startswith("# source: "), path.name


@pytest.mark.parametrize("path", _files("github"), ids=lambda p: p.stem)
def test_github_recording(path: Path, github: FakeGithub) -> None:
    recorded = _load(path)
    assert_matches(recorded, GITHUB[path.stem](github, recorded))


@pytest.mark.parametrize("path", [p for p in _files("azure") if p.stem in AZURE], ids=lambda p: p.stem)
def test_arm_recording(path: Path, azure: FakeAzure, arm: httpx.Client) -> None:
    recorded = _load(path)
    assert_matches(recorded, AZURE[path.stem](arm, azure, recorded))


def test_run_command_extension_message(azure: FakeAzure, arm: httpx.Client) -> None:
    """The status message: the prefix and format of the extension's source and of the recording, each
    stream cut to its last 4,096 bytes, so only the tail of a long output comes back."""
    spec: Any = YAML(typ="safe").load(
        (RECORDED / "azure" / "extension_message.yaml").read_text(encoding="utf-8")
    )
    shape = re.compile(re.escape(spec["prefix"]) + r"\n\[stdout\]\n(.*)\n\[stderr\]\n(.*)", re.DOTALL)
    recorded = _load(RECORDED / "azure" / spec["recorded"]).body["properties"]["output"]["value"][0][
        "message"
    ]
    assert shape.fullmatch(recorded)
    out = "".join(f"out {i:05d} " for i in range(700)) + "END-OF-STDOUT"  # about 7 KB on each stream
    err = "".join(f"err {i:05d} " for i in range(700)) + "END-OF-STDERR"
    answer = _settled(arm, azure, _run(arm, azure, f"printf '%s' '{out}'", f"printf '%s' '{err}' >&2"))
    message = answer.json()["properties"]["output"]["value"][0]["message"]
    tail = spec["max_tail_bytes"]
    assert message == spec["prefix"] + spec["format"].format(stdout=out[-tail:], stderr=err[-tail:])
    assert shape.fullmatch(message)
    assert split_output(message) == (out[-tail:] + "\n", err[-tail:])
