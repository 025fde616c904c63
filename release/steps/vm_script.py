"""The scripts ``vm.install``, ``vm.upgrade`` and ``vm.check`` run on the VM, and their answers.

Rules:
- The work is one bash script (``bash -n`` and shellcheck clean; also bash 3.2, macOS's, for the
  sandbox), generated from the target: every value is a quoted assignment at its top, nothing is
  spliced into its logic. Run Command and the fake ARM start scripts with ``/bin/sh``, so what is
  sent is a POSIX sh launcher holding the bash text in a quoted here-document (``launcher``).
- Every step is idempotent and prints ``step NAME: OUTCOME``; the answer is the last line,
  ``RESULT {json}`` (a ``VmReport`` or ``VmFacts``, well under Run Command's 4,096-byte tail).
  A second install of the same build writes nothing and answers ``action: "skip"``.
- A build lives in ``/opt/nexy-release/<build>`` with its own venv and is marked complete last
  (``.complete``), so a run killed midway is redone, never half used. ``current`` is a relative
  symbolic link switched in one rename (``ln -s`` + ``mv -T``); ``/opt/nexy-release/.venv`` is a
  link to ``current/venv``, the path the units and ``remote.reconciler_cli`` name.
- An upgrade whose checks fail switches ``current`` and the units back to the previous build and
  restarts it: ``action: "rolled_back"``, ``ok: false``. The daemon's state directory and the
  runtime tree are never written by the script (the restarted daemon carries on with them).
- Secrets are never sent, read or printed: ``/etc/nexy-reconciler/env`` is created empty (0600,
  root's) only when it is missing, and ``config.env`` is never opened.
- ``systemd: False`` (the sandbox, or an image tree under ``--root``) runs the same steps short of
  systemd: no useradd, no chown, no systemctl; those steps answer ``skip (<why>)``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

__all__ = ["ScriptInputs", "VmFacts", "VmReport", "check_body", "install_body", "launcher"]

SCRIPT_END = "NEXY_VM_SCRIPT_END"


class VmReport(BaseModel):
    """What ``vm.install`` / ``vm.upgrade`` did: one outcome per step."""

    model_config = ConfigDict(extra="forbid")
    ok: bool
    action: str  # installed | upgraded | skip | rolled_back | failed
    build: str
    previous: str
    steps: dict[str, str]
    error: str | None = None


class VmFacts(BaseModel):
    """What ``vm.check`` reads on the VM: the current build, unit and config digests, exposures."""

    model_config = ConfigDict(extra="forbid")
    build: str
    units: dict[str, str]
    config: str
    exposure: dict[str, str]


@dataclass(frozen=True)
class ScriptInputs:
    mode: str  # install | upgrade
    build: str
    wheel: str
    root: str  # "" on the VM; an image or sandbox tree otherwise
    systemd: bool
    skip_why: str
    service_user: str
    python: str
    config: str  # the reconciler config's path on the VM
    write_config: bool
    deps: str  # "index" (pip from PyPI, hash-pinned) or "link:<site-packages>" (the sandbox)
    artifact: str = ""  # a local .tar.gz, or:
    staged_dir: str = ""
    staged_sha: str = ""
    staged_parts: int = 0
    host: str = ""
    production_url: str = ""
    staging_url: str = ""
    ca_bundle: str = ""
    check_status: bool = True  # False in an image tree: its config names the booted VM's paths


def _assign(name: str, value: str | int | bool) -> str:
    text = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return f"{name}={shlex.quote(text)}"


def _header(inputs: ScriptInputs) -> list[str]:
    return [
        _assign("MODE", inputs.mode),
        _assign("BUILD", inputs.build),
        _assign("WHEEL", inputs.wheel),
        _assign("ROOT", inputs.root.rstrip("/")),
        _assign("SYSTEMD", inputs.systemd),
        _assign("SKIP", f"skip ({inputs.skip_why})"),
        _assign("SERVICE_USER", inputs.service_user),
        _assign("PYTHON", inputs.python),
        _assign("CONFIG", inputs.config),
        _assign("WRITE_CONFIG", inputs.write_config),
        _assign("DEPS", inputs.deps),
        _assign("ARTIFACT", inputs.artifact),
        _assign("STAGED_DIR", inputs.staged_dir),
        _assign("STAGED_SHA", inputs.staged_sha),
        _assign("STAGED_PARTS", inputs.staged_parts),
        _assign("HOST", inputs.host),
        _assign("PRODUCTION_URL", inputs.production_url.rstrip("/")),
        _assign("STAGING_URL", inputs.staging_url.rstrip("/")),
        _assign("CA_BUNDLE", inputs.ca_bundle),
        _assign("CHECK_STATUS", inputs.check_status),
    ]


_COMMON = r"""
OPT="$ROOT/opt/nexy-release"
ETC="$ROOT/etc/nexy-reconciler"
FEED_ETC="$ROOT/etc/nexy-release"
UNIT_DIR="$ROOT/etc/systemd/system"
SERVICES=(nexy-reconciler.service nexy-feed@production.service nexy-feed@staging.service)

