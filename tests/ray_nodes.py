"""Tiny node types for the Ray engine tests; Ray workers import this module by name (tests/ on their path)."""

import os
import time
import uuid
from pathlib import Path

from socratic import node


@node("r_mark", outputs={"text": str}, cacheable=False)
def r_mark(text: str, *, seconds: float = 0.0, log_dir: str = "") -> str:
    """Upper-cases after a pause; leaves `log_dir/<text>.<pid>.<uuid>` behind so tests can count calls and
    see which process ran them."""
    if log_dir:
        Path(log_dir, f"{text}.{os.getpid()}.{uuid.uuid4().hex[:8]}").touch()
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


def calls(log_dir: Path) -> dict[str, list[int]]:
    """text -> pids of the processes that ran r_mark on it."""
    out: dict[str, list[int]] = {}
    for f in Path(log_dir).iterdir():
        text, pid, _ = f.name.rsplit(".", 2)
        out.setdefault(text, []).append(int(pid))
    return out
