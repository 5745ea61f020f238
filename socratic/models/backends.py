"""Where each model backend lives. Built-ins are a table of "module:attribute" paths, imported only when a model
of that backend loads (so a pipeline pays only for its own libraries); `@backend` registers others at run time."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

from ..errors import SocraticError

if TYPE_CHECKING:
    from .base import Model
    from .loader import ModelSpec

BUILTIN_BACKENDS: dict[tuple[str, str], str] = {
    ("alm", "faster_whisper"): "socratic.models.alm_whisper:load_faster_whisper",
    ("alm", "whisper"): "socratic.models.alm_whisper:load_openai_whisper",
    ("atm", "clap"): "socratic.models.atm_clap:ClapAudioText",
    ("captioner", "openai"): "socratic.models.captioner_openai:OpenAICaptioner",
    ("captioner", "transformers"): "socratic.models.captioner_transformers:load_transformers_captioner",
    ("lm", "hybrid"): "socratic.models.lm_hybrid:load_hybrid_lm",
    ("lm", "llama_cpp"): "socratic.models.lm_llama_cpp:load_llama_cpp_lm",
    ("lm", "openai"): "socratic.models.lm_openai:OpenAILM",
    ("lm", "transformers"): "socratic.models.lm_transformers:load_transformers_lm",
    ("ocr", "rapidocr"): "socratic.models.ocr:RapidOCR",
    ("ocr", "tesseract"): "socratic.models.ocr:TesseractOCR",
    ("text_embed", "sentence_transformers"): "socratic.models.text_embed_st:SentenceTransformerEmbedder",
    ("vlm", "open_clip"): "socratic.models.vlm_open_clip:OpenClipVLM",
}

# Loaders known in this process: registered with @backend, plus built-ins once imported.
_BACKENDS: dict[tuple[str, str], Callable[["ModelSpec"], "Model"]] = {}


def backend(family: str, name: str):
    """Register `fn(spec) -> Model` as the loader of `family`/`name` (a plugin's or a script's own backend)."""

    def wrap(fn):
        _BACKENDS[(family, name)] = fn
        return fn

    return wrap


def backend_names(family: str) -> list[str]:
    """Every backend name of `family`, built-in or registered."""
    return sorted({b for f, b in (*BUILTIN_BACKENDS, *_BACKENDS) if f == family})


def check_backend(family: str, name: str, field: str | None = None) -> None:
    """Raise a one-line error naming the choices when `family` has no backend `name`."""
    if (family, name) not in _BACKENDS and (family, name) not in BUILTIN_BACKENDS:
        raise SocraticError(f"unknown {family} backend {name!r} (one of {backend_names(family)})", field=field)


def backend_loader(family: str, name: str) -> Callable[["ModelSpec"], "Model"]:
    """The loader of `family`/`name`, importing a built-in's module on first use."""
    check_backend(family, name)
    key = (family, name)
    if key not in _BACKENDS:
        module, _, attr = BUILTIN_BACKENDS[key].partition(":")
        _BACKENDS.setdefault(key, getattr(importlib.import_module(module), attr))
    return _BACKENDS[key]
