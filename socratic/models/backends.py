"""Importing this module registers every built-in backend."""

from . import alm_whisper, atm_clap, lm_openai, lm_transformers, text_embed_st, vlm_open_clip  # noqa: F401
