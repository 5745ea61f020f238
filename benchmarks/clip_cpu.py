"""CLIP image encoding on the CPU: the open_clip backend's float32 reference against its speed options
(socratic/models/clip_speed.py), on the real ViT-B-32 and ViT-L-14 architectures with random weights (offline; the
FLOPs and memory are the real ones).

    python benchmarks/clip_cpu.py [--b32-images 32] [--l14-images 8] [--repeat 5]

Speed: images/s of `encode_images` on a batch of preprocessed 224px images (tensors, so the in-memory image memo is
bypassed and PIL preprocessing is not timed), every contender timed in turns (A B C A B C ...) and the median kept,
so other jobs on the machine slow each alike. Agreement with float32 on the same weights, beside each speed: least
image cosine and top-5 label agreement on the 12 probe images x 200 labels of clip_agreement.py; `ok` when within
the option's stated tolerance (clip_speed.TOLERANCE). Then, for ViT-B-32: torch threads 1 vs 2 x batch 1/8/32.

Last line: b32_fp32_ips=<x> b32_best=<option>:<speedup> l14_fp32_ips=<y> l14_best=<option>:<speedup>, best being
the fastest option within its tolerance (fp32:1.00 when none is).
"""

from __future__ import annotations

import argparse
import gc

import torch

from socratic.models.clip_agreement import agreement, probe_images, probe_vocab, within_tolerance
from socratic.models.clip_speed import native_bf16
from socratic.models.vlm_open_clip import OpenClipVLM
from socratic.tuning import _median_seconds


def contenders() -> dict[str, dict]:
    bf16 = {"cpu_bf16": {"cpu_bf16": True}, "cpu_bf16+channels_last": {"cpu_bf16": True, "channels_last": True}}
    return {"fp32": {}, "channels_last": {"channels_last": True}, "int8": {"int8": True},
            **(bf16 if native_bf16() else {})}


def measure(name: str, n_images: int, repeat: int) -> tuple[float, str, float, dict[str, OpenClipVLM]]:
    base = {"name": name, "random_init": True, "seed": 0, "device": "cpu"}
    models = {label: OpenClipVLM(**base, **opts) for label, opts in contenders().items()}
    ref = models["fp32"]
    labels, probe = ref.encode_vocab(probe_vocab()), probe_images()
    ref_images = ref.encode_images(probe)
    pixels = torch.stack([ref.preprocess(im) for im in probe_images(n_images)])
    seconds = _median_seconds({k: (lambda m=m: m.encode_images(pixels)) for k, m in models.items()}, repeat)
    print(f"{name}: {n_images} images a run, batch_size {ref.batch_size}, {torch.get_num_threads()} threads, "
          f"median of {repeat}")
    best, best_speedup = "fp32", 1.0
    for label, m in models.items():
        ips = n_images / seconds[label]
        speedup = seconds["fp32"] / seconds[label]
        if label == "fp32":
            print(f"  {label:24s} {ips:7.2f} images/s  x1.00  (reference)")
            continue
        cosine, top5 = agreement(ref_images, m.encode_images(probe), labels)
        ok = within_tolerance(label, cosine, top5)
        print(f"  {label:24s} {ips:7.2f} images/s  x{speedup:.2f}  min cosine {cosine:.6f}  top-5 agreement "
              f"{top5:.2f}  {'ok' if ok else 'OUT OF TOLERANCE'}")
        if ok and speedup > best_speedup:
            best, best_speedup = label, speedup
    return n_images / seconds["fp32"], best, best_speedup, models


def threads_and_batches(models: dict[str, OpenClipVLM], n_images: int, repeat: int) -> None:
    pixels = torch.stack([models["fp32"].preprocess(im) for im in probe_images(n_images)])
    threads_before = torch.get_num_threads()
    picked = {k: models[k] for k in ("fp32", "cpu_bf16") if k in models}
    runs = {}
    for threads in sorted({1, threads_before}):
        for batch in (1, 8, 32):
            for label, m in picked.items():
                def run(m=m, threads=threads, batch=batch):
                    torch.set_num_threads(threads)
                    m.batch_size = batch
                    m.encode_images(pixels)
                runs[(label, threads, batch)] = run
    try:
        seconds = _median_seconds(runs, repeat)
    finally:
        torch.set_num_threads(threads_before)
        for m in picked.values():
            m.batch_size = 32
    print(f"ViT-B-32 threads x batch_size ({n_images} images a run, images/s):")
    for (label, threads, batch), s in seconds.items():
        print(f"  {label:9s} threads={threads} batch_size={batch:<3d} {n_images / s:7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--b32-images", type=int, default=32)
    ap.add_argument("--l14-images", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"native bf16: {native_bf16()}; torch {torch.__version__}; CPU ISA {torch.backends.cpu.get_cpu_capability()}")
    b32_ips, b32_best, b32_speedup, models = measure("ViT-B-32", args.b32_images, args.repeat)
    threads_and_batches(models, args.b32_images, max(3, args.repeat // 2))
    del models
    gc.collect()
    l14_ips, l14_best, l14_speedup, models = measure("ViT-L-14", args.l14_images, max(3, args.repeat // 2))
    print(f"b32_fp32_ips={b32_ips:.2f} b32_best={b32_best}:{b32_speedup:.2f} "
          f"l14_fp32_ips={l14_ips:.2f} l14_best={l14_best}:{l14_speedup:.2f}")


if __name__ == "__main__":
    main()
