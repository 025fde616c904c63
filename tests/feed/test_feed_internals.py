"""The uvicorn, uvloop and asyncio internals the feed's limits layer uses (``feed.internals``):
every one exists on the installed packages, the list misses none the feed's code touches, and a
missing one stops ``nexy-feed`` at start with one line naming it."""

from __future__ import annotations

import re
import subprocess
import sys

from feed.internals import INTERNALS, Internal, missing_internals
from schemas import ExitCode
from tests.feed.feedkit import REPO, RuntimeTree, free_port

LAYER = [REPO / "feed" / "server.py", *sorted((REPO / "feed" / "protocol").glob("*.py"))]
_PROTOCOL = "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"


def test_every_internal_the_feed_uses_is_on_the_installed_packages() -> None:
    missing = missing_internals()
    assert not missing, "\n" + "\n".join(missing)


def test_every_inherited_name_the_limits_layer_reaches_is_listed() -> None:
    # A ``self.name`` that a module of the layer neither defines nor assigns is inherited from
    # uvicorn (or the loop's TLS protocol): each must be a row, private or not.
    listed = {row.name for row in INTERNALS}
    unlisted = {}
    for path in LAYER:
        source = path.read_text()
        used = set(re.findall(r"\bself\.(\w+)", source))
        own = set(re.findall(r"\bdef (\w+)", source))
        own |= set(re.findall(r"\bself\.(\w+)\s*(?::[^=\n]+)?=[^=]", source))
        own |= set(re.findall(r"^    (\w+): ", source, re.M))  # a class's declared fields
        if used - own - listed:
            unlisted[path.relative_to(REPO).as_posix()] = sorted(used - own - listed)
    assert unlisted == {}


def test_a_changed_package_is_one_line_per_missing_piece() -> None:
    rows = (
        Internal(_PROTOCOL, "_unset_keepalive_if_required_gone", "feed/protocol/connection.py"),
        Internal(_PROTOCOL, "cycle_gone", "feed/protocol/connection.py", on_instance=True),
        Internal("uvloop.loop.SSLProtocol", "__init__", "feed/protocol/tls.py", params=("loop", "handshake")),
        Internal("uvicorn.server.Server", "on_tick", "feed/server.py", params=("counter",)),
    )
    uvicorn_v = _minor("uvicorn")
    uvloop_v = _minor("uvloop")
    assert missing_internals(rows) == [
        f"uvicorn {uvicorn_v} no longer has HttpToolsProtocol._unset_keepalive_if_required_gone: "
        f"feed/protocol/connection.py needs it; pin uvicorn<{uvicorn_v} or port the limits layer",
        f"uvicorn {uvicorn_v} no longer has HttpToolsProtocol.cycle_gone: "
        f"feed/protocol/connection.py needs it; pin uvicorn<{uvicorn_v} or port the limits layer",
        f"uvloop {uvloop_v} no longer takes handshake in SSLProtocol.__init__: "
        f"feed/protocol/tls.py needs it; pin uvloop<{uvloop_v} or port the limits layer",
    ]


def test_the_feed_refuses_to_start_on_a_uvicorn_without_them(tree: RuntimeTree) -> None:
    # A real nexy-feed process whose uvicorn lost one private method before main() runs.
    script = (
        "import sys\n"
        "from uvicorn.protocols.http import httptools_impl\n"
        "del httptools_impl.HttpToolsProtocol._unset_keepalive_if_required\n"
        "from feed.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--root", str(tree.root), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    uvicorn_v = _minor("uvicorn")
    assert (done.returncode, done.stderr) == (
        ExitCode.STARTUP_FAILED,
        f"nexy-feed: error: uvicorn {uvicorn_v} no longer has HttpToolsProtocol._unset_keepalive_if_required: "
        f"feed/protocol/connection.py needs it; pin uvicorn<{uvicorn_v} or port the limits layer\n",
    )


def _minor(dist: str) -> str:
    from importlib.metadata import version

    return ".".join(version(dist).split(".")[:2])
