"""Port types: what flows along an edge, and which edges are allowed."""

from __future__ import annotations

import numbers
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


class FilePath(str):
    """A file or folder named in params; relative to the pipeline's YAML file, and checked by validation."""


class Vocab(str):
    """A label vocabulary named in params: a built-in name (`places365`) or a text file, as FilePath."""


def takes(annotation: Any, kind: type) -> bool:
    """Whether a param annotation is `kind` or a union with it (`Vocab | list[str]`)."""
    return annotation is kind or kind in typing.get_args(annotation)


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
    if typing.get_origin(t) is typing.Union or type(t).__name__ == "UnionType":
        return " | ".join(type_name(a) for a in typing.get_args(t))
    if t is type(None):
        return "null"
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


def _kind(value: Any) -> str:
    """How an error names a value: `text 'a'`, `a list`, `a number (3)`."""
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    return {list: "a list", tuple: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def parsed_from_text(t: Any) -> bool:
    """Ports whose value, written as text, is parsed: numbers, booleans and lists (JSON)."""
    return t in (int, float, bool) or (t is not Any and item_type(t) is not None)


_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def parse_text_value(text: str, t: Any, *, field: str) -> Any:
    """A value written as text (a command-line `NAME=VALUE`, a CSV cell) for a port of type `t`: a number for
    number ports, true/false for booleans, JSON for lists (`["a", "b"]`), the text itself otherwise."""
    import json

    from .errors import SocraticError

    if t in (int, float):
        try:
            return int(text) if t is int else float(text)
        except ValueError:
            try:  # `3.0` for an integer
                number = float(text)
            except ValueError:
                number = None
            if t is int and number is not None and number.is_integer():
                return int(number)
            raise SocraticError(f"expected {'an integer' if t is int else 'a number'}, got {text!r}",
                                field=field) from None
    if t is bool:
        if text.strip().lower() not in _BOOLS:
            raise SocraticError(f"expected true or false, got {text!r}", field=field)
        return _BOOLS[text.strip().lower()]
    if not parsed_from_text(t):
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise SocraticError(f"expected {type_name(t)} as JSON, e.g. '[\"a\", \"b\"]' (or @file.json on the "
                            f"command line), got {text!r}", field=field) from None


def check_regular(path: Path, *, field: str, folder_ok: bool = False) -> None:
    """A media input is a regular file (a `path` input may also be a folder): a device would be read for ever
    (/dev/zero), a FIFO would block the run."""
    import stat

    from .errors import SocraticError

    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode))):
        what = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise SocraticError(f"not a regular file: {path} is {what}", field=field)


def coerce_input(value: Any, t: Any, *, field: str) -> Any:
    """Turn a CLI/dataset value into the declared input type; a value that does not fit is a one-line error."""
    from .errors import SocraticError

    if value is None:
        return None
    if isinstance(value, str) and parsed_from_text(t):
        value = parse_text_value(value, t, field=field)
    if t in (Video, Audio, Path):
        if not isinstance(value, (str, Path)):
            raise SocraticError(f"expected a file path, got {_kind(value)}", field=field)
        p = Path(str(value)).expanduser()
        if not p.exists():
            raise SocraticError(f"file not found: {p}", field=field)
        check_regular(p, field=field, folder_ok=t is Path)
        return t(str(p)) if t is not Path else p
    if t is Image:
        if isinstance(value, Image):
            value.load()  # decode now: parallel branches must not lazily read one file handle at once
            return value
        if not isinstance(value, (str, Path)):
            raise SocraticError(f"expected an image path, got {_kind(value)}", field=field)
        p = Path(str(value)).expanduser()
        if not p.exists():
            raise SocraticError(f"image not found: {p}", field=field)
        check_regular(p, field=field)
        try:
            with _PILImage.open(p) as im:
                return im.convert("RGB")
        except Exception as exc:  # PIL raises several types
            raise SocraticError(f"cannot read image {p}: {exc}", field=field) from None
    if t in (float, int):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy numbers too
            raise SocraticError(f"expected a number, got {_kind(value)}", field=field)
        if t is int and value != int(value):
            raise SocraticError(f"expected an integer, got {value!r}", field=field)
        return t(value)
    if t is bool:
        if not isinstance(value, bool):
            raise SocraticError(f"expected true or false, got {_kind(value)}", field=field)
        return value
    inner = item_type(t)
    if inner is not None and t is not Any:
        if not isinstance(value, (list, tuple)):
            raise SocraticError(f"expected {type_name(t)}, got {_kind(value)}", field=field)
        if inner is str and not all(isinstance(v, str) for v in value):
            bad = next(v for v in value if not isinstance(v, str))
            raise SocraticError(f"expected {type_name(t)}, got an element that is {_kind(bad)}", field=field)
        return [coerce_input(v, inner, field=field) for v in value] if inner is not Any else list(value)
    return value
