"""A payload too long for one Run Command script: measured, cut into parts, or refused.

Rules:
- Azure's Linux Run Command extension does not write a script whose base64 text is over
  ``maxScriptSize = 256 * 1024`` bytes (Azure/run-command-extension-linux, main/cmds.go), yet
  reports "Enable succeeded" with empty streams. Every script is measured the extension's way
  before it is sent (``script_size``); one over ``SAFE_SCRIPT_BYTES`` (224 KiB, room for how the
  platform wraps it) is never sent.
- A longer bundle goes in at most ``MAX_PARTS`` parts: each part is one root-run script that writes
  ``<staging_dir>/<sha256>.<i>`` whole (a temp name, then ``mv``), so a re-sent POST rewrites the
  same file; then ``accept --staged`` reads the parts, checks the sha256 and commits as usual. The
  accept script leaves the parts (a re-sent accept must find them again); the first part of the
  next staged bundle removes every other bundle's parts. The staging directory is made by root,
  mode 0755: only root writes it, the reconciler's user reads it. A bundle that needs more parts is refused with one
  line naming its size, the limit and the field that makes it big.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from typing import Any

from release.errors import BAD_INPUT, ReleaseError
from release.outside.remote._runscript import PAYLOAD_END, WRAPPER

__all__ = [
    "MAX_PARTS",
    "MAX_SCRIPT_BYTES",
    "SAFE_SCRIPT_BYTES",
    "biggest_field",
    "script_size",
    "sha256_of",
    "split_payload",
    "stage_script",
    "too_long",
]

MAX_SCRIPT_BYTES = 256 * 1024
SAFE_SCRIPT_BYTES = 224 * 1024
MAX_PARTS = 8
# Raw payload bytes per part: base64 makes 3 bytes 4, and a staging script's own lines stay under 2 KiB.
PART_BYTES = SAFE_SCRIPT_BYTES * 3 // 4 - 2048


def script_size(lines: list[str]) -> int:
    """What the extension compares with maxScriptSize: the length of the script text in base64."""
    return len(base64.b64encode(("\n".join(lines) + "\n").encode()))


def split_payload(payload: str, part_bytes: int = PART_BYTES) -> list[str]:
    """``payload`` in pieces of at most ``part_bytes`` bytes of UTF-8, cut between characters."""
    parts: list[str] = []
    data = payload.encode()
    while data:
        cut = min(part_bytes, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:  # never inside a character
            cut -= 1
        parts.append(data[:cut].decode())
        data = data[cut:]
    return parts


def sha256_of(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


def stage_script(staging_dir: str, sha256: str, index: int, count: int, part: str) -> list[str]:
    """The root-run script writing part ``index`` (from 0) of ``count`` whole, then its RESULT line."""
    directory = shlex.quote(staging_dir.rstrip("/"))
    final = shlex.quote(f"{staging_dir.rstrip('/')}/{sha256}.{index}")
    temp = shlex.quote(f"{staging_dir.rstrip('/')}/.{sha256}.{index}.tmp")
    fail = f'RESULT {{"ok":false,"script":"{WRAPPER}","error":"cannot stage part {index + 1} of {count} in {staging_dir}: %s"}}'
    return [
        "#!/bin/sh",
        f"# nexy-release: stage part {index + 1} of {count} of bundle {sha256} (rewritten whole: idempotent)",
        "set -u",
        "umask 022",
        f"fail() {{ printf '{fail}\\n' \"$1\"; exit 1; }}",
        f'[ -L {directory} ] && fail "the directory is a symbolic link"',
        f'mkdir -p {directory} && chmod 0755 {directory} || fail "mkdir failed"',
        *(_sweep(directory, sha256) if index == 0 else []),
        f"cat > {temp} <<'{PAYLOAD_END}' || fail \"write failed\"",
        part,
        PAYLOAD_END,
        f'mv -f {temp} {final} || fail "rename failed"',
        f'printf \'RESULT {{"ok":true,"part":{index},"bytes":{len(part.encode())}}}\\n\'',
    ]


def _sweep(directory: str, sha256: str) -> list[str]:
    """Lines removing every part that is not this bundle's (spent or abandoned stagings)."""
    return [
        f"for f in {directory}/*; do",
        f'  case "$f" in {directory}/{sha256}.*) ;; *) [ -f "$f" ] && rm -f "$f" ;; esac',
        "done",
    ]


def _leaves(document: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
    if isinstance(document, dict):
        return [leaf for key, value in document.items() for leaf in _leaves(value, (*path, str(key)))]
    if isinstance(document, list):
        return [leaf for i, value in enumerate(document) for leaf in _leaves(value, (*path, str(i)))]
    return [(path, len(json.dumps(document, ensure_ascii=False).encode()))]


def biggest_field(payload: str) -> tuple[str, int]:
    """("release_notes of beta", its bytes in the payload): the field that makes a bundle big."""
    path, size = max(_leaves(json.loads(payload), ()), key=lambda leaf: leaf[1])
    where = ".".join(path[1:]) or path[0]
    return (f"{where} of {path[0]}" if len(path) > 1 else where), size


def too_long(payload: str, parts: int, max_parts: int) -> ReleaseError:
    """The one line refusing a bundle that needs more than ``max_parts`` Run Commands."""
    field, size = biggest_field(payload)
    return ReleaseError(
        f"the bundle is {len(payload.encode()):,} bytes and would need {parts} Run Commands; at most "
        f"{max_parts} are sent, each script under {SAFE_SCRIPT_BYTES >> 10} KiB of base64 (the Run Command "
        f"extension's limit is {MAX_SCRIPT_BYTES >> 10} KiB): {field} is {size:,} bytes, shorten it",
        BAD_INPUT,
    )
