"""PICa (Yang et al. 2021): knowledge-based VQA by prompting an LM with captions and in-context examples."""

from .core import PICaSettings, answer_batch, build_prompts
from .ensemble import EnsembleResult, ensemble_answer, generate_answers, process_answer
from .memory import ExampleMemory, build_memory
from .prompt import PromptFormat, image_context

__all__ = ["PICaSettings", "answer_batch", "build_prompts", "EnsembleResult", "ensemble_answer",
           "generate_answers", "process_answer", "ExampleMemory", "build_memory", "PromptFormat",
           "image_context", "PICa"]


def __getattr__(name):
    if name == "PICa":  # the engine-backed API loads lazily
        from .api import PICa

        return PICa
    raise AttributeError(name)
