"""Per-node, content-addressed disk cache. Entries are written atomically and checksummed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .paths import cache_dir, write_atomic

_MAGIC = b"SOCRATIC-CACHE-1\n"
_file_digests: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised on (path, size, mtime)."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _file_digests:
            return _file_digests[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with _lock:
        _file_digests[key] = h.hexdigest()
    return _file_digests[key]


def _feed(h: "hashlib._Hash", value: Any) -> None:
    from .types import Audio, Video

    if isinstance(value, (Video, Audio)):
        h.update(b"F" + file_digest(value).encode())
    elif isinstance(value, str):
        h.update(b"S" + str(len(value)).encode() + b":" + value.encode())
    elif isinstance(value, Image.Image):
        h.update(b"I" + f"{value.mode}{value.size}".encode() + value.tobytes())
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(b"T" + f"{t.dtype}{tuple(t.shape)}".encode() + t.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        h.update(b"N" + f"{a.dtype}{a.shape}".encode() + a.tobytes())
    elif isinstance(value, dict):
        h.update(b"D" + str(len(value)).encode())
        for k in sorted(value, key=str):
            _feed(h, str(k))
            _feed(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(b"L" + str(len(value)).encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, Path):
        h.update(b"P" + (file_digest(value).encode() if value.is_file() else str(value).encode()))
    else:
        h.update(b"R" + repr(value).encode())


def digest(*values: Any) -> str:
    """Content hash of any mix of text, images, tensors, arrays, files, lists and dicts."""
    h = hashlib.sha256()
    for v in values:
        _feed(h, v)
    return h.hexdigest()


class NodeCache:
    """`get(key)` -> (hit, value); `put(key, value)`. A corrupted entry counts as a miss and is removed."""

    def __init__(self, root: str | Path | None = None):
        env = os.environ.get("SOCRATIC_NODE_CACHE")
        self.root = Path(root) if root else (Path(env) if env else cache_dir("nodes"))
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> tuple[bool, Any]:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return False, None
        try:
            header, checksum, payload = raw[: len(_MAGIC)], raw[len(_MAGIC): len(_MAGIC) + 64], raw[len(_MAGIC) + 64:]
            if header != _MAGIC or hashlib.sha256(payload).hexdigest().encode() != checksum:
                raise ValueError("checksum")
            return True, pickle.loads(payload)  # noqa: S301 - our own checksummed files
        except Exception:
            path.unlink(missing_ok=True)
            return False, None

    def put(self, key: str, value: Any) -> None:
        buf = io.BytesIO()
        pickle.dump(value, buf, protocol=pickle.HIGHEST_PROTOCOL)
        payload = buf.getvalue()
        write_atomic(self._path(key), _MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)


def node_key(node_type: str, version: str, params: dict[str, Any], models: dict[str, str], inputs: Any,
             seed: int) -> str:
    blob = json.dumps({"type": node_type, "v": version, "params": params, "models": models, "seed": seed},
                      sort_keys=True, default=repr)
    return digest(blob, inputs)
