"""A single run's progress on a terminal: one stderr line per node as it finishes (with its time and how many
are left), and a line before a model loads, so a first LM use that takes minutes shows a sign of life.
Only when stderr is a terminal: pipes, files and dataset runs (which have their own bar) get nothing."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def on_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class NodeLines:
    """`[3/12] caption/places [clip_classify] 1.4 s` per node; `loading model 'lm' (…)…` before a model loads."""

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.started = time.perf_counter()
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def loading(self, name: str, what: str) -> float:
        self._say(f"       loading model '{name}' ({what})…")
        return time.perf_counter()

    def loaded(self, name: str, since: float) -> None:
        self._say(f"       model '{name}' loaded in {time.perf_counter() - since:.1f} s")

    def finished(self, node: str, node_type: str, seconds: float, cached: bool) -> None:
        with self._lock:
            self.done += 1
            done = self.done
        how = "cached" if cached else f"{seconds:.1f} s"
        elapsed = time.perf_counter() - self.started
        self._say(f"[{done}/{self.total}] {node} [{node_type}] {how} · {elapsed:.0f} s so far")
