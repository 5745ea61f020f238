"""socratic: zero-training compositional pipelines over pretrained vision, audio and language models."""

from .context import Context
from .errors import SocraticError, ValidationError
from .node import node
from .engine.pipeline import Pipeline

__all__ = ["Context", "Pipeline", "SocraticError", "ValidationError", "node"]
__version__ = "0.1.0"
