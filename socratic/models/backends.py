"""Importing this module registers every built-in backend."""

from . import (alm_whisper, atm_clap, captioner_openai, captioner_transformers, lm_hybrid,  # noqa: F401
               lm_llama_cpp, lm_openai, lm_transformers, ocr, text_embed_st, vlm_open_clip)
