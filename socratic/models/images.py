"""What image-reading backends (captioners, OCR) accept as one item: a PIL image, a `KeyFrame` (its preview), a
numpy array (H, W, 3 RGB) or an image file path; a captioner also takes a short clip (a list of those)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import SocraticError
from ..media.keyframe import KeyFrame


def as_rgb(item: Any) -> Image.Image:
    """One image as an RGB PIL image."""
    if isinstance(item, KeyFrame):
        return item.image()
    if isinstance(item, Image.Image):
        return item if item.mode == "RGB" else item.convert("RGB")
    if isinstance(item, np.ndarray):
        if item.ndim != 3 or item.shape[-1] not in (3, 4):
            raise SocraticError(f"an image array must be (height, width, 3), got shape {item.shape}")
        return Image.fromarray(np.ascontiguousarray(item[..., :3]).astype(np.uint8))
    if isinstance(item, (str, Path)):
        try:
            with Image.open(item) as im:
                return im.convert("RGB")
        except (OSError, ValueError) as exc:
            raise SocraticError(f"cannot read image {item}: {exc}") from None
    raise SocraticError(f"expected an image (PIL image, key frame, array or path), got {type(item).__name__}")


def clip_of(item: Any) -> list[Image.Image]:
    """An item as a clip: its images in order (one for a single image)."""
    if isinstance(item, (list, tuple)):
        if not item:
            raise SocraticError("an empty clip (a list of no images)")
        return [as_rgb(x) for x in item]
    return [as_rgb(item)]


def middle(clip: list[Image.Image]) -> Image.Image:
    """The frame a one-image model sees of a clip."""
    return clip[(len(clip) - 1) // 2]
