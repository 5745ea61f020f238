"""CLIP nodes: zero-shot labels, the people question, caption reranking, near-duplicate frame removal."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ..errors import SocraticError
from ..media.keyframe import KeyFrame
from ..models.base import VLM
from ..node import node
from ..types import Image, Vocab
from ..vocab import load_vocab

# methods.md §1a steps 1-2.
IMAGE_TYPES = ["photo", "cartoon", "sketch", "painting"]
PEOPLE_FIRST = ("There are {} in this photo.", ["no people", "people"])
PEOPLE_SECOND = ("There {} in this photo.",
                 ["is one person", "are two people", "are three people", "are several people", "are many people"])
NO_PEOPLE = "are no people"


def resolve_vocab(vocab: str | list[str]) -> list[str]:
    """A built-in vocabulary name, a file path, or an inline list of labels."""
    if isinstance(vocab, (list, tuple)):
        labels = [str(v) for v in vocab]
        if not labels:
            raise SocraticError("empty vocabulary", field="vocab")
        return labels
    try:
        return load_vocab(vocab)
    except SocraticError as exc:
        raise SocraticError(exc.message, field="vocab") from None


def fill_template(template: str, labels: Sequence[str]) -> list[str]:
    """`template` with its one `{}` replaced by each label (braces inside labels are left alone)."""
    if template.count("{}") != 1:
        raise SocraticError(f"template must contain exactly one '{{}}', got {template!r}", field="template")
    head, tail = template.split("{}")
    return [f"{head}{label}{tail}" for label in labels]


def vocab_embeddings(vlm: VLM, texts: Sequence[str]) -> torch.Tensor:
    """Text embeddings of a fixed list, from the backend's vocabulary cache when it has one."""
    encode = getattr(vlm, "encode_vocab", None)
    return encode(list(texts)) if encode else vlm.encode_texts(list(texts))


def _top(scores: torch.Tensor, labels: Sequence[str], k: int) -> list[tuple[list[str], list[float]]]:
    vals, idx = scores.topk(min(k, len(labels)), dim=-1)
    return [([labels[j] for j in ir.tolist()], vr.tolist()) for vr, ir in zip(vals, idx)]


def classify(vlm: VLM, images: Sequence[Any], labels: Sequence[str], template: str, top_k: int,
             score: str = "softmax") -> list[tuple[list[str], list[float]]]:
    """Per image, the top-k labels by cosine similarity of image and templated label."""
    if score not in ("softmax", "cosine"):
        raise SocraticError(f"score must be 'softmax' or 'cosine', got {score!r}", field="score")
    if top_k < 1:
        raise SocraticError(f"top_k must be >= 1, got {top_k}", field="top_k")
    cos = vlm.encode_images(images) @ vocab_embeddings(vlm, fill_template(template, labels)).T
    scores = (vlm.logit_scale * cos).softmax(dim=-1) if score == "softmax" else cos
    return _top(scores, labels, top_k)


@node("clip_classify", outputs={"labels": list[str], "scores": list[float]}, batched=True)
def clip_classify(image: Image | KeyFrame, *, vlm: VLM, vocab: Vocab | list[str], template: str = "{}", top_k: int = 1,
                  score: str = "softmax", names: str = "full") -> dict[str, list]:
    """Zero-shot CLIP labels: the top_k of `vocab` (built-in name, file or list) filled into `template`.
    score: softmax (probability over the vocabulary, logit-scaled) or cosine. CLIP always scores the full
    label; `names: first` outputs only its first synonym ("mug" for "mug, coffee mug"), the display name to use
    in prompts and logs (a synonym list reads as several objects)."""
    if names not in ("full", "first"):
        raise SocraticError(f"names must be 'full' or 'first', got {names!r}", field="names")
    ranked = classify(vlm, image, resolve_vocab(vocab), template, top_k, score)
    labels = [r[0] if names == "full" else [display_name(x) for x in r[0]] for r in ranked]
    return {"labels": labels, "scores": [r[1] for r in ranked]}


def display_name(label: str) -> str:
    """The first synonym of a vocabulary entry."""
    return label.split(", ")[0].strip()


def count_people(vlm: VLM, images: Sequence[Any]) -> list[str]:
    """methods.md §1a step 2: people vs no people, then how many when there are people."""
    first = classify(vlm, images, PEOPLE_FIRST[1], PEOPLE_FIRST[0], 1)
    out = [NO_PEOPLE] * len(images)
    with_people = [i for i, (labels, _) in enumerate(first) if labels[0] == "people"]
    if with_people:
        second = classify(vlm, [images[i] for i in with_people], PEOPLE_SECOND[1], PEOPLE_SECOND[0], 1)
        for i, (labels, _) in zip(with_people, second):
            out[i] = labels[0]
    return out


@node("clip_people", outputs={"people": str}, batched=True)
def clip_people(image: Image | KeyFrame, *, vlm: VLM) -> list[str]:
    """How many people, as the phrase after "There": "are no people", "is one person", "are two people", ..."""
    return count_people(vlm, image)


@node("clip_rerank", outputs={"best": str, "ranked": list[str], "scores": list[float]}, batched=True)
def clip_rerank(image: Image | KeyFrame, texts: list[str], *, vlm: VLM) -> dict[str, list]:
    """Texts sorted by cosine similarity to the image (raw texts: no template, no logit scale)."""
    if any(not t for t in texts):
        raise SocraticError("no texts to rerank", field="texts")
    img = vlm.encode_images(image)
    # One text batch for every image's candidates.
    flat = [t for ts in texts for t in ts]
    emb = vlm.encode_texts(flat)
    out: dict[str, list] = {"best": [], "ranked": [], "scores": []}
    start = 0
    for i, ts in enumerate(texts):
        cos = emb[start:start + len(ts)] @ img[i]
        start += len(ts)
        order = sorted(range(len(ts)), key=lambda j: -float(cos[j]))  # stable: first candidate wins ties
        out["best"].append(ts[order[0]])
        out["ranked"].append([ts[j] for j in order])
        out["scores"].append([float(cos[j]) for j in order])
    return out


@node("frame_dedupe", outputs={"frames": list[Image], "timestamps": list[float]})
def frame_dedupe(frames: list[Image], timestamps: list[float], *, vlm: VLM, threshold: float = 0.95
                 ) -> dict[str, list]:
    """Drop a frame whose CLIP image embedding has cosine >= threshold with the previous kept frame."""
    if len(frames) != len(timestamps):
        raise SocraticError(f"{len(frames)} frames but {len(timestamps)} timestamps", field="timestamps")
    if not frames:
        return {"frames": [], "timestamps": []}
    emb = vlm.encode_images(frames)
    keep = [0]
    for i in range(1, len(frames)):
        if float(emb[i] @ emb[keep[-1]]) < threshold:
            keep.append(i)
    return {"frames": [frames[i] for i in keep], "timestamps": [float(timestamps[i]) for i in keep]}
