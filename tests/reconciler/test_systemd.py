"""The unit file: systemd-analyze verify prints nothing, and the security exposure is 3.0 or less."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "nexy-reconciler.service"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = [
    pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (.ci/run installs it)"),
    pytest.mark.timeout(120),
]


def _installed_copy(tmp_path: Path) -> Path:
    # verify checks that ExecStart exists: point it at this checkout's console script.
    script = Path(sys.executable).parent / "nexy-reconciler"
    text = UNIT.read_text().replace("/opt/nexy-release/.venv/bin/nexy-reconciler", str(script))
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    return copy


def test_unit_verifies_clean(tmp_path: Path) -> None:
    proc = subprocess.run(
        [ANALYZE, "verify", str(_installed_copy(tmp_path))],
        capture_output=True,
        text=True,  # type: ignore[list-item]
        timeout=60,
        check=False,
    )
    assert proc.stdout + proc.stderr == ""


def test_unit_exposure_at_most_3(tmp_path: Path) -> None:
    proc = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(_installed_copy(tmp_path))],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert match, proc.stdout[-500:] + proc.stderr
    assert float(match.group(1)) <= 3.0


def test_unit_has_the_required_settings() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "Restart=on-failure",
        "StateDirectory=nexy-reconciler",
        "ProtectHome=read-only",
        "ReadWritePaths=/home/azureuser/voice-assistant/server/config",
        "WatchdogSec=",
        "StartLimitBurst=",
    ):
        assert line in text, line
    assert "ProtectHome=yes" not in text
