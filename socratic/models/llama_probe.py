"""Is in-process llama.cpp usable on this machine? Asked once per library build, in a child process.

A llama.cpp build whose kernels the CPU or kernel refuses (measured: ggml's AMX matmul on a VM that reports
`amx_tile`) dies by SIGSEGV on the first decode, taking the whole run with it. So before the first in-process use,
a child process loads the GGUF and decodes a few tokens; its fate is the verdict, cached (in the socratic cache,
`llama_probe.json`) under a key of the library's files and the CPU's flags. `python -m socratic.models.llama_probe
GGUF` is the child.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ..paths import cache_root, write_atomic

FIX = ("rebuild it for this CPU: `bash scripts/setup.sh` (portable flags, no AMX), or set "
       "SOCRATIC_LLAMA_CMAKE_ARGS and rerun it")
PROBE_SECONDS = 180
_LOCK = threading.Lock()
_MEMO: dict[str, "Verdict"] = {}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # "" when ok
    build: str  # the cache key: library files + CPU flags

    def describe(self) -> str:
        return "usable" if self.ok else f"unusable: {self.reason}"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].split()
    except OSError:
        pass
    return [platform.machine()]


def library_files() -> list[Path]:
    """llama-cpp-python's shared libraries (without importing it: importing loads them)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    pkg = Path(list(spec.submodule_search_locations)[0])
    return sorted(p for p in pkg.rglob("*") if p.suffix in (".so", ".dylib", ".dll") or ".so." in p.name)


def build_key() -> str:
    h = hashlib.sha256()
    for f in library_files():
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    h.update(" ".join(sorted(cpu_flags())).encode())
    return h.hexdigest()[:16]


def build_flags() -> str:
    """The flags setup.sh built the library with (its stamp in the venv), or '' when built elsewhere."""
    stamp = Path(sys.prefix) / ".socratic-llama-build"
    try:
        lines = stamp.read_text().splitlines()
        return lines[1] if len(lines) > 1 else ""
    except OSError:
        return ""


def _cache_file() -> Path:
    return cache_root() / "llama_probe.json"


def _read_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def run_probe(gguf: Path, argv: list[str] | None = None, timeout: float = PROBE_SECONDS) -> tuple[bool, str]:
    """Run the child (`argv` replaces the command, for a stand-in) and say whether it decoded."""
    argv = argv or [sys.executable, "-m", "socratic.models.llama_probe", str(gguf)]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"the probe did not finish decoding in {timeout:.0f} s"
    if p.returncode == 0 and p.stdout.strip().endswith("decoded"):
        return True, ""
    if p.returncode < 0:
        return False, f"a test decode in a child process died by {_signal_name(p.returncode)}"
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return False, f"a test decode in a child process failed (exit {p.returncode}: {tail})"


def verdict(gguf: Path, argv: list[str] | None = None) -> Verdict:
    """The cached verdict for this library build, probing with `gguf` the first time."""
    key = build_key()
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
        entry = _read_cache().get(key)
        if entry is None:
            ok, reason = run_probe(gguf, argv)
            entry = {"ok": ok, "reason": reason}
            table = _read_cache()
            table[key] = entry
            write_atomic(_cache_file(), json.dumps(table, indent=1))
        v = _MEMO[key] = Verdict(bool(entry["ok"]), str(entry.get("reason", "")), key)
        return v


def forget() -> None:
    """Drop the in-process memo (tests; a rebuilt library gets a new key anyway)."""
    with _LOCK:
        _MEMO.clear()


def _child(gguf: str) -> None:
    import llama_cpp

    llm = llama_cpp.Llama(gguf, n_ctx=64, n_batch=16, n_threads=1, verbose=False)
    out = llm.create_completion("The sky is", max_tokens=4, temperature=0.0)
    assert isinstance(out["choices"][0]["text"], str)
    print("decoded", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _child(sys.argv[1])
