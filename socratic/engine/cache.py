"""Per-node, content-addressed disk cache. Entries are written atomically and checksummed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from ..fingerprint import digest
from ..paths import cache_dir, write_atomic

_MAGIC = b"SOCRATIC-CACHE-1\n"

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
