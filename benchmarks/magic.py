"""MAGiC decoding speed, measured side by side on the same random-init weights.

Models: a GPT-2-small-shaped LM (12 layers, 768 wide, GPT-2's 50257-id vocabulary + MAGiC's start/pad tokens)
and a ViT-B/32-shaped CLIP (open_clip, real CLIP tokenizer), both randomly initialised, float32. COCO setting:
k=45, alpha=0.1, beta=2.0, 15 new tokens after the start token.

1. speedup_batch1: tokens/s of the full loop (`magic_decode`) vs a straightforward per-step implementation at
   batch 1: every step re-runs the LM over the whole sequence (no cache), one LM forward pass per candidate for
   its hidden state, re-decodes each candidate's text, re-tokenises it with open_clip's tokenizer (77-wide rows)
   and embeds the k texts with `encode_text`. Goal on CPU: >= 10.
2. throughput_batch16_vs_1: tokens/s of the full loop on 16 images in one batch vs one image at a time.
   Goal on CPU: >= 5.
3. speedup_vs_reference_batch1: the full loop at batch 1 vs the authors' cost structure (magic_reference.py:
   cached LM, the k candidates in one forward pass with the full head, every candidate re-decoded,
   re-tokenised and re-encoded by CLIP each step). Goal on CPU: >= 4. The full loop's CPU float32 matmuls go
   through oneDNN with weights reordered once where a timing on the running machine says it wins
   (`packed_matmuls="auto"`); the same ratio with PyTorch's stock matmuls (what the reference runs on) is
   printed on the line before the last, and the ratio's ceiling if a batch-1 step did nothing but its matmuls,
   at their own row counts, above it.

    python benchmarks/magic.py [--threads N] [--device cpu|cuda] [--k 45] [--steps 15] [--batch 16]

The last line is `speedup_batch1=<x> throughput_batch16_vs_1=<y> speedup_vs_reference_batch1=<z>`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ceiling import matmul_peak, matrix_flops, step_floor
from magic_reference import reference_decode

from socratic.magic.packed_linear import auto_choice, use_packed


@torch.no_grad()
def straightforward(lm, tok, clip, ctok, image, prompt, steps, k, alpha, beta, window=60):
    """MAGiC recomputed from scratch at every step (what the benchmark compares against)."""
    dev = image.device
    ids, gen = list(prompt), []
    scale = clip.logit_scale.exp()
    for _ in range(steps):
        out = lm(torch.tensor([ids], device=dev), output_hidden_states=True)
        logits, context = out.logits[0, -1].float(), out.hidden_states[-1][0].float()
        context = context / context.norm(dim=-1, keepdim=True)
        probs = logits.softmax(-1)
        top = logits.topk(k).indices.tolist()
        texts = [tok.decode((gen + [v])[-window:]) for v in top]
        emb = clip.encode_text(ctok(texts).to(dev)).float()
        f = (scale * (emb / emb.norm(dim=-1, keepdim=True)) @ image).softmax(0)
        best, choice = None, None
        for j, v in enumerate(top):
            h = lm(torch.tensor([ids + [v]], device=dev), output_hidden_states=True).hidden_states[-1][0, -1].float()
            score = (1 - alpha) * probs[v] - alpha * (context @ (h / h.norm())).max() + beta * f[j]
            if best is None or score > best:
                best, choice = score, v
        ids.append(choice)
        gen.append(choice)
    return gen


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def packed_peak(modules, rows: int, reps: int = 5) -> float:
    """The best FLOP/s of oneDNN's linear with reordered weights, on the modules' weight shapes (CPU float32)."""
    shapes = {tuple(p.shape) for m in modules for p in m.parameters() if p.ndim == 2}
    best = 0.0
    with torch.inference_mode():
        for n, k in shapes:
            x, w = torch.randn(rows, k), torch.ops.mkldnn._reorder_linear_weight(torch.randn(n, k), None)
            for _ in range(reps):
                t = time.perf_counter()
                torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
                best = max(best, 2 * rows * n * k / (time.perf_counter() - t))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--k", type=int, default=45)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--single", type=int, default=2, help="images decoded one at a time for the batch-1 rate")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    from PIL import Image

    from socratic.magic import encode_images, magic_decode
    from socratic.magic.offline import gpt2_tokenizer, random_clip, random_lm

    tok = gpt2_tokenizer()
    lm = random_lm(tok, n_layer=12, n_embd=768, n_head=12, n_positions=1024, seed=0).to(dev)
    clip, preprocess, ctok = random_clip("b32", seed=0)
    clip = clip.to(dev)
    rng = np.random.default_rng(0)
    pics = [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) for _ in range(args.batch)]
    img = encode_images(clip, preprocess, pics)
    k, steps, alpha, beta = args.k, args.steps, 0.1, 2.0
    start = tok("<-start_of_text->", add_special_tokens=False)["input_ids"]
    print(f"device={dev} threads={torch.get_num_threads()} k={k} steps={steps} alpha={alpha} beta={beta} "
          f"LM=GPT-2-small shape (random) CLIP=ViT-B/32 shape (random)")

    stats: dict = {}

    def full(embs, packed="auto"):
        sync(dev)
        t = time.perf_counter()
        out = magic_decode(lm, tok, clip, ctok, image_embeds=embs, k=k, alpha=alpha, beta=beta,
                           max_new_tokens=steps, stats=stats, packed_matmuls=packed)
        sync(dev)
        return time.perf_counter() - t, out.token_ids

    full(img[:1])  # warm-up

    t = time.perf_counter()
    ref = straightforward(lm, tok, clip, ctok, img[0], start, steps, k, alpha, beta)
    sync(dev)
    t_naive = time.perf_counter() - t
    naive_tps = steps / t_naive

    ref_stats: dict = {}
    t_ref, ref_ids, ref_positions = 0.0, [], 0
    for i in range(args.single):
        t = time.perf_counter()
        ref_ids += [reference_decode(lm, tok, clip, ctok, img[i], start, steps, k, alpha, beta, stats=ref_stats)]
        sync(dev)
        t_ref += time.perf_counter() - t
        ref_positions += ref_stats["clip_positions"]
    ref_tps = args.single * steps / t_ref

    t_single, single_ids, lm_positions = 0.0, [], 0
    for i in range(args.single):
        dt, ids = full(img[i:i + 1])
        t_single += dt
        single_ids += ids
        lm_positions += stats["lm_positions"]
    b1_tps = args.single * steps / t_single
    packed = stats["packed"]

    full(img[:1], packed=False)  # warm-up
    t_stock, stock_ids = 0.0, []
    for i in range(args.single):
        dt, ids = full(img[i:i + 1], packed=False)
        t_stock += dt
        stock_ids += ids
    stock_tps = args.single * steps / t_stock

    t_batch, batch_ids = full(img)
    bn_tps = args.batch * steps / t_batch
    clip_positions = stats["clip_positions"] / args.batch  # CLIP text positions run per image

    # A lower bound on one image's FLOPs (matmuls only): k candidate positions per step through the LM, its
    # head for the chosen token, and the CLIP text positions actually run.
    lm_pos = matrix_flops(lm, "transformer.", skip=("transformer.wte", "transformer.wpe"))
    head = 2 * lm.get_output_embeddings().weight.numel()
    clip_pos = matrix_flops(clip, "transformer.")
    # CLIP's last layer runs only keys/values at nodes that are not read out (k read out per step)
    last = clip.transformer.resblocks[-1]
    width = last.attn.embed_dim
    pruned = 2 * (width * width + last.attn.out_proj.weight.numel() + sum(
        p.numel() for p in last.mlp.parameters() if p.ndim == 2))
    # LM positions: the candidates that could still win (all k unless the image term rules some out)
    per_image = (lm_positions / args.single * lm_pos + steps * head + clip_positions * clip_pos
                 - (clip_positions - steps * k) * pruned)
    ref_image = steps * k * (lm_pos + head) + ref_positions / args.single * clip_pos
    blocks = [lm.transformer.h, clip.transformer]
    peak = matmul_peak(blocks, args.batch * k, dev)
    if use_packed(next(lm.parameters())):
        peak = max(peak, packed_peak(blocks, args.batch * k))

    # One batch-1 step's matmuls at their own row counts: GPT-2's blocks at k rows, its head at 1, CLIP's text
    # blocks at the step's mean positions (the last block: keys/values there, the rest at the k read out).
    clip_rows = max(k, round(clip_positions / steps))
    work = [(m.weight.t(), k) for b in lm.transformer.h for m in (b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc,
                                                                   b.mlp.c_proj)]
    work.append((lm.get_output_embeddings().weight, 1))
    *inner, last = clip.transformer.resblocks
    for b in inner:
        work += [(w, clip_rows) for w in (b.attn.in_proj_weight, b.attn.out_proj.weight, b.mlp.c_fc.weight,
                                          b.mlp.c_proj.weight)]
    width = last.attn.embed_dim
    work += [(last.attn.in_proj_weight[width:], clip_rows)] + [(w, k) for w in (
        last.attn.in_proj_weight[:width], last.attn.out_proj.weight, last.mlp.c_fc.weight, last.mlp.c_proj.weight)]
    floor = step_floor(work)

    if next(lm.parameters()).device.type == "cpu":
        print(f"packed_matmuls=auto chose {auto_choice().why()}")
    print(f"straightforward, batch 1 : {naive_tps:8.3f} tokens/s  ({t_naive:.1f} s for {steps} tokens)")
    print(f"reference cost,  batch 1 : {ref_tps:8.3f} tokens/s  ({t_ref:.1f} s for {args.single} x {steps})")
    print(f"full loop,       batch 1 : {b1_tps:8.3f} tokens/s  ({t_single:.1f} s for {args.single} x {steps})"
          f"  [matmuls: {'oneDNN, weights reordered once' if packed else 'stock'}]")
    print(f"full loop, stock matmuls : {stock_tps:8.3f} tokens/s  ({t_stock:.1f} s for {args.single} x {steps})")
    print(f"full loop,       batch {args.batch}: {bn_tps:8.3f} tokens/s  ({t_batch:.1f} s for {args.batch} x {steps})")
    print(f"same tokens as the straightforward decode: {ref == single_ids[0]}; "
          f"batch {args.batch} rows equal one-at-a-time rows: {batch_ids[:args.single] == single_ids}; "
          f"same tokens as the reference-cost decode: {ref_ids == single_ids}; "
          f"same tokens with stock matmuls: {stock_ids == single_ids}")
    print(f"LM candidate positions run per image: {lm_positions / args.single:.0f} of {steps * k}; "
          f"CLIP text positions per image: {clip_positions:.0f} (reference: {ref_positions / args.single:.0f})")
    print(f"matmul FLOPs per image >= {per_image / 1e9:.0f} G; matmul peak on these shapes {peak / 1e9:.0f} "
          f"GFLOP/s; batch 1 ran at {per_image * b1_tps / steps / 1e9:.0f}, batch {args.batch} at "
          f"{per_image * bn_tps / steps / 1e9:.0f} GFLOP/s")
    print(f"ceiling for throughput_batch{args.batch}_vs_1 on this device: {peak * steps / per_image / b1_tps:.2f}")
    # Ceiling of the reference ratio: the reference as measured against our decode at the device's matmul peak.
    print(f"reference-cost matmul FLOPs per image >= {ref_image / 1e9:.0f} G, run at "
          f"{ref_image * ref_tps / steps / 1e9:.0f} GFLOP/s; FLOP ratio to ours {ref_image / per_image:.2f} "
          f"(the speedup if both ran equally efficiently)")
    print(f"ceiling for speedup_vs_reference_batch1 on this device: {peak * steps / per_image / ref_tps:.2f} "
          f"(the reference as measured, ours at the matmul peak)")
    print(f"batch 1's matmuls at their own shapes ({k} LM rows, {clip_rows} CLIP text rows a step, the head at 1), "
          f"faster library: {floor * 1e3:.0f} ms a step, so at most {1 / floor:.2f} tokens/s; ceiling for "
          f"speedup_vs_reference_batch1 at batch 1's shapes: {1 / floor / ref_tps:.2f} (no work but those matmuls)")
    print(f"speedup_vs_reference_batch1 with stock matmuls (the same matmul library as the reference): "
          f"{stock_tps / ref_tps:.2f}")
    print(f"speedup_batch1={b1_tps / naive_tps:.2f} throughput_batch{args.batch}_vs_1={bn_tps / b1_tps:.2f} "
          f"speedup_vs_reference_batch1={b1_tps / ref_tps:.2f}")


if __name__ == "__main__":
    main()
