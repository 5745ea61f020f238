"""CPU-specific `auto` defaults decided by timing on the running machine, cached per machine and library versions.

A default tuned on one CPU can be slower on another (measured: oneDNN's reordered matmuls are 2x faster than MKL
on an AVX-512 AMD box and 8x slower on an AMX Xeon). So `fastest()` times each candidate on a small stand-in of the
real workload the first time, keeps the winner in `<socratic cache>/tuning.json` under a key of the question, the
CPU (model, flags, usable cores, torch threads) and the library versions, and says why it chose it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .paths import cache_root, write_atomic

_LOCK = threading.Lock()
_MEMO: dict[str, "Choice"] = {}


@dataclass(frozen=True)
class Choice:
    name: str  # the winning candidate
    seconds: dict[str, float]  # median seconds of one workload per candidate
    cached: bool

    def why(self) -> str:
        times = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in self.seconds.items())
        return f"{self.name} (timed on this machine: {times}{'; cached' if self.cached else ''})"


def machine_key() -> str:
    model, flags = platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == platform.machine():
                model = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")) and not flags:
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    import torch

    return hashlib.sha256(f"{model}|{flags}|{cores}|{torch.get_num_threads()}".encode()).hexdigest()[:16]


def _median_seconds(candidates: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median seconds per candidate, timed in turns (A B A B ...) so a busy machine slows each alike."""
    for fn in candidates.values():
        fn()  # warm-up (first-call allocation, reorders)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def fastest(question: str, candidates: dict[str, Callable[[], object]], *, versions: str, prefer: str,
            margin: float = 1.15, reps: int = 7) -> Choice:
    """The candidate that runs its workload fastest here; `prefer` wins unless another is `margin`x faster."""
    key = f"{question}|{machine_key()}|{versions}"
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
        path = cache_root() / "tuning.json"
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError):
            table = {}
        hit = table.get(key)
        if hit and hit.get("name") in candidates:
            choice = Choice(hit["name"], dict(hit["seconds"]), True)
        else:
            seconds = _median_seconds(candidates, reps)
            best = min(seconds, key=seconds.get)
            name = best if seconds[best] * margin < seconds[prefer] else prefer
            choice = Choice(name, seconds, False)
            table[key] = {"name": name, "seconds": seconds, "question": question, "versions": versions}
            write_atomic(path, json.dumps(table, indent=1))
        _MEMO[key] = choice
        return choice
