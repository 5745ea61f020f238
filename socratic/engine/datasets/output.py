"""An owned JSONL output: a header beside it (`OUT.socratic.json`: pipeline digest, run options), one writer at a
time (flock), and the records already there (the latest record of an item wins).

A file without our header is never touched. Only a torn final line (a write cut by a kill) is ever repaired.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from ...encoding import json_document, utf8
from ...errors import SocraticError
from ...json_lines import LENIENT, jsonl_lines
from ...paths import naming, write_atomic
from ...trace_schema import HEADER_SUFFIX
from ..jsonl import latest_records  # callers read it from here too

FORMAT = 1
SYNC_EVERY_S = 0.25  # fsync at most this often while running, and always on close


def header_path(out: Path) -> Path:
    return out.with_name(out.name + HEADER_SUFFIX)


def read_header(out: Path) -> dict[str, Any] | None:
    try:
        head = json.loads(header_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) and head.get("socratic_output") == FORMAT else None


def _differences(head: dict[str, Any], digest: str, options: dict[str, Any]) -> list[str]:
    diffs = []
    if head.get("digest") != digest:
        diffs.append(f"the pipeline changed (digest {str(head.get('digest'))[:12]} → {digest[:12]})")
    old = head.get("options") or {}
    for key in sorted(set(old) | set(options)):
        if old.get(key) != options.get(key):
            diffs.append(f"option {key}: {old.get(key)!r} → {options.get(key)!r}")
    return diffs


def check_out_path(out: Path, *, dataset: Any = None, flag: str = "--out", example: str = "results.jsonl") -> None:
    """Before any work: `flag` names a file we may write in a folder we can write."""
    where = str(out)
    if out.is_dir():
        raise SocraticError(f"{flag} is a folder; give a file such as {example}", file=where)
    if isinstance(dataset, (str, Path)) and out.exists() and Path(dataset).exists() \
            and os.path.samefile(out, dataset):
        raise SocraticError(f"{flag} is the dataset itself; choose another file", file=where)
    parent = out.parent if str(out.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise SocraticError(f"{flag}'s folder {parent} cannot be created ({probe} is a file)", file=where)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SocraticError(f"{flag}'s folder {probe} is not writable", file=where)


def check_owned(out: Path, digest: str, options: dict[str, Any], *, resume_anyway: bool, restart: bool) -> None:
    """Refuse, before touching anything, a file that is not our output, or an output of another pipeline or
    other options unless told what to do."""
    if not out.exists() or out.stat().st_size == 0:
        return
    head = read_header(out)
    if head is None:
        raise SocraticError(f"refusing to write to an existing file that is not a socratic dataset output (no "
                            f"{header_path(out).name} beside it); nothing was changed — choose another --out",
                            file=str(out))
    diffs = _differences(head, digest, options)
    if diffs and not (resume_anyway or restart):
        raise SocraticError(f"this output was written by another run: {'; '.join(diffs)}. Add --resume-anyway to "
                            "add to it, or --restart to start it over", file=str(out))


def _holder_pid(fd: int) -> int | None:
    """The pid holding a flock on fd's file, from /proc/locks (Linux)."""
    st = os.fstat(fd)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == dev and parts[4].isdigit():
            return int(parts[4])
    return None


class OwnedOutput:
    """Open with `open()` (locks, repairs a torn tail, reads the records); `write(record)`; `close()`."""

    def __init__(self, out: str | Path, *, id_key: str, digest: str, options: dict[str, Any],
                 describe: dict[str, Any] | None = None):
        self.path = Path(out)
        self.id_key, self.digest, self.options = id_key, digest, options
        self.describe = describe or {}
        self.fd: int | None = None
        self.synced = 0.0
        self.latest: dict[str, dict[str, Any]] = {}

    def open(self, *, resume_anyway: bool = False, restart: bool = False) -> "OwnedOutput":
        check_owned(self.path, self.digest, self.options, resume_anyway=resume_anyway, restart=restart)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            head = read_header(self.path) or {}
            pid = _holder_pid_path(self.path) or head.get("pid")
            who = f"pid {pid}" if pid else "another process"
            raise SocraticError(f"another run ({who}) is writing this output; wait for it or choose another --out",
                                file=str(self.path)) from None
        self.fd = fd
        try:
            # under the lock: what another run may have written since the check
            check_owned(self.path, self.digest, self.options, resume_anyway=resume_anyway, restart=restart)
            head = read_header(self.path) if os.fstat(fd).st_size else None
            if restart or head is None:
                os.ftruncate(fd, 0)
                head = None
            self._write_header(head)
            self._load()
        except BaseException:
            self.close()
            raise
        return self

    def _write_header(self, head: dict[str, Any] | None) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        new = {"socratic_output": FORMAT, "records": self.path.name, **self.describe, "digest": self.digest,
               "options": self.options, "created": now, "pid": os.getpid(), "history": []}
        if head is not None:
            new["created"], new["history"] = head.get("created", now), list(head.get("history") or [])
            if _differences(head, self.digest, self.options):  # --resume-anyway: say so, keep the past
                new["history"].append({"at": now, "digest": head.get("digest"), "options": head.get("options")})
        write_atomic(header_path(self.path), json.dumps(new, indent=2, ensure_ascii=False) + "\n")

    def _load(self) -> None:
        """Read every record; cut only a torn final line; a damaged line elsewhere is an error."""
        with open(self.path, "rb") as f:
            raw = f.read()
        try:
            lines = list(jsonl_lines(raw, str(self.path), LENIENT))
        except SocraticError as exc:
            raise self._not_ours(exc.line) from None
        last = 0
        for line in lines:
            if self.id_key not in line.value:
                raise self._not_ours(line.number)
            self.latest[str(line.value[self.id_key])] = line.value
            last = line.number
        tail = raw[raw.rfind(b"\n") + 1:]  # b"" when the file ends with a newline
        if tail.strip():
            if last == raw.count(b"\n") + 1:  # complete but for its newline
                os.write(self.fd, b"\n")
            else:  # a write cut short: drop just these bytes
                os.ftruncate(self.fd, len(raw) - len(tail))

    def _not_ours(self, line: int | None) -> SocraticError:
        return SocraticError("this line is not a record written by socratic (was the file edited?); fix or delete "
                             "it, or use --restart", file=str(self.path), line=line)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record in one write call: a killed process leaves whole lines (or a torn last one). Synced
        to disk every SYNC_EVERY_S and on close, so a machine crash costs at most that much work."""
        text, _ = json_document(record)  # a NaN is written as null, and the record's warnings say so
        try:
            os.write(self.fd, utf8(text + "\n"))
            self.latest[str(record[self.id_key])] = json.loads(text)
            if time.monotonic() - self.synced > SYNC_EVERY_S:
                os.fsync(self.fd)
                self.synced = time.monotonic()
        except OSError as exc:
            raise naming(exc, self.path) from None

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.fsync(self.fd)
            except OSError as exc:
                raise naming(exc, self.path) from None
            finally:
                os.close(self.fd)  # releases the lock
                self.fd = None


def _holder_pid_path(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _holder_pid(fd)
    finally:
        os.close(fd)
