"""Per-node, content-addressed disk cache. Entries are written atomically, and each is signed: an HMAC keyed by a
per-user secret (`node-cache.key` in the user's cache root, mode 0600) covers the entry's key and bytes, and an
entry is unpickled only when its signature holds, so that a file someone else put in the cache folder can never
run code (docs/trust.md)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import pickle
import secrets
import stat
import sys
import threading
from pathlib import Path
from typing import Any

from ..fingerprint import digest
from ..paths import cache_dir, cache_root, write_atomic

_MAGIC = b"SOCRATIC-CACHE-2\n"  # 2: signed (1 was checksummed only); entries of 1 are misses
_MAC_LEN = 64  # hex sha256
KEY_FILE = "node-cache.key"

_REPORTED: set[str] = set()
_SECRETS: dict[str, bytes] = {}
_SECRET_LOCK = threading.Lock()


def node_cache_secret() -> bytes:
    """This user's signing key: created once (32 random bytes, 0600); one readable by others or owned by someone
    else is replaced, with a warning (entries signed with it are recomputed)."""
    path = cache_root() / KEY_FILE
    with _SECRET_LOCK:
        if str(path) not in _SECRETS:
            _SECRETS[str(path)] = _load_or_make_secret(path)
        return _SECRETS[str(path)]


def _load_or_make_secret(path: Path) -> bytes:
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            _new_secret(path, replace=False)
            continue
        except OSError:  # e.g. a symlink put there
            _replace_secret(path, "is not a plain file")
            continue
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077 or len(data) != 32:
            _replace_secret(path, "was readable by others, not yours or damaged")
            continue
        return data
    raise OSError(f"cannot create the node cache key {path}")


def _replace_secret(path: Path, why: str) -> None:
    print(f"warning: node cache key {path} {why}: replaced by a new one (cached results are recomputed)",
          file=sys.stderr)
    _new_secret(path, replace=True)


def _new_secret(path: Path, *, replace: bool) -> None:
    """A fresh key at `path`, written whole with mode 0600 before it appears; a key another process made first
    wins unless `replace`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


def report_fault(root: Path, what: str, exc: BaseException, kind: str = "fault") -> None:
    """One warning per cache directory, kind and process: the run goes on without caching what failed."""
    if f"{kind}:{root}" in _REPORTED:
        return
    _REPORTED.add(f"{kind}:{root}")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    print(f"warning: node cache at {root}: {what} ({reason}); running without caching it "
          "(--no-cache skips the cache)", file=sys.stderr)


class NodeCache:
    """`get(key)` -> (hit, value); `put(key, value)`. An entry whose signature fails is a miss (one warning) and
    is never unpickled; an unreadable or unwritable directory or entry is a miss (one warning), never an error."""

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

    def _sign(self, key: str, payload: bytes) -> bytes | None:
        try:
            secret = node_cache_secret()
        except OSError as exc:
            report_fault(self.root, "no signing key", exc)
            return None
        return hmac.new(secret, key.encode() + b"\0" + payload, hashlib.sha256).hexdigest().encode()

    def get(self, key: str) -> tuple[bool, Any]:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return False, None
        except OSError as exc:
            report_fault(self.root, f"cannot read {path}", exc)
            return False, None
        if raw[: len(_MAGIC)] != _MAGIC:
            return False, None  # another version's entry (or not an entry): recomputed and replaced
        mac, payload = raw[len(_MAGIC): len(_MAGIC) + _MAC_LEN], raw[len(_MAGIC) + _MAC_LEN:]
        expected = self._sign(key, payload)
        if expected is None:
            return False, None
        if not hmac.compare_digest(mac, expected):  # never unpickled: it could run code
            report_fault(self.root, f"entry {path} is not signed with this user's key (damaged, forged, or written "
                         "by another user); not loaded, recomputed", ValueError("signature mismatch"), kind="sign")
            return False, None
        try:
            return True, pickle.loads(payload)  # noqa: S301 - signed by this user's key
        except Exception as exc:
            report_fault(self.root, f"unreadable entry {path} removed", exc)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return False, None

    def put(self, key: str, value: Any) -> None:
        buf = io.BytesIO()
        pickle.dump(value, buf, protocol=pickle.HIGHEST_PROTOCOL)
        payload = buf.getvalue()
        mac = self._sign(key, payload)
        if mac is None:
            return
        try:
            write_atomic(self._path(key), _MAGIC + mac + payload)
        except OSError as exc:
            report_fault(self.root, f"cannot write {self._path(key)}", exc)


def node_key(node_type: str, version: str, params: dict[str, Any], models: dict[str, str], inputs: Any,
             seed: int) -> str:
    blob = json.dumps({"type": node_type, "v": version, "params": params, "models": models, "seed": seed},
                      sort_keys=True, default=repr)
    return digest(blob, inputs)
