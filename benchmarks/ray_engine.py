"""Ray engine vs local dataset mode, side by side on one machine.

    python benchmarks/ray_engine.py [--items 60] [--ms 100] [--noop-items 300] [--repeats 2]

1. Throughput on a CPU-bound pipeline (pure-Python work per item): items/s local vs Ray with 2 local workers.
   "end to end" includes starting the actors (each imports socratic, hence torch); "steady" counts only the
   last 3/4 of the items, timed at the moment the driver writes each record, so start-up cancels out.
2. Per-item overhead Ray adds, from a no-op pipeline: steady seconds per item with Ray (one item per call) minus
   the same figure locally. Both modes write the same JSONL, but here without fsync (several ms on
   a busy disk, and as noisy), which would swamp the figure. With calls queued ahead (the default) the driver's
   writes overlap the workers' runs, so the bare round trip is also measured with no queue-ahead.
The node types live in this script (`__main__`), so they also exercise shipping node types by value.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import ray

from socratic import Pipeline, node
from socratic.engine.datasets import ray as ray_engine
from socratic.engine.datasets.output import OwnedOutput


@node("rb_spin", outputs={"n": int}, cacheable=False)
def rb_spin(text: str, *, loops: int = 1000) -> int:
    acc = 0
    for i in range(loops):
        acc = (acc * 31 + i) % 1_000_003
    return acc


@node("rb_noop", outputs={"text": str}, cacheable=False)
def rb_noop(text: str) -> str:
    return text


def one_node(node_type: str, **params) -> Pipeline:
    p = Pipeline(node_type).add_input("text", "text")
    p.add_node("n", node_type, params=params, inputs={"text": "inputs.text"}, cache=False)
    return p.add_output("n", "n")


WRITES: list[float] = []
_write = OwnedOutput.write


def _timed_write(self, record):
    _write(self, record)
    WRITES.append(time.perf_counter())


OwnedOutput.write = _timed_write  # both engines write through it, in the driver


def timed(p: Pipeline, n: int, tmp: Path, **opts) -> tuple[float, float]:
    """(seconds end to end, seconds per item over the last 3/4 of the items)."""
    WRITES.clear()
    rows = [{"id": str(i), "text": f"item {i}"} for i in range(n)]
    t = time.perf_counter()
    counts = p.run_dataset(rows, tmp / f"{time.perf_counter_ns()}.jsonl", cache=False, **opts)
    elapsed = time.perf_counter() - t
    assert counts == {"done": n, "skipped": 0, "failed": 0, "retried": 0}, counts
    q = n // 4
    return elapsed, (WRITES[-1] - WRITES[q - 1]) / (n - q)


def calibrate(ms: float) -> int:
    """Loops of rb_spin that take about `ms` milliseconds here."""
    loops, runs = 100_000, []
    for _ in range(5):
        t = time.perf_counter()
        rb_spin("", loops=loops)
        runs.append(time.perf_counter() - t)
    return max(1, int(loops * ms / 1000 / min(runs)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=60, help="items of the CPU-bound run")
    ap.add_argument("--ms", type=float, default=100, help="CPU work per item, milliseconds")
    ap.add_argument("--noop-items", type=int, default=300, help="items of the no-op run")
    ap.add_argument("--repeats", type=int, default=2, help="CPU-bound runs of each engine, alternated; best kept")
    args = ap.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    ray_opts = {"engine": "ray", "progress": False}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        n, m = args.items, args.noop_items
        spin = one_node("rb_spin", loops=calibrate(args.ms))
        timed(spin, 4, tmp)  # warm imports
        runs = [(timed(spin, n, tmp), timed(spin, n, tmp, workers=2, **ray_opts)) for _ in range(args.repeats)]
        local_s, local_per = (min(r[0][k] for r in runs) for k in (0, 1))  # best of each figure
        ray_s, ray_per = (min(r[1][k] for r in runs) for k in (0, 1))
        print(f"CPU-bound pipeline, {n} items x {local_per * 1000:.0f} ms (local), Ray with 2 local workers, "
              f"best of {args.repeats}")
        print(f"  {'local':30s} {n / local_s:7.2f} items/s end to end, {1 / local_per:7.2f} steady")
        print(f"  {'ray':30s} {n / ray_s:7.2f} items/s end to end, {1 / ray_per:7.2f} steady")
        print(f"  {'ratio ray/local':30s} {local_s / ray_s:7.2f}x end to end, {local_per / ray_per:7.2f}x steady")

        noop = one_node("rb_noop")
        fsync, os.fsync = os.fsync, lambda fd: None
        timed(noop, 4, tmp)
        _, local_noop = timed(noop, m, tmp)
        _, ray1 = timed(noop, m, tmp, workers=1, **ray_opts)
        _, ray2 = timed(noop, m, tmp, workers=2, **ray_opts)
        _, ray2_batched = timed(noop, m, tmp, workers=2, batch_size=16, **ray_opts)
        ray_engine.QUEUE_DEPTH = 1  # no call queued ahead: the round trip is no longer hidden behind the writes
        _, ray1_serial = timed(noop, m, tmp, workers=1, **ray_opts)
        print(f"No-op pipeline, {m} items (steady, ms per item, records written without fsync)")
        rows = [("local", local_noop), ("ray, 1 worker", ray1), ("ray, 2 workers", ray2),
                ("ray, 2 workers, batch_size 16", ray2_batched), ("ray, 1 worker, no queue-ahead", ray1_serial)]
        for label, per in rows:
            extra = "" if label == "local" else f"   overhead {(per - local_noop) * 1000:+.2f} ms/item"
            print(f"  {label:30s} {per * 1000:7.2f}{extra}")
        os.fsync = fsync
    ray.shutdown()


if __name__ == "__main__":
    main()
