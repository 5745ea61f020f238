"""VideoTree as one node (Wang et al. 2024; methods.md §4b): frame features → adaptive k-means whose cluster
representatives the LM rates for the question → depth expansion of the relevant clusters → the chosen frames'
captions in time order. The clustering is socratic/longvideo/tree.py; this module adds the captioner and the LM.

Captions are question-independent: each frame's caption is kept per frame in the node cache (`caption_items`,
nodes/caption.py), so a second question on a video captions only frames not captioned before.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, Sequence

import numpy as np

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import KeyFrame, clock
from ..models.base import LM, Captioner
from ..node import node
from ..nodes.caption import EMPTY_CAPTION, caption_items
from ..nodes.lm_choose import option_lines
from ..nodes.text import fill, use_chat
from ..types import Prompt
from .timeline import scene_text_events
from .tree import build_tree

RELEVANCE = ("list", "score")


_PAIR = re.compile(r"(\d+)\s*[:=)\-.]\s*([123])(?!\d)")
_DIGIT = re.compile(r"(?<!\d)([123])(?!\d)")


def parse_ratings(reply: str, n: int) -> list[int] | None:
    """n ratings (1-3) read from a reply, or None. Rule: "k: r" pairs (also "k = r", "k) r", "k. r", "k - r")
    numbering every frame 1..n; else the first n standalone digits 1-3 in order."""
    pairs = {int(k): int(r) for k, r in _PAIR.findall(reply)}
    if all(k in pairs for k in range(1, n + 1)):
        return [pairs[k] for k in range(1, n + 1)]
    digits = [int(d) for d in _DIGIT.findall(reply)]
    return digits[:n] if len(digits) >= n else None


def frame_line(k: int, t: float, caption: str, text: str) -> str:
    """`3. [00:12] a person holds a cup. Text on screen: "EXIT".`"""
    seen = f' Text on screen: "{text}".' if text else ""
    return f"{k}. [{clock(t)}] {caption}{seen}"


def text_at(events: list[dict[str, Any]], times: list[float], t: float) -> str:
    """The scene text read on the last OCR'd frame at or before t ("" when that frame showed none)."""
    k = bisect.bisect_right(times, t) - 1
    if k < 0:
        return ""
    return next((e["text"] for e in events if e["t"] == times[k]), "")


class _Rater:
    """Ratings 1-3 of representative frames for one question, remembered per frame."""

    def __init__(self, lm: LM, template: str, question: str, options: list[str], mode: str, chat: bool,
                 max_new_tokens: int, ctx: Context):
        self.lm, self.template, self.mode, self.chat, self.max_new_tokens, self.ctx = \
            lm, template, mode, chat, max_new_tokens, ctx
        self.values = {"question": question, "options": option_lines(options)}
        self.known: dict[int, int] = {}
        self.log: list[dict[str, Any]] = []

    def prompt(self, lines: str) -> str:
        return fill(self.template.rstrip("\n"), {**self.values, "frames": lines})

    def score(self, idx: list[int], line_of) -> None:
        """Per frame, the rating whose digit the LM finds likeliest right after a one-frame prompt."""
        prompts = [self.prompt(line_of(i, 1)) for i in idx]
        conts = [d if self.chat or p[-1:].isspace() else " " + d for p in prompts for d in "123"]
        lps = self.lm.score([p for p in prompts for _ in range(3)], conts, chat=self.chat)
        for k, i in enumerate(idx):
            scores = [sum(lp) if lp else float("-inf") for lp in lps[3 * k:3 * k + 3]]
            self.known[i] = 1 + max(range(3), key=lambda r: (scores[r], -r))

    def rate(self, reps: list[int], line_of) -> list[int]:
        """Ratings of this round's representatives: in one prompt ("list", every representative again, as the
        paper does), or each alone by likelihood ("score", remembered across rounds)."""
        if self.mode == "list":
            prompt = self.prompt("\n".join(line_of(i, k) for k, i in enumerate(reps, 1)))
            reply = self.lm.generate([prompt], max_new_tokens=self.max_new_tokens, temperature=0.0,
                                     seed=self.ctx.node_seed(len(self.log)), chat=self.chat)[0][0].text
            got = parse_ratings(reply, len(reps))
            if got is not None:
                self.log.append({"rated_by": "list", "reply": reply})
                return got
            self.ctx.warn(f"videotree: no {len(reps)} ratings in lm '{self.lm.model_id}''s reply {reply[:60]!r}; "
                          f"rated by likelihood per frame instead")
        todo = [i for i in reps if i not in self.known]
        if todo:
            self.score(todo, line_of)
        self.log.append({"rated_by": "score" if self.mode == "score" else "score (fallback)"})
        return [self.known[i] for i in reps]


def _check(params: dict[str, Any], ports: set[str]) -> list[str]:
    mode = params.get("relevance", "list")
    return [] if mode in RELEVANCE else [f"relevance must be one of {', '.join(RELEVANCE)}, got {mode!r}"]


