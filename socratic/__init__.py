"""socratic: zero-training compositional pipelines over pretrained vision, audio and language models."""

from .context import Context
from .errors import SocraticError, ValidationError
from .node import node

__all__ = ["Context", "Pipeline", "SocraticError", "ValidationError", "node"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Pipeline":  # the engine (and torch) load on first use, so `socratic report` never needs them
        from .engine.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'socratic' has no attribute {name!r}")
