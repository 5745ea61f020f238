"""Port types: what flows along an edge, and which edges are allowed."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from PIL import Image as _PILImage

Image = _PILImage.Image


class Video(str):
    """Path to a video file."""


class Audio(str):
    """Path to an audio (or video) file whose sound is used."""


class Prompt(str):
    """A prompt template: inline text in YAML, or `{file: prompts/x.txt}`."""


# Names usable in YAML `inputs:` declarations.
TYPE_NAMES: dict[str, Any] = {
    "text": str, "texts": list[str], "image": Image, "images": list[Image], "video": Video,
    "audio": Audio, "number": float, "numbers": list[float], "integer": int, "bool": bool,
    "json": Any, "any": Any, "path": Path,
}


def type_name(t: Any) -> str:
    for name, known in TYPE_NAMES.items():
        if known == t:
            return name
    if typing.get_origin(t) is list:
        (arg,) = typing.get_args(t) or (Any,)
        return f"list[{type_name(arg)}]"
    return getattr(t, "__name__", str(t))


def parse_type(name: str) -> Any:
    if name in TYPE_NAMES:
        return TYPE_NAMES[name]
    if name.startswith("list[") and name.endswith("]"):
        return list[parse_type(name[5:-1])]
    raise KeyError(name)


def list_of(t: Any) -> Any:
    return list[t]


def item_type(t: Any) -> Any | None:
    """T for list[T], Any for Any, None when t is not a list."""
    if t is Any:
        return Any
    if typing.get_origin(t) is list:
        args = typing.get_args(t)
        return args[0] if args else Any
    return None


def compatible(src: Any, dst: Any) -> bool:
    """May a value of type `src` feed a port of type `dst`?"""
    if src is Any or dst is Any or src == dst:
        return True
    if typing.get_origin(dst) is typing.Union or type(dst).__name__ == "UnionType":
        return any(compatible(src, d) for d in typing.get_args(dst))
    if typing.get_origin(src) is list and typing.get_origin(dst) is list:
        return compatible(item_type(src), item_type(dst))
    if src is int and dst is float:
        return True
    if isinstance(src, type) and isinstance(dst, type):
        return issubclass(src, dst)
    return False


def coerce_input(value: Any, t: Any, *, field: str) -> Any:
    """Turn a CLI/dataset value (usually a string) into the declared input type."""
    from .errors import SocraticError

    if value is None:
        return None
    if t in (Video, Audio, Path):
        p = Path(str(value)).expanduser()
        if not p.exists():
            raise SocraticError(f"file not found: {p}", field=field)
        return t(str(p)) if t is not Path else p
    if t is Image:
        if isinstance(value, Image):
            value.load()  # decode now: parallel branches must not lazily read one file handle at once
            return value
        p = Path(str(value)).expanduser()
        if not p.exists():
            raise SocraticError(f"image not found: {p}", field=field)
        try:
            with _PILImage.open(p) as im:
                return im.convert("RGB")
        except Exception as exc:  # PIL raises several types
            raise SocraticError(f"cannot read image {p}: {exc}", field=field) from None
    if t in (float, int):
        try:
            return t(value)
        except (TypeError, ValueError):
            raise SocraticError(f"expected a number, got {value!r}", field=field) from None
    if t is bool and isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    if item_type(t) is not None and item_type(t) is not Any and isinstance(value, list):
        return [coerce_input(v, item_type(t), field=field) for v in value]
    return value
