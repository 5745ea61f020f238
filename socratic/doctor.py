"""`socratic doctor`: each backend's and tool's health on this machine, one line each.

A check says `ok`, `warn` (works, degraded or optional and missing) or `FAIL` (something the profile needs is
broken); the command exits 1 when any check fails.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from typing import Callable


@dataclass
class Check:
    status: str  # ok | warn | FAIL
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<14} {self.detail}"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _tool(cmd: str, args: list[str], needed: bool, purpose: str) -> Check:
    path = shutil.which(cmd)
    if path is None:
        return Check("FAIL" if needed else "warn", cmd, f"not found on PATH ({purpose}); bash scripts/setup.sh "
                     "installs it")
    try:
        p = subprocess.run([path, *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        first = ((p.stdout or "") + (p.stderr or "")).strip().splitlines()
        return Check("ok", cmd, (first[0] if first else path)[:100])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("FAIL" if needed else "warn", cmd, f"{path} does not run: {exc}")


def check_torch() -> Check:
    import torch

    from .magic.packed_linear import auto_choice, onednn_available

    isa = torch.backends.cpu.get_cpu_capability()
    cuda = f", CUDA: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    matmuls = f"MAGiC matmuls: {auto_choice().why()}" if onednn_available() else "MAGiC matmuls: stock (no oneDNN)"
    return Check("ok", "torch", f"{torch.__version__}, {torch.get_num_threads()} threads, CPU ISA {isa}{cuda}; "
                 f"{matmuls}")


def check_llama(needed: bool) -> Check:
    from .models import llama_probe

    version = _version("llama_cpp_python")
    if version is None:
        return Check("FAIL" if needed else "warn", "llama.cpp", "llama-cpp-python not installed; `bash "
                     "scripts/setup.sh` builds it for this CPU")
    flags = llama_probe.build_flags() or "built outside scripts/setup.sh (flags unknown)"
    try:
        from .models.packaged import resolve_packaged

        gguf = resolve_packaged("smollm2-135m-instruct")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Check("warn", "llama.cpp", f"{version}, {flags}; not probed (no packaged GGUF: {exc})")
    v = llama_probe.verdict(gguf)
    if v.ok:
        return Check("ok", "llama.cpp", f"{version}, probe: usable; build: {flags}")
    return Check("FAIL" if needed else "warn", "llama.cpp",
                 f"{version}, probe: {v.reason}; the offline profile falls back to transformers; {llama_probe.FIX}")


def _packaged(name: str, label: str, needed: bool) -> Callable[[], Check]:
    def check() -> Check:
        from .models.packaged import resolve_packaged

        try:
            return Check("ok", label, f"packaged {name}: {resolve_packaged(name)}")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return Check("FAIL" if needed else "warn", label, str(exc)[:200])
    return check


def check_ocr(needed: bool) -> Check:
    v = _version("rapidocr_onnxruntime")
    if v is None:
        return Check("FAIL" if needed else "warn", "ocr", "rapidocr-onnxruntime not installed (scene text in the "
                     "egocentric log); `bash scripts/setup.sh` installs it")
    return Check("ok", "ocr", f"rapidocr-onnxruntime {v} (PP-OCRv4 weights inside the wheel)")


def check_ray() -> Check:
    v = _version("ray")
    return Check("ok", "ray", v) if v else Check("warn", "ray", "not installed (dataset runs use the local engine; "
                                                 "`pip install 'socratic[ray]'` for Ray)")


def checks(profile: str | None) -> list[Callable[[], Check]]:
    offline = profile == "offline"
    return [
        check_torch,
        lambda: Check("ok", "transformers", _version("transformers") or "?"),
        lambda: check_llama(offline),
        _packaged("smollm2-135m-instruct", "lm (offline)", offline),
        _packaged("whisper-base-ct2", "whisper", offline),
        _packaged("all-minilm-l6-v2", "text embed", offline),
        lambda: check_ocr(offline),
        lambda: _tool("ffmpeg", ["-version"], True, "video and audio decoding"),
        lambda: _tool("java", ["-version"], False, "caption metrics"),
        lambda: _tool("chromium", ["--version"], False, "report tests"),
        lambda: _tool("dot", ["-V"], False, "DAG drawings as SVG"),
        check_ray,
    ]


def run(profile: str | None) -> tuple[list[Check], int]:
    out = []
    for make in checks(profile):
        try:
            out.append(make())
        except Exception as exc:  # noqa: BLE001 - a broken check is a finding
            out.append(Check("FAIL", getattr(make, "__name__", "check"), f"{type(exc).__name__}: {exc}"[:200]))
    return out, int(any(c.status == "FAIL" for c in out))
