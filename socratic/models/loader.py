"""Model factory: specs validated against the backend table (backends.py), one pool so each model loads once
per process."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import SocraticError
from .backends import _BACKENDS, backend, backend_loader, check_backend  # noqa: F401 - _BACKENDS, backend: API
from .base import MODEL_FAMILIES, Model


@dataclass(frozen=True)
class ModelSpec:
    """A named entry of `models:`: family, backend and backend options (id, path, package, device, ...)."""

    name: str
    family: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "ModelSpec":
        d = dict(d)
        family, backend = d.pop("family", None), d.pop("backend", None)
        if family not in MODEL_FAMILIES:
            raise SocraticError(f"unknown model family {family!r} (one of {sorted(MODEL_FAMILIES)})",
                                field=f"models.{name}.family")
        check_backend(family, backend, field=f"models.{name}.backend")
        return cls(name, family, backend, d)

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "backend": self.backend, **self.options}

    @property
    def key(self) -> str:
        """Identity of the loaded model: the spec without its local name."""
        local = self.options.get("path")
        stamp = None
        if local and Path(str(local)).exists():  # a changed local file is a different model
            st = Path(str(local)).stat()
            stamp = [st.st_size, st.st_mtime_ns]
        blob = json.dumps([self.family, self.backend, self.options, stamp], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_POOL: dict[str, Model] = {}
_LOCK = threading.Lock()


def load_model(spec: ModelSpec) -> Model:
    """The loaded model for `spec`, shared by every node (and pipeline) in this process."""
    with _LOCK:
        if spec.key not in _POOL:
            _POOL[spec.key] = backend_loader(spec.family, spec.backend)(spec)
        return _POOL[spec.key]


def is_loaded(spec: ModelSpec) -> bool:
    """Whether `load_model(spec)` would return at once (the model is already in this process)."""
    return spec.key in _POOL


def clear_pool() -> None:
    with _LOCK:
        _POOL.clear()


def pick_device(requested: str | None = None) -> torch.device:
    """`auto` (default) picks CUDA when present, else CPU."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(requested)
    except RuntimeError:
        raise SocraticError(f"unknown device {requested!r}", field="device") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SocraticError(f"device {requested!r} asked for, but CUDA is not available", field="device")
    return dev


def pick_dtype(requested: str | None, device: torch.device) -> torch.dtype:
    """`auto`: float16 on CUDA, float32 on CPU."""
    if requested in (None, "auto"):
        return torch.float16 if device.type == "cuda" else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if requested not in table:
        raise SocraticError(f"unknown dtype {requested!r} (one of {sorted(table)})", field="dtype")
    return table[requested]