# Step outcomes are fixed words and paths: quotes and backslashes are dropped, so the JSON stays JSON.
clean() { local text="$1"; text="${text//\"/}"; printf '%s' "${text//\\/}"; }

sha() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# The one rename that switches a link: GNU mv -T never moves into the directory the old link names;
# elsewhere (macOS, the sandbox) Python's os.replace is the same rename(2).
swap_link() {
  rm -f "$2.new"
  ln -s "$1" "$2.new"
  if mv --version >/dev/null 2>&1; then mv -T -f "$2.new" "$2"
  else "$PYTHON" -c 'import os, sys; os.replace(sys.argv[1], sys.argv[2])' "$2.new" "$2"; fi
}

as_user() {
  if [ "$SYSTEMD" = 1 ]; then runuser -u "$SERVICE_USER" -- "$@"; else "$@"; fi
}
"""

_INSTALL = r"""
STEPS=""
CURRENT="start"
ACTION="failed"
PREV=""
CHANGED=0
step() { printf 'step %s: %s\n' "$1" "$2"; STEPS="$STEPS${STEPS:+,}\"$1\":\"$(clean "$2")\""; }
result() {
  local error="null"
  [ -n "$3" ] && error="\"$(clean "$3")\""
  printf 'RESULT {"ok":%s,"action":"%s","build":"%s","previous":"%s","steps":{%s},"error":%s}\n' \
    "$1" "$2" "$(clean "$BUILD")" "$(clean "$PREV")" "$STEPS" "$error"
}
fail() { trap - ERR; result false "$ACTION" "$1"; exit 1; }
trap 'fail "step $CURRENT failed (line $LINENO; its output is on stderr)"' ERR
WORK=""
trap '[ -n "$WORK" ] && rm -rf "$WORK"' EXIT

CURRENT="user"
if [ "$SYSTEMD" = 0 ]; then step user "$SKIP"
elif id -u "$SERVICE_USER" >/dev/null 2>&1; then step user "$SERVICE_USER exists"
else
  useradd --system --user-group --create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  CHANGED=1; step user "$SERVICE_USER created"
fi

CURRENT="dirs"
mkdir -p "$OPT" "$ETC" "$FEED_ETC/tls" "$UNIT_DIR"
if [ "$SYSTEMD" = 1 ]; then
  chown root:root "$OPT" "$ETC" "$FEED_ETC" "$FEED_ETC/tls"
  chmod 0755 "$OPT" "$ETC" "$FEED_ETC" "$FEED_ETC/tls"
  if [ ! -e "$ETC/env" ]; then install -m 0600 -o root -g root /dev/null "$ETC/env"; CHANGED=1; fi
  step dirs "root:root 0755, env 0600"
else step dirs "made (owners: $SKIP)"; fi

CURRENT="tls"
if [ "$SYSTEMD" = 0 ]; then step tls "$SKIP"
elif [ -e "$FEED_ETC/tls/fullchain.pem" ] && [ -e "$FEED_ETC/tls/privkey.pem" ]; then step tls "present"
elif [ -d "/etc/letsencrypt/live/$HOST" ]; then
  ln -sfn "/etc/letsencrypt/live/$HOST/fullchain.pem" "$FEED_ETC/tls/fullchain.pem"
  ln -sfn "/etc/letsencrypt/live/$HOST/privkey.pem" "$FEED_ETC/tls/privkey.pem"
  CHANGED=1; step tls "linked to /etc/letsencrypt/live/$HOST"
