"""How closely a CLIP speed option (clip_speed.py) agrees with the float32 reference on the same weights: the least
image-embedding cosine and the share of images whose top-5 labels over a vocabulary are the same set. A fixed,
deterministic probe (drawn images, shipped labels) so tests and benchmarks/clip_cpu.py measure the same thing."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..vocab import load_vocab
from .clip_speed import TOLERANCE


def probe_images(n: int = 12) -> list[Image.Image]:
    """n deterministic 200x160 images, in turn: noise, rectangles, ellipses on a flat colour."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        if i % 3 == 0:
            out.append(Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)))
            continue
        im = Image.new("RGB", (200, 160), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x, y = int(rng.integers(0, 150)), int(rng.integers(0, 110))
            box = [x, y, x + int(rng.integers(10, 50)), y + int(rng.integers(10, 50))]
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if i % 3 == 2 else draw.rectangle)(box, fill=colour)
        out.append(im)
    return out


def probe_vocab(n: int = 200) -> list[str]:
    """The first n labels of the shipped COCO then Open Images vocabularies, unique regardless of case (CLIP's
    tokenizer lower-cases, so case twins would tie)."""
    seen, out = set(), []
    for label in load_vocab("coco") + load_vocab("openimages"):
        if label.lower() not in seen:
            seen.add(label.lower())
            out.append(label)
    return out[:n]


def agreement(reference: torch.Tensor, got: torch.Tensor, labels: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """(least cosine between matching rows, share of rows whose top-k labels are the same set); all normalised."""
    cosine = float((reference.float() * got.float()).sum(-1).min())
    ref_top = (reference.float() @ labels.float().T).topk(k, dim=-1).indices.tolist()
    got_top = (got.float() @ labels.float().T).topk(k, dim=-1).indices.tolist()
    same = sum(set(a) == set(b) for a, b in zip(ref_top, got_top))
    return cosine, same / max(len(ref_top), 1)


def within_tolerance(option: str, cosine: float, top5: float) -> bool:
    """Whether a measured agreement meets the stated tolerance of `option`; a combination ('a+b') is held to the
    loosest of its parts' (the lossy part dominates, e.g. cpu_bf16 in cpu_bf16+channels_last)."""
    parts = option.split("+")
    return cosine >= min(TOLERANCE[o][0] for o in parts) and top5 >= min(TOLERANCE[o][1] for o in parts)
