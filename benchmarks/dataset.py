"""Dataset executor: items/s at batch size 1 vs 8 vs 32, and its overhead per item, side by side in one run.

    python benchmarks/dataset.py [--images 64] [--device cpu|cuda] [--threads N] [--overhead-items 400]

1. A CLIP + LM pipeline over `--images` distinct images: a random-init ViT-B/32-shaped open_clip CLIP picks the
   top 3 of 20 labels (one batched image encoding per batch), the packaged SmolLM2-135M (transformers) writes 8
   greedy tokens from them (one batched generate per batch). The dataset runs at batch size 1, 8 and 32 with the
   node cache off and CLIP's image memo cleared before each; the three outputs must be identical.
2. Executor overhead: a one-node pipeline (a prompt template: no model) over `--overhead-items` rows, through
   the executor (rows, checks, owned output with fsync per record, lock, counts) against a plain loop of
   `Pipeline.run` on the same rows; the difference per item.
Last line: batch8_vs_1=<x> batch32_vs_1=<y> overhead_ms_per_item=<z>
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

LABELS = ["cat", "dog", "cup", "coffee", "rocket", "person", "astronaut", "flag", "table", "car", "tree", "sky",
          "house", "book", "phone", "bird", "horse", "boat", "chair", "flower"]


def clip_lm_pipeline(device: str):
    from socratic import Pipeline
    from socratic.registry import get_node_type

    p = Pipeline("clip_lm")
    p.models["clip"] = {"family": "vlm", "backend": "open_clip", "name": "ViT-B-32", "random_init": True,
                        "batch_size": 32, "device": device}
    p.models["lm"] = {"family": "lm", "backend": "transformers", "packaged": "smollm2-135m-instruct",
                      "batch_size": 32, "device": device}
    p.add_input("image", "image")
    p.add_node("labels", "clip_classify", params={"vlm": "clip", "vocab": LABELS, "top_k": 3},
               inputs={"image": "inputs.image"})
    p.add_node("objects", "join", inputs={"items": "labels.labels"})
    p.add_node("q", "prompt", params={"template": "Objects in the photo: {objects}. A short caption:"},
               inputs={"objects": "objects.text"})
    gen = {"lm": "lm", "max_new_tokens": 8}
    if "chat" in get_node_type("lm_generate").params:
        gen["chat"] = False
    p.add_node("caption", "lm_generate", params=gen, inputs={"prompt": "q.text"})
    return p.add_output("caption", "caption.text").add_output("labels", "labels.labels")


def make_images(folder: Path, n: int) -> Path:
    from socratic.media.sample import sample_images

    stills = list(sample_images().values())
    rows = []
    for i in range(n):
        im = stills[i % len(stills)].rotate(7 * i).resize((224, 224))
        im.save(folder / f"{i:03d}.png")
        rows.append({"id": f"{i:03d}", "image": f"{i:03d}.png"})
    data = folder / "images.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def clear_image_memos() -> None:
    from socratic.models import loader

    for model in loader._POOL.values():
        if hasattr(model, "_image_memo"):
            model._image_memo.clear()


def outputs(out: Path) -> dict:
    from socratic.engine.datasets.output import latest_records

    return {k: r.get("outputs", r.get("error")) for k, r in latest_records(out).items()}


def items_per_s(p, data: Path, out: Path, batch: int, n: int) -> float:
    clear_image_memos()
    t = time.perf_counter()
    counts = p.run_dataset(data, out, batch_size=batch, cache=False)
    elapsed = time.perf_counter() - t
    assert counts["done"] == n, counts
    return n / elapsed


def overhead_ms(tmp: Path, n: int, repeats: int = 3) -> tuple[float, float, float]:
    """(executor ms/item, direct ms/item, difference), best of `repeats` each."""
    from socratic import Pipeline

    p = Pipeline("noop").add_input("text", "text")
    p.add_node("q", "prompt", params={"template": "say {text}"}, inputs={"text": "inputs.text"})
    p.add_output("q", "q.text")
    data = tmp / "texts.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"item {i}"}) + "\n" for i in range(n)))
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    ex, direct = [], []
    for r in range(repeats):
        t = time.perf_counter()
        assert p.run_dataset(data, tmp / f"noop{r}.jsonl", batch_size=1, cache=False)["done"] == n
        ex.append((time.perf_counter() - t) / n)
        t = time.perf_counter()
        for row in rows:
            p.run({"text": row["text"]}, cache=False)
        direct.append((time.perf_counter() - t) / n)
    return 1000 * min(ex), 1000 * min(direct), 1000 * (min(ex) - min(direct))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--overhead-items", type=int, default=400)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = make_images(tmp, args.images)
        p = clip_lm_pipeline(args.device)
        p.run_dataset(data, tmp / "warm.jsonl", batch_size=8, cache=False)  # load the models, warm the kernels
        rates = {}
        for b in (1, 8, 32):
            rates[b] = items_per_s(p, data, tmp / f"b{b}.jsonl", b, args.images)
            print(f"batch {b:>2}: {rates[b]:.2f} items/s", flush=True)
        same = outputs(tmp / "b1.jsonl") == outputs(tmp / "b8.jsonl") == outputs(tmp / "b32.jsonl")
        print(f"same outputs at batch 1, 8 and 32: {same}")
        assert same, "batched outputs differ from one item at a time"
        ex, direct, diff = overhead_ms(tmp, args.overhead_items)
        print(f"one-node pipeline: executor {ex:.3f} ms/item, direct Pipeline.run {direct:.3f} ms/item")
    print(f"batch8_vs_1={rates[8] / rates[1]:.2f} batch32_vs_1={rates[32] / rates[1]:.2f} "
          f"overhead_ms_per_item={diff:.3f}")


if __name__ == "__main__":
    main()
