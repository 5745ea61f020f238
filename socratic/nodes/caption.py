"""Captions by a captioning VLM (`family: captioner`, models/base.py `Captioner`).

    caption:
      type: caption_frames
      params: {captioner: captioner, max_new_tokens: 48}     # prompt: optional instruction for chat captioners
      inputs: {frames: world.frames}                         # key frames, images, or clips (lists of images)

One caption per frame, in order. Every item of a dataset batch is captioned in one model call (the model's
`batch_size` per forward pass), and each frame's caption is kept in the node cache by its pixels, model and
settings (nodes/per_frame.py): a second question on the same video, or another method choosing other frames of
it, captions only frames never captioned before. Code captioning inside its own node (VideoTree's loop) calls
`caption_items` with its `ctx` for the same memo.

An empty caption (a model that stops at once) becomes `empty` ("(no caption)" by default) with a warning naming
how many frames had none: the log keeps a line for every frame and nothing fails.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import KeyFrame
from ..models.base import Captioner
from ..node import node
from ..types import Image
from .per_frame import per_frame

EMPTY_CAPTION = "(no caption)"


def caption_items(captioner: Captioner, items: Sequence[Any], *, prompt: str | None = None,
                  max_new_tokens: int = 48, empty: str = EMPTY_CAPTION, ctx: Context | None = None,
                  counts: dict[str, int] | None = None) -> list[str]:
    """One caption per item (an image, key frame or clip), memoised per frame in `ctx.cache`; empty captions
    become `empty`, with a warning on `ctx`. `counts`, when given, gets `asked` (items) and `captioned` (items the
    model actually captioned: not memoised, not repeated)."""
    if max_new_tokens < 1:
        raise SocraticError(f"max_new_tokens must be ≥ 1, got {max_new_tokens}", field="max_new_tokens")
    items = list(items)
    salt = f"caption|{captioner.fingerprint}|{prompt!r}|{max_new_tokens}"
    captions, computed = per_frame(ctx, salt, items,
                                   lambda todo: captioner.caption(todo, prompt, max_new_tokens=max_new_tokens))
    if counts is not None:
        counts["asked"] = counts.get("asked", 0) + len(items)
        counts["captioned"] = counts.get("captioned", 0) + computed
    blank = {i for i, c in enumerate(captions) if not str(c).strip()}
    if blank and ctx is not None:
        ctx.warn(f"{ctx.node}: captioner '{captioner.model_id}' returned empty text for {len(blank)} of "
                 f"{len(items)} frame(s); they read {empty!r}")
    return [empty if i in blank else " ".join(str(c).split()) for i, c in enumerate(captions)]


@node("caption_frames", outputs={"captions": list[str]}, batched=True)
def caption_frames(frames: list[Image | KeyFrame | list[Image]], *, captioner: Captioner, prompt: str | None = None,
                   max_new_tokens: int = 48, empty: str = EMPTY_CAPTION, ctx: Context) -> list[list[str]]:
    """A caption per frame (image, key frame, or a clip given as a list of images), in order. `prompt`: an
    instruction for chat captioners, a task token for Florence-2, a caption start for BLIP (None: the model's
    default). Greedy, at most `max_new_tokens` tokens. An empty caption reads `empty`, with a warning."""
    sizes = [len(f) for f in frames]
    flat = [x for f in frames for x in f]
    captions = caption_items(captioner, flat, prompt=prompt, max_new_tokens=max_new_tokens, empty=empty, ctx=ctx)
    out, start = [], 0
    for n in sizes:
        out.append(captions[start:start + n])
        start += n
    return out
