"""Per-node, content-addressed disk cache. Entries are written atomically and checksummed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sys
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


_REPORTED: set[str] = set()


def report_fault(root: Path, what: str, exc: BaseException) -> None:
    """One warning per cache directory and process: the run goes on without caching what failed."""
    if str(root) in _REPORTED:
        return
    _REPORTED.add(str(root))
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    print(f"warning: node cache at {root}: {what} ({reason}); running without caching it "
          "(--no-cache skips the cache)", file=sys.stderr)


class NodeCache:
    """`get(key)` -> (hit, value); `put(key, value)`. A damaged entry counts as a miss and is removed; an
    unreadable or unwritable directory or entry is a miss (one warning), never an error."""

    def __init__(self, root: str | Path | None = None):
        env = os.environ.get("SOCRATIC_NODE_CACHE")
        self.root = Path(root) if root else (Path(env) if env else None)
        try:
            self.root = self.root or cache_dir("nodes")
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.root = self.root or Path("~/.cache/socratic/nodes").expanduser()
            report_fault(self.root, "cannot create the directory", exc)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> tuple[bool, Any]:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return False, None
        except OSError as exc:
            report_fault(self.root, f"cannot read {path}", exc)
            return False, None
        try:
            header, checksum, payload = raw[: len(_MAGIC)], raw[len(_MAGIC): len(_MAGIC) + 64], raw[len(_MAGIC) + 64:]
            if header != _MAGIC or hashlib.sha256(payload).hexdigest().encode() != checksum:
                raise ValueError("checksum mismatch")
            return True, pickle.loads(payload)  # noqa: S301 - our own checksummed files
        except Exception as exc:
            report_fault(self.root, f"damaged entry {path} removed", exc)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return False, None

    def put(self, key: str, value: Any) -> None:
        buf = io.BytesIO()
        pickle.dump(value, buf, protocol=pickle.HIGHEST_PROTOCOL)
        payload = buf.getvalue()
        try:
            write_atomic(self._path(key), _MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)
        except OSError as exc:
            report_fault(self.root, f"cannot write {self._path(key)}", exc)


def node_key(node_type: str, version: str, params: dict[str, Any], models: dict[str, str], inputs: Any,
             seed: int) -> str:
    blob = json.dumps({"type": node_type, "v": version, "params": params, "models": models, "seed": seed},
                      sort_keys=True, default=repr)
    return digest(blob, inputs)
