"""One error type whose message is a single line naming what is at fault."""

from __future__ import annotations


class SocraticError(Exception):
    """A user-facing error: `file:line: node 'n': field 'f': message`, on one line."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 node: str | None = None, field: str | None = None):
        self.message = " ".join(str(message).split())
        self.file, self.line, self.node, self.field = file, line, node, field
        super().__init__(self.format())

    def format(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else str(self.file))
        if self.node:
            parts.append(f"node '{self.node}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        parts.append(self.message)
        return ": ".join(parts)

    def locate(self, **where: object) -> "SocraticError":
        """Fill in whichever of file / line / node / field are not yet known."""
        for key, value in where.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        self.args = (self.format(),)
        return self


class ValidationError(SocraticError):
    """Every problem found in a pipeline, one per line."""

    def __init__(self, problems: list[SocraticError]):
        self.problems = problems
        Exception.__init__(self, "\n".join(p.format() for p in problems))
        self.message = self.args[0]
        self.file = self.line = self.node = self.field = None

    def format(self) -> str:
        return self.message


class ModelNotFound(SocraticError):
    """Weights that cannot be resolved offline; the message says how to provide them."""
