"""Engine overhead per node against a no-op node, and a cold run vs a fully cached re-run.

    python benchmarks/engine.py [--nodes 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from socratic import Pipeline, node
from socratic.models.loader import ModelSpec, load_model


@node("bench_noop", outputs={"text": str})
def bench_noop(text: str) -> str:
    return text


def chain(n: int) -> Pipeline:
    p = Pipeline("noop-chain").add_input("text", "text")
    prev = "inputs.text"
    for i in range(n):
        p.add_node(f"n{i}", "bench_noop", inputs={"text": prev}, cache=False)
        prev = f"n{i}.text"
    return p.add_output("text", prev)


def small_pipeline() -> Pipeline:
    p = Pipeline("caption-ish").add_input("place", "text")
    p.add_model("lm", "lm", "transformers", packaged="smollm2-135m-instruct")
    p.add_node("ask", "prompt", params={"template": "I am in a {place}. Three things I can see here are"},
               inputs={"place": "inputs.place"})
    p.add_node("gen", "lm_generate", params={"lm": "lm", "n": 4, "temperature": 0.9, "max_new_tokens": 24},
               inputs={"prompt": "ask.text"})
    p.add_node("all", "join", params={"sep": " | "}, inputs={"items": "gen.texts"})
    return p.add_output("texts", "all.text")


def best(fn, repeats: int) -> float:
    return min(_timed(fn) for _ in range(repeats))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    p = chain(args.nodes)
    p.run(text="x", cache=False)  # warm imports
    engine_s = best(lambda: p.run(text="x", cache=False), args.repeats)
    direct_s = best(lambda: [bench_noop("x") for _ in range(args.nodes)], args.repeats)
    per_node_us = (engine_s - direct_s) / args.nodes * 1e6
    print(f"engine overhead: {per_node_us:.0f} us/node over a no-op node ({args.nodes}-node chain, "
          f"{engine_s * 1e3:.1f} ms vs {direct_s * 1e3:.3f} ms direct)")

    sp = small_pipeline()
    load_model(ModelSpec.from_dict("lm", sp.models["lm"]))  # model load excluded from both sides
    colds, cached = [], []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            place = f"kitchen number {i}"
            colds.append(_timed(lambda: sp.run(place=place, cache_dir=d)))
            cached.append(_timed(lambda: sp.run(place=place, cache_dir=d)))
    cold, warm = statistics.median(colds), statistics.median(cached)
    print(f"small pipeline (prompt -> SmolLM2 x4 samples -> join): cold {cold * 1e3:.0f} ms, "
          f"cached {warm * 1e3:.1f} ms")
    print(f"cold_vs_cached={cold / warm:.1f}x engine_overhead_us_per_node={per_node_us:.0f}")


if __name__ == "__main__":
    main()
