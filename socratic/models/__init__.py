from .base import ALM, LM, VLM, Completion, Model, Segment, Transcript
from .loader import ModelSpec, backend, load_model, pick_device, pick_dtype

__all__ = ["ALM", "LM", "VLM", "Completion", "Model", "Segment", "Transcript", "ModelSpec", "backend",
           "load_model", "pick_device", "pick_dtype"]
