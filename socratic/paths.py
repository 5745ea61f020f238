"""Where things live: the cache root, the repository's prompts/ and pipelines/, shipped vocabularies."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .encoding import utf8

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
VOCAB_DIR = PACKAGE_DIR / "vocab"
_UMASK = os.umask(0o22)  # read once, at import (os.umask can only be read by setting it)
os.umask(_UMASK)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write via a temporary file beside `path` and rename: a crash never leaves a half-written file. Text is
    written by `encoding.utf8`; an OS error (a full disk) names `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # an ordinary file's mode, not mkstemp's private 0600
        with os.fdopen(fd, "wb") as f:
            f.write(utf8(data) if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise naming(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def naming(exc: OSError, path: Path | str) -> OSError:
    """`exc` with the file it happened to, when the OS left that out (a write on a full disk)."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def cache_root() -> Path:
    """`$SOCRATIC_CACHE`, else `~/.cache/socratic`."""
    root = Path(os.environ.get("SOCRATIC_CACHE") or Path.home() / ".cache" / "socratic")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    d = cache_root().joinpath(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d


SHIPPED_PROMPTS = (REPO_DIR, REPO_DIR / "prompts")  # `prompts/x.txt` or `x.txt`
SHIPPED_PIPELINES = REPO_DIR / "pipelines"


def pipeline_path(value: str | Path, base: Path | None, shipped: tuple[Path, ...] = ()) -> Path | None:
    """The one rule for a relative path written in a pipeline: relative to `base`, the folder of the YAML file
    that names it (the working dir for a pipeline built in Python), then each shipped folder in turn.
    An absolute path is taken as is. None when nothing exists there."""
    rel = Path(str(value)).expanduser()
    if rel.is_absolute():
        return rel if rel.exists() else None
    for folder in (base or Path.cwd(), *shipped):
        if (folder / rel).exists():
            return folder / rel
    return None


def prompt_search_path(base: Path | None = None) -> list[Path]:
    """Where a relative prompt file is looked for: beside the YAML (the working dir for a pipeline built in
    Python), then the shipped prompts."""
    return [base or Path.cwd(), *SHIPPED_PROMPTS]