@node("videotree", outputs={"frames": list[KeyFrame], "timestamps": list[float], "captions": list[str],
                            "ratings": list[int], "steps": list[Any], "captioned": int, "computed": int},
      check=_check)
def videotree(frames: list[KeyFrame], question: str, options: list[str], scene_times: list[float] | None = None,
              scene_text: list[Any] | None = None, *, captioner: Captioner, lm: LM, template: Prompt,
              caption_prompt: str | None = None, caption_tokens: int = 48, init_clusters: int = 8,
              max_clusters: int = 32, adaptive_rate: int = 2, threshold: int = 4, sub_clusters: int = 5,
              subsub_clusters: int = 5, relevance: str = "list", max_new_tokens: int = 96,
              chat: str | bool = "auto", ctx: Context) -> dict:
    """The frames worth captioning for `question`, chosen as VideoTree does, with their captions in time order.

    `frames`: key frames carrying CLIP embeddings (`video_keyframes`, one per sampled frame). Width: k-means
    (cosine) into `init_clusters`; the captioner describes each cluster's representative (the frame nearest its
    centre) and the LM rates it 1-3 for the question (`template` with {frames}, {question}, {options});
    while fewer than `threshold` are rated 3 and the count is below `max_clusters`, the count is multiplied by
    `adaptive_rate` and clustering redone. Depth: a cluster rated 1 keeps its representative, 2 adds those of
    `sub_clusters` Ward sub-clusters, 3 splits each of those into `subsub_clusters` more. Defaults: the released
    code's (1 frame/s, 8 → max 32 clusters, ×2, 4 rated 3; 5 and 5×5 sub-clusters).

    `relevance`: "list" (the paper's: one prompt rating every representative; the reply's ratings read by
    `parse_ratings`; a reply without them is rated by likelihood instead, with a warning) or "score" (each
    representative alone; the rating whose digit is likeliest). Scene text per frame (`scene_text` at
    `scene_times`, from OCR) joins a representative's description as `Text on screen: "..."`.

    Outputs: the chosen `frames`, their `timestamps` and `captions`, the last round's `ratings` per cluster,
    `steps` (per width round: clusters, representative times, ratings, how rated), `captioned` (distinct frames
    this question needed captions of) and `computed` (those the captioner ran on: not in the per-frame cache)."""
    if not frames:
        raise SocraticError("no frames", field="frames")
    missing = [i for i, f in enumerate(frames) if not isinstance(f, KeyFrame) or f.embedding is None]
    if missing:
        raise SocraticError(f"{len(missing)} of {len(frames)} frames carry no CLIP embedding (give the key frames "
                            f"of `video_keyframes`)", field="frames")
    if relevance not in RELEVANCE:
        raise SocraticError(f"relevance must be one of {', '.join(RELEVANCE)}, got {relevance!r}", field="relevance")
    if not isinstance(options, (list, tuple)) or len(options) < 2:
        raise SocraticError("expected a list of at least 2 options", field="options")
    feats = np.stack([np.asarray(f.embedding, dtype=np.float64) for f in frames])
    times = [float(f.t) for f in frames]
    events = scene_text_events(list(scene_times or []), list(scene_text or [])) if scene_text is not None else []
    ocr_times = sorted(float(t) for t in (scene_times or []))
    captions: dict[int, str] = {}
    counts: dict[str, int] = {}

    def caption(idx: list[int]) -> None:
        todo = sorted(set(i for i in idx if i not in captions))
        if todo:
            texts = caption_items(captioner, [frames[i] for i in todo], prompt=caption_prompt,
                                  max_new_tokens=caption_tokens, empty=EMPTY_CAPTION, ctx=ctx, counts=counts)
            captions.update(zip(todo, texts))

    def line_of(i: int, k: int) -> str:
        return frame_line(k, times[i], captions[i], text_at(events, ocr_times, times[i]))

    rater = _Rater(lm, template, question, list(options), relevance, use_chat(chat, lm), max_new_tokens, ctx)

    def rate(reps: list[int]) -> list[int]:
        caption(reps)
        return rater.rate(reps, line_of)

    tree = build_tree(feats, rate, init_clusters=init_clusters, max_clusters=max_clusters,
                      adaptive_rate=adaptive_rate, threshold=threshold, sub_clusters=sub_clusters,
                      subsub_clusters=subsub_clusters, seed=ctx.node_seed())
    caption(tree.selected)
    steps = [{"clusters": s.clusters, "representatives": [round(times[i], 3) for i in s.representatives],
              "ratings": s.ratings, "rated_by": log["rated_by"]} for s, log in zip(tree.steps, rater.log)]
    return {"frames": [frames[i] for i in tree.selected], "timestamps": [times[i] for i in tree.selected],
            "captions": [captions[i] for i in tree.selected], "ratings": tree.final.ratings, "steps": steps,
            "captioned": len(captions), "computed": counts.get("captioned", 0)}
