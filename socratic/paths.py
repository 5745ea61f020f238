"""Where things live: the cache root, the repository's prompts/ and pipelines/, shipped vocabularies."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
VOCAB_DIR = PACKAGE_DIR / "vocab"
_UMASK = os.umask(0o22)  # read once, at import (os.umask can only be read by setting it)
os.umask(_UMASK)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write via a temporary file beside `path` and rename: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # an ordinary file's mode, not mkstemp's private 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_root() -> Path:
    """`$SOCRATIC_CACHE`, else `~/.cache/socratic`."""
    root = Path(os.environ.get("SOCRATIC_CACHE") or Path.home() / ".cache" / "socratic")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    d = cache_root().joinpath(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d


def prompt_search_path(base: Path | None = None) -> list[Path]:
    """Where a relative prompt file is looked for: beside the YAML, the working dir, the repo's prompts/."""
    dirs = [base] if base else []
    return dirs + [Path.cwd(), REPO_DIR, REPO_DIR / "prompts"]
