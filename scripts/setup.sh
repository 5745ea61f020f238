#!/usr/bin/env bash
# Idempotent setup: media tools (apt), a virtualenv reused across clones, the package with its test extras.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SOCRATIC_VENV:-$HOME/.cache/socratic-venv}"
PY="${PYTHON:-python3.11}"

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v java >/dev/null || need_apt+=(default-jre-headless)   # caption metrics (pycocoevalcap)
command -v dot >/dev/null || need_apt+=(graphviz)                 # report DAGs as SVG
command -v chromium >/dev/null || need_apt+=(chromium)            # report tests: a real headless browser
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.socratic-stamp"
want_deps="$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
have_deps="$(sed -n 1p "$stamp" 2>/dev/null || true)"
have_repo="$(sed -n 2p "$stamp" 2>/dev/null || true)"
if [ "$want_deps" != "$have_deps" ]; then
  "$VENV/bin/python" -m pip install -q -U pip
  "$VENV/bin/python" -m pip install -q -e "$REPO[dev]"
elif [ "$REPO" != "$have_repo" ]; then
  "$VENV/bin/python" -m pip install -q --no-deps -e "$REPO"   # same deps, new checkout: re-point only
fi
printf '%s\n%s\n' "$want_deps" "$REPO" > "$stamp"
echo "socratic ready: $VENV/bin/socratic"
