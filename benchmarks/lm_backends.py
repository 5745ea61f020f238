"""The offline LM (packaged SmolLM2-135M-Instruct) on the egocentric workloads, four ways, side by side.

    python benchmarks/lm_backends.py [--threads 1] [--repeat 3] [--prompts 8]

- activity: `--prompts` activity prompts x n=5 samples x 16 new tokens (T=0.9, top_p 0.95), chat-wrapped;
- summary: one log prompt of about 2k tokens, greedy, 96 new tokens, chat-wrapped.

Contenders: transformers sequential (one row at a time), transformers batched (rows of 8, a prefill per row),
transformers shared-prefill (a prompt's n samples share one prefill), llama.cpp in process (llama-cpp-python on the
GGUF itself). Each figure is the best of `--repeat` interleaved runs (robust to other jobs on the box).

Last line: llama_cpp_vs_transformers = (best transformers time / llama.cpp time) over both workloads together,
shared_prefill_vs_batched = batched time / shared-prefill time on the activity workload (above 1: faster).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.ego_prompts import activity_prompts, log_lines, summary_prompt  # noqa: E402

from socratic.models.loader import ModelSpec, load_model  # noqa: E402

PACKAGED = "smollm2-135m-instruct"


def summary_of_about(lm, tokens: int) -> str:
    n = 10
    while lm.count_tokens(summary_prompt(log_lines(n + 5)), chat=True) <= tokens:
        n += 5
    return summary_prompt(log_lines(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for both libraries (1 on a loaded box)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=8, help="activity prompts (each sampled n=5 times)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tf = load_model(ModelSpec.from_dict("tf", {"family": "lm", "backend": "transformers", "packaged": PACKAGED,
                                               "device": "cpu"}))
    lc = load_model(ModelSpec.from_dict("lc", {"family": "lm", "backend": "llama_cpp", "packaged": PACKAGED,
                                               "n_threads": args.threads}))
    acts = activity_prompts(args.prompts, seed=3)
    summ = summary_of_about(tf, 2000)
    act_kw = dict(n=5, max_new_tokens=16, temperature=0.9, top_p=0.95, seed=5, chat=True)
    sum_kw = dict(max_new_tokens=96, chat=True)

    def tf_as(batch: int, shared: bool):
        def run(prompts, kw):
            tf.batch_size, tf.shared_prefill = batch, shared
            return tf.generate(prompts, **kw)
        return run

    contenders = {"transformers sequential": tf_as(1, False), "transformers batched": tf_as(8, False),
                  "transformers shared-prefill": tf_as(8, True), "llama.cpp": lambda p, kw: lc.generate(p, **kw)}
    workloads = {"activity": (acts, act_kw), "summary": ([summ], sum_kw)}
    best: dict[tuple[str, str], float] = {}
    outs: dict[tuple[str, str], list] = {}
    tf.generate(acts[:1], max_new_tokens=2)  # warm-up: first calls pay one-off kernel setup
    lc.generate(acts[:1], max_new_tokens=2)
    for r in range(args.repeat):
        for wname, (prompts, kw) in workloads.items():
            for cname, run in contenders.items():
                if wname == "summary" and cname != "llama.cpp" and cname != "transformers batched":
                    continue  # one greedy prompt: sequential, batched and shared-prefill are the same work
                t0 = time.perf_counter()
                outs[(wname, cname)] = run(prompts, kw)
                dt = time.perf_counter() - t0
                best[(wname, cname)] = min(dt, best.get((wname, cname), dt))
        print(f"run {r + 1}/{args.repeat}: " + ", ".join(f"{w}/{c} {t:.2f}s" for (w, c), t in best.items()),
              flush=True)

    print(f"\nSmolLM2-135M-Instruct, {args.threads} thread(s), best of {args.repeat}; activity: {len(acts)} prompts "
          f"x 5 samples x 16 tokens; summary: {tf.count_tokens(summ, chat=True)}-token prompt, greedy, 96 tokens")
    for (w, c), t in best.items():
        n_tok = sum(len(x.tokens) for row in outs[(w, c)] for x in (row if w == "activity" else row[:1]))
        print(f"  {w:9s} {c:28s} {t:7.2f} s  ({n_tok} tokens generated)")
    same = outs[("summary", "llama.cpp")][0][0].text == outs[("summary", "transformers batched")][0][0].text
    print(f"  summary text identical across backends: {same}")
    tf_best = min(best[("activity", c)] for c in contenders if c != "llama.cpp") + best[
        ("summary", "transformers batched")]
    lc_total = best[("activity", "llama.cpp")] + best[("summary", "llama.cpp")]
    shared = best[("activity", "transformers batched")] / best[("activity", "transformers shared-prefill")]
    hybrid = best[("activity", "llama.cpp")] + best[("summary", "transformers batched")]
    print(f"  offline profile (hybrid: sampling on llama.cpp, greedy on transformers), from the figures above: "
          f"{hybrid:.2f} s vs {tf_best:.2f} s best transformers, {lc_total:.2f} s llama.cpp")
    print(f"llama_cpp_vs_transformers={tf_best / lc_total:.2f} shared_prefill_vs_batched={shared:.2f}")


if __name__ == "__main__":
    main()
