"""Importing this module registers every built-in backend."""

from . import (alm_whisper, atm_clap, lm_hybrid, lm_llama_cpp, lm_openai, lm_transformers,  # noqa: F401
               text_embed_st, vlm_open_clip)
