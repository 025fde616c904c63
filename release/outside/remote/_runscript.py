"""The shell scripts Azure Run Command runs on the VM, and reading their answer back.

Rules:
- Scripts are POSIX sh, write nothing of their own and only call the reconciler CLI, so running one
  twice (a re-sent POST) is harmless; the one exception is a long bundle's staging (``_staging``),
  whose scripts each rewrite one part file whole.
- A payload (the bundle) travels in the script text as a quoted here-document fed to the CLI's
  stdin, never as an argument: one argument is limited to 128 KiB (MAX_ARG_STRLEN), which long
  release notes pass. The payload is one line of JSON, so it can never equal the delimiter line.
- Each script ends with exactly one ``RESULT {json}`` line on stdout, the CLI's own (every command
  the workstation calls prints one); a CLI that dies without its answer still yields
  ``RESULT {"ok": false, "script": "nexy-release", "error": ...}`` with its exit code (``WRAPPER``
  marks such answers). Diagnostics go to stderr.
- Run Command reports success even for a failed script and returns only the last 4,096 bytes of
  each stream, so the RESULT line (last, and at most ``MAX_RESULT_BYTES`` by construction:
  ``schemas.fit``) is the only thing trusted. An empty answer with nothing on stderr is what the
  extension gives for a script it refused to write (over its 256 KiB): it is named as such.
"""

from __future__ import annotations

import shlex

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.remote.base import WRAPPER, Document, ResultLineError, parse_result_line

__all__ = ["PAYLOAD_END", "WRAPPER", "build_script", "drop_to", "read_answer", "split_output"]

PAYLOAD_END = "NEXY_RELEASE_PAYLOAD_END"

# The script builds a RESULT line itself only when the CLI gave none (the ``WRAPPER`` answer).
_PASS_RESULT = """\
printf '%s\\n' "$answer"
case "$(printf '%s\\n' "$answer" | tail -n 1)" in
  "RESULT "*) ;;
  *) printf 'RESULT {"ok":false,"script":"nexy-release","error":"reconciler {command} exited %s without its answer"}\\n' "$code" ;;
esac"""


def _run_line(argv: list[str], stdin: str | None) -> list[str]:
    if stdin is None:
        return [f"answer=$({shlex.join(argv)})"]
    if "\n" in stdin or "\r" in stdin:
        raise ValueError("a Run Command payload is one line of JSON")
    # Quoted delimiter: the shell expands nothing in the payload ($, `, \ stay as they are).
    return [f"answer=$({shlex.join(argv)} <<'{PAYLOAD_END}'", stdin, PAYLOAD_END, ")"]


def drop_to(user: str | None) -> list[str]:
    """The prefix that runs a command as ``user`` instead of Run Command's root (none without a user).

    runuser (util-linux, on every Ubuntu image) is root's own tool for this: no sudoers entry, no
    password, no terminal. The reconciler then touches the runtime tree only as its owner.
    """
    return ["runuser", "-u", user, "--"] if user else []


def build_script(
    cli: str,
    config: str,
    command: str,
    args: list[str],
    stdin: str | None = None,
    *,
    user: str | None = None,
) -> list[str]:
    """The Run Command script (one list item per line) that runs ``cli --config config command args``
    as ``user`` when given, with ``stdin`` (one line) as the CLI's standard input when given."""
    argv = [*drop_to(user), *shlex.split(cli), "--config", config, command, *args]
    return [
        "#!/bin/sh",
        f"# nexy-release: reconciler {command} (idempotent; the answer is the last RESULT line)",
        "set -u",
        *_run_line(argv, stdin),
        "code=$?",
        *_PASS_RESULT.replace("{command}", command).splitlines(),
    ]


def split_output(message: str) -> tuple[str, str]:
    """(stdout, stderr) from a RunShellScript status message (``...[stdout]\\n...\\n[stderr]\\n...``)."""
    _, found, rest = message.partition("[stdout]\n")
    if not found:
        return "", message
    stdout, _, stderr = rest.partition("[stderr]\n")
    return stdout, stderr


def read_answer(message: str, command: str, vm: str, model: type[Document]) -> Document:
    """The RESULT document in a Run Command status ``message``, validated as ``model``; one line
    naming what went wrong if there is none.

    A wrapped answer (the CLI died) is an error too, reported with the last stderr line.
    """
    stdout, stderr = split_output(message)
    err_lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last_err = err_lines[-1] if err_lines else "nothing on stderr"
    try:
        return parse_result_line(stdout, model, command)
    except ResultLineError as exc:
        if exc.kind == "missing" and not stdout.strip() and not err_lines:
            text = (
                f"reconciler {command} on {vm} gave no output at all: Run Command reports success "
                "without running a script it could not write (one over 256 KiB of base64, maxScriptSize)"
            )
        elif exc.kind == "missing":
            text = (
                f"reconciler {command} on {vm} gave no RESULT line (only the last 4,096 bytes of "
                f"output come back): {last_err}"
            )
        elif exc.kind == "wrapper":
            text = f"reconciler {command} on {vm}: {exc}: {last_err}"
        else:
            text = f"{exc} (on {vm})"
        raise ReleaseError(text, CHECK_FAILED) from None
