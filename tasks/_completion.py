"""Tab completion for ``./inv``: invoke's own completion scripts, bound to the names a person types.

Rules: the script is invoke's template (``invoke/completion/{bash,zsh,fish}.completion``) filled in
for the program names ``inv`` and ``./inv`` (``BINARY_NAMES``, also what ``--complete`` strips from
the command line it is given). Its call back into the program runs the command the person typed
(the command line's first word, so ``./inv`` completes from the checkout without being on PATH) and
hands it the words after it behind the name ``inv``, so a path such as ``~/nexy/inv`` completes too.
A template that no longer has the call this rewrites is an error, never a script that silently
calls a program that is not there.
"""

from __future__ import annotations

from pathlib import Path

import invoke.completion

__all__ = ["BINARY_NAMES", "SHELLS", "completion_script"]

BINARY_NAMES = ["inv", "./inv"]
SHELLS = ("bash", "zsh", "fish")

# The template's call back into the program (after formatting with binary "inv") and what it becomes.
_CALLS = {
    "bash": (
        "`inv --complete -- ${COMP_WORDS[*]}`",
        '`"${COMP_WORDS[0]}" --complete -- inv ${COMP_WORDS[*]:1}`',
    ),
    "zsh": (
        "    reply=( $(inv ${=collection_arg} --complete -- ${words}) )",
        # compctl -K functions get the command line from `read -cA` (zshbuiltins(1), read): the
        # template's $words is compsys's array, empty here.
        "    local -a line\n    read -cA line\n"
        "    reply=( $(${line[1]} ${=collection_arg} --complete -- inv ${line[2,-1]}) )",
    ),
    "fish": (
        "    inv --complete -- (commandline --tokenize)",
        "    set -l words (commandline --tokenize)\n    $words[1] --complete -- inv $words[2..-1]",
    ),
}


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (bash, zsh or fish); ValueError for any other."""
    if shell not in SHELLS:
        raise ValueError(f"--print-completion-script {shell!r}: use bash, zsh or fish")
    template = Path(invoke.completion.__file__).parent / f"{shell}.completion"
    script = template.read_text(encoding="utf-8").format(binary="inv", spaced_names=" ".join(BINARY_NAMES))
    call, typed = _CALLS[shell]
    if call not in script:
        raise ValueError(f"invoke's {shell} completion template changed: update tasks/_completion.py")
    return script.replace(call, typed)
