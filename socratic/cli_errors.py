"""The one error rule of every command: bad input ends in one line on stderr and a non-zero exit, never a traceback
(SOCRATIC_DEBUG=1 shows it). Exit 2: a SocraticError or an unreadable file; 1: anything unexpected; 130: Ctrl-C."""

from __future__ import annotations

import functools
import os

import typer

from .errors import SocraticError


def one_line(exc: BaseException) -> str:
    """The message of an error on one line, naming the file when the OS error has one."""
    if isinstance(exc, SocraticError):
        return exc.format()
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return where + " ".join(str(exc.strerror or exc).split())
    return f"{type(exc).__name__}: " + " ".join(str(exc).split())


def cli_errors(fn):
    """Decorate a command so that every failure is reported by `one_line`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except (SocraticError, OSError) as exc:
            if os.environ.get("SOCRATIC_DEBUG"):
                raise
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(2) from None
        except Exception as exc:  # unexpected: still one line
            if os.environ.get("SOCRATIC_DEBUG"):
                raise
            typer.echo(f"error: {one_line(exc)} (SOCRATIC_DEBUG=1 shows the traceback)", err=True)
            raise typer.Exit(1) from None

    return wrapper
