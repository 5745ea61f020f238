#!/usr/bin/env bash
# The whole suite, slow tests (real SmolLM2, Whisper base, llama.cpp server, ffmpeg videos) included.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SOCRATIC_VENV:-$HOME/.cache/socratic-venv}"
cd "$REPO"
exec "$VENV/bin/python" -m pytest -q --timeout 1200 "$@"
