"""DOT text → inline SVG through graphviz `dot` when it is on PATH; None otherwise (the caller falls back)."""

from __future__ import annotations

import re
import shutil
import subprocess

TIMEOUT_S = 30


def dot_to_svg(dot: str) -> str | None:
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or "<svg" not in proc.stdout:
        return None
    svg = proc.stdout[proc.stdout.index("<svg"):]
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
