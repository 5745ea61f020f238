"""`socratic ...` run in this process (typer's CliRunner): the real commands without a new interpreter's start-up
(seconds of imports each). Returns what `subprocess.run` would: returncode, stdout, stderr."""

from __future__ import annotations

import os
from types import SimpleNamespace

from socratic.trust import ALLOW_KEY_ENV, ALLOW_READ_ENV


def socratic_cli(*args, env: dict[str, str] | None = None) -> SimpleNamespace:
    from typer.testing import CliRunner

    from socratic.cli import app

    kept = {k: os.environ.get(k) for k in (ALLOW_READ_ENV, ALLOW_KEY_ENV)}  # --allow-* widen os.environ
    try:
        r = CliRunner().invoke(app, [str(a) for a in args], env=env)
    finally:
        for k, v in kept.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=r.stderr)
