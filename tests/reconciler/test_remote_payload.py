"""The workstation's sandbox remote sends the bundle on stdin: long release notes pass the 128 KiB
limit the kernel puts on one argument (MAX_ARG_STRLEN), and the real CLI still takes them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from release.outside.remote.local import LocalRemote
from release.parts.target import load_target
from schemas import Bundle

from .helpers import REPO, Vm, bundle, run_cli

pytestmark = pytest.mark.timeout(120)


def long_notes_bundle() -> Bundle:
    b = bundle()
    notes = {"release_notes": "é\n$HOME `x` \\ " * 4_500}  # under the schema's 65,536 characters
    assert b.stable is not None and b.beta is not None
    return b.model_copy(
        update={"stable": b.stable.model_copy(update=notes), "beta": b.beta.model_copy(update=notes)}
    )


def test_local_remote_accepts_a_bundle_larger_than_one_argument(vm: Vm, tmp_path: Path) -> None:
    b = long_notes_bundle()
    assert len(base64.b64encode(b.model_dump_json().encode())) > 128 << 10
    remote = LocalRemote(load_target("sandbox", REPO), calls_log=tmp_path / "calls.jsonl")
    remote.config = vm.config
    result = remote.accept(b)
    assert result.ok and result.desired_digest == b.digest()
    assert json.loads(run_cli(vm, "diff", "--json").stdout)["desired_digest"] == b.digest()
    assert run_cli(vm, "once").returncode == 0 and vm.runtime_matches(b)


def test_local_remote_sends_explicit_nulls(vm: Vm, tmp_path: Path) -> None:
    """A gate-only bundle from the workstation names stable and beta as null, so the VM takes it."""
    remote = LocalRemote(load_target("sandbox", REPO), calls_log=tmp_path / "calls.jsonl")
    remote.config = vm.config
    gate_only = bundle(stable=None, beta=None)
    result = remote.accept(gate_only)
    assert result.ok and result.changed == ["beta_gate.json"]
