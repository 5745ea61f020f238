"""Tiny node types for the Ray engine tests; Ray workers import this module by name (tests/ on their path)."""

import os
import time
from pathlib import Path

from socratic import node


@node("r_mark", outputs={"text": str}, cacheable=False)
def r_mark(text: str, *, seconds: float = 0.0, log_dir: str = "") -> str:
    """Upper-cases after a pause; leaves `log_dir/<text>.<pid>.<ns>` behind so tests can count calls and
    see which process ran them."""
    if log_dir:
        Path(log_dir, f"{text}.{os.getpid()}.{time.time_ns()}").touch()
    time.sleep(seconds)
    return text.upper()


@node("r_crash", outputs={"text": str}, cacheable=False)
def r_crash(text: str) -> str:
    """Kills its own process on the text 'crash' (a segfault in a model, as far as Ray can tell)."""
    if text == "crash":
        os._exit(1)
    return text


@node("r_fail", outputs={"text": str})
def r_fail(text: str) -> str:
    if text == "bad":
        raise ValueError("bad item")
    return text


@node("r_batch", outputs={"text": str}, batched=True, cacheable=False)
def r_batch(text: str, *, log_dir: str = "", flag: str = "") -> list[str]:
    """Upper-cases a whole batch in one call, logging its size; fails while the file `flag` exists."""
    if log_dir:
        Path(log_dir, f"batch.{os.getpid()}.{time.time_ns()}").write_text(str(len(text)))
    if flag and Path(flag).exists():
        raise ConnectionError("service unavailable")
    return [t.upper() for t in text]


def batch_sizes(log_dir: Path) -> list[int]:
    return sorted(int(f.read_text()) for f in Path(log_dir).glob("batch.*"))


def calls(log_dir: Path) -> dict[str, list[int]]:
    """text -> pids of the processes that ran r_mark on it, first call first."""
    out: dict[str, list[int]] = {}
    for f in sorted(Path(log_dir).iterdir(), key=lambda f: int(f.name.rsplit(".", 1)[1])):
        text, pid, _ = f.name.rsplit(".", 2)
        out.setdefault(text, []).append(int(pid))
    return out
