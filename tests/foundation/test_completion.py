"""Tab completion for ``./inv``: the script invoke prints is bound to ``inv`` and ``./inv``, calls back
the command the person typed, and a real bash, zsh and fish complete task names and a task's flags
with it (each skipped where that shell is not installed)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_inv


def _script(shell: str) -> str:
    done = run_inv("--print-completion-script", shell)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_script_binds_to_the_names_a_person_types() -> None:
    bash, zsh, fish = _script("bash"), _script("zsh"), _script("fish")
    assert "complete -F _complete_inv -o default inv ./inv" in bash
    assert '`"${COMP_WORDS[0]}" --complete -- inv ${COMP_WORDS[*]:1}`' in bash
    assert "compctl -K _complete_inv + -f inv ./inv" in zsh
    assert (
        "read -cA line" in zsh and "$(${line[1]} ${=collection_arg} --complete -- inv ${line[2,-1]})" in zsh
    )
    assert "complete --command inv --no-files" in fish and "$words[1] --complete -- inv" in fish
    for script in (bash, zsh, fish):
        assert "__main__" not in script  # the name python ran, which no shell has on its PATH


def test_complete_strips_the_program_name_it_is_given() -> None:
    tasks = run_inv("--complete", "--", "./inv", "sta").stdout.split()
    assert {"staging.open", "staging.close", "staging.validate"} <= set(tasks)
    flags = run_inv("--complete", "--", "./inv", "staging.open", "--").stdout.split()
    assert "--reason" in flags and "--target" in flags  # staging.open's flags, not invoke's core ones


def test_an_unknown_shell_is_one_line() -> None:
    done = run_inv("--print-completion-script", "ksh")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --print-completion-script 'ksh': use bash, zsh or fish"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_dot_slash_inv_from_the_checkout() -> None:
    script = _script("bash")
    # What bash does on TAB: set COMP_WORDS/COMP_CWORD and call the function `complete -p` names.
    probe = (
        f"{script}\n"
        "complete -p ./inv\n"
        "COMP_WORDS=(./inv sta); COMP_CWORD=1; _complete_inv ./inv sta ./inv; echo ${COMPREPLY[*]}\n"
        "COMP_WORDS=(./inv staging.open --re); COMP_CWORD=2; _complete_inv ./inv --re staging.open\n"
        "echo ${COMPREPLY[*]}\n"
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile"],
        input=probe,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    binding, tasks, flags = done.stdout.strip().splitlines()
    assert binding == "complete -o default -F _complete_inv ./inv"
    assert tasks.split() == ["status", "staging.close", "staging.open", "staging.validate"]
    assert flags == "--reason"


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_dot_slash_inv_from_the_checkout(tmp_path: Path) -> None:
    script = tmp_path / "inv.fish"
    script.write_text(_script("fish"))
    # `complete -C LINE` prints what fish offers on TAB for LINE (fish's complete(1)).
    probe = f'source {script}; complete -C "./inv sta"; echo ==; complete -C "./inv staging.open --re"'
    done = subprocess.run(
        ["fish", "--no-config", "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    tasks, flags = done.stdout.split("==\n")
    assert tasks.split() == ["staging.close", "staging.open", "staging.validate", "status"]
    assert flags.split() == ["--reason"]


def _type_tab_in_zsh(script: Path, line: str, until: bytes) -> bytes:
    """An interactive zsh on a pseudo-terminal: source the script, type ``line`` and TAB, read until
    ``until`` shows (zsh draws completions only on a terminal)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become zsh, without the person's rc files
        os.chdir(REPO)
        os.execvpe("zsh", ["zsh", "-f", "-i"], {**os.environ, "TERM": "dumb", "PS1": "$ "})  # noqa: S606
    seen = b""
    try:
        os.write(fd, f"source {script}\n".encode() + line.encode() + b"\t")
        deadline = time.monotonic() + 120
        while until not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                seen += os.read(fd, 65536)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return seen


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_dot_slash_inv_from_the_checkout(tmp_path: Path) -> None:
    script = tmp_path / "inv.zsh"
    script.write_text(_script("zsh"))
    listed = _type_tab_in_zsh(script, "./inv sta", b"staging.validate")
    assert b"staging.close" in listed and b"staging.open" in listed and b"staging.validate" in listed
    flag = _type_tab_in_zsh(script, "./inv staging.open --re", b"--reason")
    assert b"./inv staging.open --reason" in flag
