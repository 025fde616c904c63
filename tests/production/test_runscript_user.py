"""Run Command's root scripts drop to the reconciler's user before calling its CLI (issue 9)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from release.outside.remote._runscript import build_script
from schemas.target import AzureRemote

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None,
    reason="dropping to another user needs root and util-linux's runuser",
)

# Stands in for the reconciler CLI: answers one RESULT line naming the uid it runs as.
FAKE_CLI = '/bin/sh -c \'printf "RESULT {\\"uid\\": %s}\\n" "$(id -u)"\''


def _run(script: list[str]) -> str:
    proc = subprocess.run(["/bin/sh", "-c", "\n".join(script)], capture_output=True, text=True, timeout=30)
    return proc.stdout.strip().splitlines()[-1]


def test_the_script_runs_the_cli_as_the_configured_user() -> None:
    assert _run(build_script(FAKE_CLI, "/etc/x.yaml", "status", ["--json"], user="nobody")) == (
        'RESULT {"uid": 65534}'
    )
    assert _run(build_script(FAKE_CLI, "/etc/x.yaml", "status", ["--json"])) == 'RESULT {"uid": 0}'


def test_the_production_target_names_the_user_and_a_bad_name_is_refused() -> None:
    assert (
        AzureRemote.model_validate({"kind": "azure", "reconciler_user": "azureuser"}).reconciler_user
        == "azureuser"
    )
    with pytest.raises(ValueError, match="reconciler_user"):
        AzureRemote.model_validate({"kind": "azure", "reconciler_user": "root; rm -rf /"})
