"""Content fingerprints of values (text, images, tensors, arrays, media files, lists, dicts): cache keys and
embedding memos use them. A leaf module: the engine and the model backends both import it."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .encoding import utf8

_lock = threading.Lock()
_file_digests: dict[tuple[str, int, int], str] = {}


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
        h.update(b"S" + str(len(value)).encode() + b":" + utf8(value, exact=True))
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
        h.update(b"P" + (file_digest(value).encode() if value.is_file() else utf8(str(value), exact=True)))
    else:
        h.update(b"R" + utf8(repr(value), exact=True))


def digest(*values: Any) -> str:
    """Content hash of any mix of text, images, tensors, arrays, files, lists and dicts."""
    h = hashlib.sha256()
    for v in values:
        _feed(h, v)
    return h.hexdigest()