else fail "no certificate: /etc/letsencrypt/live/$HOST is missing (docs/vm.md#tls)"; fi

CURRENT="artifact"
# The unpack directory is named by this shell's pid: $OPT is root's 0755 on the VM, so nobody else
# can make a name there first, and a leftover of a killed run with the same pid is cleared.
WORK="$OPT/.unpack.$$"
rm -rf "$WORK"
mkdir -m 0700 "$WORK"
if [ -n "$ARTIFACT" ]; then tar -xzf "$ARTIFACT" -C "$WORK"
else
  i=0
  while [ "$i" -lt "$STAGED_PARTS" ]; do
    part="$STAGED_DIR/$STAGED_SHA.$i"
    { [ -f "$part" ] && [ ! -L "$part" ]; } || fail "staged part $part is missing"
    # Each part file ends with the newline its here-document added; base64 has none of its own.
    tr -d '\n' < "$part" >> "$WORK/artifact.b64"
    i=$((i + 1))
  done
  [ "$(sha "$WORK/artifact.b64")" = "$STAGED_SHA" ] || fail "the staged parts do not add up to $STAGED_SHA"
  base64 -d < "$WORK/artifact.b64" | tar -xz -C "$WORK"
fi
[ "$(cat "$WORK/BUILD")" = "$BUILD" ] || fail "the artifact is not build $BUILD"
step artifact "unpacked build $BUILD"

