"""The trust rules for pipeline files (docs/trust.md): which files a pipeline file may make us read, and which
environment variables it may have us send as API keys. The command line and the environment widen them;
`engine/access.py` applies them to a pipeline."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from .paths import REPO_DIR, VOCAB_DIR

ALLOW_READ_ENV = "SOCRATIC_ALLOW_READ"  # more folders a pipeline may read, os.pathsep-separated (--allow-read)
ALLOW_KEY_ENV = "SOCRATIC_ALLOW_KEY_ENV"  # more variables that may be sent as API keys, comma-separated (--allow-env)
SHIPPED = (REPO_DIR / "prompts", REPO_DIR / "pipelines", VOCAB_DIR)
_CREDENTIAL = re.compile(r"(^|_)(API_KEY|TOKEN)$", re.IGNORECASE)


def allow(*, read: Iterable[str | Path] = (), key_env: Iterable[str] = ()) -> None:
    """Widen the rules for this process and its workers (the command line's --allow-read / --allow-env)."""
    dirs = [str(Path(d).expanduser().resolve()) for d in read]
    if dirs:
        os.environ[ALLOW_READ_ENV] = os.pathsep.join(filter(None, [os.environ.get(ALLOW_READ_ENV), *dirs]))
    names = [n.strip() for n in key_env if n.strip()]
    if names:
        os.environ[ALLOW_KEY_ENV] = ",".join(filter(None, [os.environ.get(ALLOW_KEY_ENV), *names]))


def allowed_folders() -> list[Path]:
    """The folders allowed beyond a pipeline's own: the shipped ones and those of $SOCRATIC_ALLOW_READ."""
    extra = [Path(d).expanduser().resolve() for d in os.environ.get(ALLOW_READ_ENV, "").split(os.pathsep) if d]
    return [p.resolve() for p in SHIPPED] + extra


def may_read(path: str | Path, folders: Iterable[Path]) -> bool:
    """Whether `path` (symbolic links followed) lies inside one of `folders` or the allowed folders."""
    real = Path(path).expanduser().resolve()
    return any(real.is_relative_to(Path(f).resolve()) for f in [*folders, *allowed_folders()])


def may_send_as_key(name: str) -> bool:
    """Whether an environment variable is meant as a credential: named `*_API_KEY` or `*_TOKEN`, or allowed by
    --allow-env / $SOCRATIC_ALLOW_KEY_ENV."""
    allowed = {n.strip() for n in os.environ.get(ALLOW_KEY_ENV, "").split(",") if n.strip()}
    return bool(_CREDENTIAL.search(name)) or name in allowed
