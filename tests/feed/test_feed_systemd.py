"""The template unit: clean ``systemd-analyze verify`` per instance, exposure ≤ 3.0, env examples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from feed.limits import DESCRIPTOR_RESERVE, Limits

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "nexy-feed@.service"
INSTALL_PREFIX = "/opt/nexy-release/.venv/bin/nexy-feed"
ANALYZE = shutil.which("systemd-analyze")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed on this machine"),
]


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    """The unit as installed, with ExecStart pointing at this checkout's console script."""
    text = UNIT.read_text()
    assert INSTALL_PREFIX in text
    (tmp_path / UNIT.name).write_text(
        text.replace(INSTALL_PREFIX, str(Path(sys.executable).with_name("nexy-feed")))
    )
    return tmp_path


def _analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=90, cwd=cwd, check=False)


@pytest.mark.parametrize("instance", ["production", "staging"])
def test_verify_prints_nothing(unit_dir: Path, instance: str) -> None:
    result = _analyze("verify", str(unit_dir / f"nexy-feed@{instance}.service"), cwd=unit_dir)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_behind_nginx_drop_in_replaces_the_command(unit_dir: Path) -> None:
    # Found through the unit path as systemd finds it; without its "ExecStart=" reset the unit
    # would have two commands and verify would refuse it.
    drop_in = REPO / "deploy" / "nginx" / "nexy-feed@.service.d" / "behind-nginx.conf"
    text = drop_in.read_text()
    assert "--host 127.0.0.1 " in text and "--certfile" not in text
    (unit_dir / drop_in.parent.name).mkdir()
    here = str(Path(sys.executable).with_name("nexy-feed"))
    (unit_dir / drop_in.parent.name / drop_in.name).write_text(text.replace(INSTALL_PREFIX, here))
    result = subprocess.run(
        [str(ANALYZE), "verify", "nexy-feed@production.service"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=unit_dir,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_dir}:"},
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_security_exposure_is_at_most_3(unit_dir: Path) -> None:
    result = _analyze(
        "security", "--offline=true", str(unit_dir / "nexy-feed@production.service"), cwd=unit_dir
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0


def test_unit_hardening_and_low_port_capability() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectHome=read-only",
        "ProtectSystem=strict",
        "EnvironmentFile=/etc/nexy-release/feed-%i.env",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert line in text.splitlines(), line


@pytest.mark.parametrize(("instance", "port"), [("production", "443"), ("staging", "4443")])
def test_instance_env_examples(instance: str, port: str) -> None:
    values = dict(
        line.split("=", 1)
        for line in (REPO / "systemd" / f"feed-{instance}.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert values["FEED_PORT"] == port
    assert values["FEED_ROOT"] == "/home/azureuser/voice-assistant"
    assert {"FEED_HOST", "FEED_ARGS"} <= values.keys()


def test_descriptor_and_memory_limits_fit_the_connection_cap() -> None:
    settings = dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line)
    assert int(settings["LimitNOFILE"]) >= Limits().max_connections + DESCRIPTOR_RESERVE
    assert settings["MemoryMax"].endswith("M") and int(settings["MemoryMax"][:-1]) <= 512