CURRENT="release"
DEST="$OPT/$BUILD"
if [ -f "$DEST/.complete" ]; then step release "present"
else
  rm -rf "$DEST"
  mkdir -p "$DEST"
  PIP=("$DEST/venv/bin/python" -m pip --disable-pip-version-check -q)
  case "$DEPS" in
    index)
      "$PYTHON" -m venv "$DEST/venv" < /dev/null
      "${PIP[@]}" install --require-hashes --only-binary :all: -r "$WORK/requirements.lock" < /dev/null ;;
    link:*)
      # The linked site-packages hold pip too: a venv of its own would install (and compile) a second
      # pip, about 4 s of CPU a build, to install one wheel.
      "$PYTHON" -m venv --without-pip "$DEST/venv" < /dev/null
      site=$("$DEST/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
      printf '%s\n' "${DEPS#link:}" > "$site/nexy-workstation-deps.pth" ;;
  esac
  "${PIP[@]}" install --no-deps --no-index "$WORK/$WHEEL" < /dev/null
  cp -R "$WORK/systemd" "$DEST/systemd"
  cp "$WORK/requirements.lock" "$WORK/reconciler.yaml" "$WORK/BUILD" "$DEST/"
  if [ "$SYSTEMD" = 1 ]; then chown -R root:root "$DEST"; chmod -R go-w "$DEST"; fi
  : > "$DEST/.complete"
  CHANGED=1; step release "installed in $DEST"
fi

write_units() {
  local from="$1" count=0 name f
  for f in "$from"/*.service "$from"/*.path; do
    name=$(basename "$f")
    if ! cmp -s "$f" "$UNIT_DIR/$name"; then
      cp "$f" "$UNIT_DIR/.$name.tmp"
      chmod 0644 "$UNIT_DIR/.$name.tmp"
      mv -f "$UNIT_DIR/.$name.tmp" "$UNIT_DIR/$name"
      count=$((count + 1))
    fi
  done
  for f in "$from"/*.env; do
    name=$(basename "$f")
    # FEED_ARGS is the operator's: an env file that exists is kept.
    if [ ! -e "$FEED_ETC/$name" ]; then
      cp "$f" "$FEED_ETC/.$name.tmp"; chmod 0644 "$FEED_ETC/.$name.tmp"; mv -f "$FEED_ETC/.$name.tmp" "$FEED_ETC/$name"
      count=$((count + 1))
    fi
  done
  UNITS_WRITTEN=$count
}

# Called as a condition (errexit is off in there), so each command's failure is returned by hand.
restart() {
  if [ "$SYSTEMD" = 0 ]; then return 0; fi
  systemctl daemon-reload || return 1
  systemctl enable nexy-gate-restart.path "${SERVICES[@]}" || return 1
  systemctl start nexy-gate-restart.path || return 1
  systemctl restart "${SERVICES[@]}" || return 1
}

checks() {
  CHECK_WHY=""
  local answer
  if [ "$SYSTEMD" = 1 ]; then
    local url curl_ca=()
    [ -n "$CA_BUNDLE" ] && curl_ca=(--cacert "$CA_BUNDLE")
    for url in "$PRODUCTION_URL/health" "$PRODUCTION_URL/updates/health" "$STAGING_URL/health"; do
      if ! curl -fsS -o /dev/null --max-time 10 --retry 5 --retry-connrefused "${curl_ca[@]}" "$url"; then
        CHECK_WHY="$url does not answer 200"; return 1
      fi
    done
  fi
  [ "$CHECK_STATUS" = 1 ] || return 0
  answer=$(as_user "$OPT/current/venv/bin/nexy-reconciler" --config "$CONFIG" status --result < /dev/null | tail -n 1) || true
  case "$answer" in
    "RESULT "*) ;;
    *) CHECK_WHY="reconciler status gave no RESULT"; return 1 ;;
  esac
}

CURRENT="switch"
PREV=$(readlink "$OPT/current" 2>/dev/null || true)
SWITCHED=0
if [ "$PREV" = "$BUILD" ]; then step switch "current is $BUILD"
elif [ "$MODE" = install ] && [ -n "$PREV" ]; then
  fail "build $PREV is installed: use vm.upgrade"
else
  swap_link "$BUILD" "$OPT/current"
  SWITCHED=1; CHANGED=1; step switch "current: ${PREV:-none} -> $BUILD"
fi
if [ ! -L "$OPT/.venv" ]; then
  # A venv installed by hand (docs/vm.md's appendix) is kept aside, never deleted.
  if [ -e "$OPT/.venv" ]; then mv "$OPT/.venv" "$OPT/.venv.manual"; fi
  ln -s current/venv "$OPT/.venv"
  CHANGED=1
fi

CURRENT="units"
write_units "$OPT/current/systemd"
[ "$UNITS_WRITTEN" -gt 0 ] && CHANGED=1
step units "$UNITS_WRITTEN files written (units in $UNIT_DIR, feed env files kept when present)"

CURRENT="config"
if [ "$WRITE_CONFIG" = 0 ]; then step config "$SKIP"
elif [ ! -e "$CONFIG" ]; then
  cp "$OPT/current/reconciler.yaml" "$CONFIG.tmp"; chmod 0644 "$CONFIG.tmp"; mv -f "$CONFIG.tmp" "$CONFIG"
  CHANGED=1; step config "written"
elif cmp -s "$OPT/current/reconciler.yaml" "$CONFIG"; then step config "unchanged"
else step config "kept: differs from the target's (vm.check shows it)"; fi

CURRENT="verify"
if [ "$SYSTEMD" = 0 ]; then step verify "$SKIP"
else
  systemd-analyze verify "$UNIT_DIR/nexy-reconciler.service" "$UNIT_DIR/nexy-gate-restart.path" \
    "$UNIT_DIR/nexy-gate-restart.service"
  step verify "ok"
fi

CURRENT="start"
START_WHY=""
if [ "$SYSTEMD" = 0 ]; then step start "$SKIP"
elif [ "$CHANGED" = 1 ]; then
  # A build whose units do not start is a failed check, not a stop: the switch back below runs.
  if restart; then step start "restarted"
  else START_WHY="a unit did not start (systemctl --failed)"; step start "failed: $START_WHY"; fi
else
  systemctl start nexy-gate-restart.path "${SERVICES[@]}"
  step start "running"
fi

CURRENT="check"
if [ -z "$START_WHY" ] && checks; then
  if [ "$SYSTEMD" = 1 ]; then step check "health and reconciler status answer"
  elif [ "$CHECK_STATUS" = 1 ]; then step check "reconciler status answers (health: $SKIP)"
  else step check "$SKIP"; fi
  if [ "$CHANGED" = 0 ]; then ACTION="skip"
  elif [ "$SWITCHED" = 1 ] && [ -n "$PREV" ]; then ACTION="upgraded"
  else ACTION="installed"; fi
  result true "$ACTION" ""
  exit 0
fi
WHY="${START_WHY:-$CHECK_WHY}"
step check "failed: $WHY"
if [ "$SWITCHED" = 1 ] && [ -n "$PREV" ] && [ -f "$OPT/$PREV/.complete" ]; then
  CURRENT="rollback"
  swap_link "$PREV" "$OPT/current"
  write_units "$OPT/current/systemd"
  if ! restart; then fail "the checks of $BUILD failed ($WHY); switched back to $PREV, but its units did not start"; fi
  if checks; then step rollback "current: $BUILD -> $PREV, checks pass"
  else step rollback "current: $BUILD -> $PREV, checks still fail: $CHECK_WHY"; fi
  ACTION="rolled_back"
  fail "the checks of $BUILD failed ($WHY): switched back to $PREV"
fi
fail "the checks of $BUILD failed: $WHY"
"""

_CHECK = r"""
set +e
build=$(readlink "$OPT/current" 2>/dev/null)
units=""
exposure=""
for path in "$OPT/current/systemd"/*.service "$OPT/current/systemd"/*.path; do
  name=$(basename "$path")
  digest="missing"
  [ -f "$UNIT_DIR/$name" ] && digest=$(sha "$UNIT_DIR/$name")
  units="$units${units:+,}\"$(clean "$name")\":\"$digest\""
  # Only a service runs anything: a path unit has no sandboxing to rate. The score is the last line's
  # "Overall exposure level for UNIT: 1.7 OK", systemd-analyze(1)'s `security` verb.
  if [ "${name%.service}" != "$name" ] && [ -f "$UNIT_DIR/$name" ] && command -v systemd-analyze >/dev/null 2>&1; then
    score=$(systemd-analyze security --offline=true "$UNIT_DIR/$name" 2>/dev/null | tail -n 1 \
      | sed -n 's/.*: \([0-9][0-9.]*\) .*/\1/p')
    exposure="$exposure${exposure:+,}\"$(clean "$name")\":\"${score:-unrated}\""
  fi
done
config="missing"
[ -f "$CONFIG" ] && config=$(sha "$CONFIG")
printf 'RESULT {"build":"%s","units":{%s},"config":"%s","exposure":{%s}}\n' \
  "$(clean "$build")" "$units" "$config" "$exposure"
"""


def install_body(inputs: ScriptInputs) -> str:
    """The bash text of ``vm.install`` / ``vm.upgrade`` for ``inputs``."""
    return (
        "\n".join(
            [
                "#!/bin/bash",
                f"# nexy-release: vm.{inputs.mode} {inputs.build} (each step idempotent; the answer is the last RESULT line)",
                "set -Eeuo pipefail",
                "umask 022",
                *_header(inputs),
            ]
        )
        + _COMMON
        + _INSTALL
    )


def check_body(inputs: ScriptInputs) -> str:
    """The bash text of ``vm.check``: reads only."""
    return "\n".join(
        [
            "#!/bin/bash",
            "# nexy-release: vm.check (reads only)",
            "# shellcheck disable=SC2034  # the header is the install script's; a check reads only some of it",
            "set -u",
            *_header(inputs),
        ]
    ) + (_COMMON + _CHECK)


def launcher(body: str, what: str) -> list[str]:
    """The POSIX sh script (one list item per line) that Run Command starts: it runs ``body`` in bash."""
    if SCRIPT_END in body.splitlines():
        raise ValueError("the bash body holds the launcher's delimiter line")
    no_bash = 'RESULT {"ok":false,"script":"nexy-release","error":"no bash on the VM"}'
    return [
        "#!/bin/sh",
        f"# nexy-release: {what} (a bash script; this POSIX sh part only starts it)",
        f"command -v bash >/dev/null 2>&1 || {{ printf '%s\\n' '{no_bash}'; exit 1; }}",
        f"body=$(cat <<'{SCRIPT_END}'",
        *body.splitlines(),
        SCRIPT_END,
        ")",
        'exec bash -c "$body" nexy-vm',
    ]
