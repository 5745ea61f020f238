#!/usr/bin/env bash
# Idempotent setup: media tools (apt), a virtualenv reused across clones, llama-cpp-python built for this CPU,
# the package with its test extras pinned by constraints.txt (regenerate: bash scripts/lock.sh), then `socratic doctor`.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SOCRATIC_VENV:-$HOME/.cache/socratic-venv}"
PY="${PYTHON:-python3.11}"
t0=$(date +%s)

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v java >/dev/null || need_apt+=(default-jre-headless)   # caption metrics (pycocoevalcap)
command -v dot >/dev/null || need_apt+=(graphviz)                 # report DAGs as SVG
command -v chromium >/dev/null || need_apt+=(chromium)            # report tests: a real headless browser
command -v cc >/dev/null || need_apt+=(build-essential)           # llama-cpp-python compiles from source
command -v cmake >/dev/null || need_apt+=(cmake)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.socratic-stamp"
want_deps="$(cat "$REPO/pyproject.toml" "$REPO/constraints.txt" | sha256sum | cut -c1-16)"
have_deps="$(sed -n 1p "$stamp" 2>/dev/null || true)"
have_repo="$(sed -n 2p "$stamp" 2>/dev/null || true)"
llama_version="$(sed -n 's/^llama[-_]cpp[-_]python==//p' "$REPO/constraints.txt")"
[ "$want_deps" != "$have_deps" ] && "$VENV/bin/python" -m pip install -q -U "$(grep '^pip==' "$REPO/constraints.txt")"
bash "$REPO/scripts/llama_build.sh" "$VENV" "$llama_version"
if [ "$want_deps" != "$have_deps" ]; then
  "$VENV/bin/python" -m pip install -q -c "$REPO/constraints.txt" -e "$REPO[dev]"
elif [ "$REPO" != "$have_repo" ]; then
  "$VENV/bin/python" -m pip install -q --no-deps -e "$REPO"   # same deps, new checkout: re-point only
fi
printf '%s\n%s\n' "$want_deps" "$REPO" > "$stamp"
echo "setup took $(( $(date +%s) - t0 )) s"
"$VENV/bin/socratic" doctor --profile offline || echo "socratic doctor reports problems (see above)" >&2
echo "socratic ready: $VENV/bin/socratic"
