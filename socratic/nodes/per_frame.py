"""Per-frame memo in the run's node cache: a frame's caption or text is computed once per model and settings, then
reused by any node, question or pipeline that meets the same pixels (the node cache keys a whole call's inputs;
this keys each frame)."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

from ..context import Context
from ..errors import SocraticError
from ..fingerprint import digest
from ..media.keyframe import KeyFrame


def frame_digest(item: Any) -> str:
    """What a frame shows: a key frame's preview bytes (not its times), an image's pixels, a clip's frames."""
    if isinstance(item, KeyFrame):
        return "K" + hashlib.sha256(item.preview).hexdigest()
    if isinstance(item, (list, tuple)):
        return "C" + hashlib.sha256("".join(frame_digest(x) for x in item).encode()).hexdigest()
    return "V" + digest(item)


def per_frame(ctx: Context | None, salt: str, items: Sequence[Any], compute: Callable[[list[Any]], list[Any]]
              ) -> tuple[list[Any], int]:
    """`compute(items)` (one result per item, in order), calling it only for frames not seen before under `salt`
    (model fingerprint + settings); a frame repeated in `items` is computed once. Returns the results and how many
    frames were computed. Without a cache (`ctx.cache` None: --no-cache), every distinct frame is computed."""
    cache = getattr(ctx, "cache", None)
    keys = [digest(salt, frame_digest(x)) for x in items]
    found: dict[str, Any] = {}
    if cache is not None:
        for k in dict.fromkeys(keys):
            hit, value = cache.get(k)
            if hit:
                found[k] = value
    first = {k: i for i, k in reversed(list(enumerate(keys))) if k not in found}
    todo = sorted(first.values())
    if todo:
        fresh = compute([items[i] for i in todo])
        if len(fresh) != len(todo):
            raise SocraticError(f"{salt.split('|')[0]}: the model gave {len(fresh)} results for {len(todo)} frames")
        for i, value in zip(todo, fresh):
            found[keys[i]] = value
            if cache is not None:
                cache.put(keys[i], value)
    return [found[k] for k in keys], len(todo)
