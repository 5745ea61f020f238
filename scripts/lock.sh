#!/usr/bin/env bash
# Regenerate constraints.txt (the exact versions setup.sh installs) from a venv set up from pyproject.toml alone:
#   bash scripts/lock.sh            # builds a throwaway venv, installs .[dev] unpinned, freezes it
# Run it after changing pyproject.toml's dependencies, then run the test command before committing the new file.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3.11}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
llama="$(sed -n 's/^llama[-_]cpp[-_]python==//p' "$REPO/constraints.txt")"
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q -U pip
bash "$REPO/scripts/llama_build.sh" "$tmp/venv" "$llama"   # the pinned llama.cpp, built portable
"$tmp/venv/bin/python" -m pip install -q -e "$REPO[dev]"
{ echo "# Exact versions for scripts/setup.sh (pip install -c). Regenerate: bash scripts/lock.sh"
  "$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v -i "^socratic\b" \
    | sed -E "s/^llama[-_]cpp[-_]python @ .*/llama-cpp-python==$llama/" | sort -f
} > "$REPO/constraints.txt.new"
mv "$REPO/constraints.txt.new" "$REPO/constraints.txt"
echo "wrote constraints.txt ($(grep -vc '^#' "$REPO/constraints.txt") packages)"
