"""One small interface per model family. Backends subclass these; nodes type their params with them."""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from ..encoding import safe_text, utf8
from ..errors import SocraticError


class Model(ABC):
    """Common to every family: a stable id for traces and cache keys, and warnings to surface."""

    model_id: str = "unknown"
    fingerprint: str = ""  # id + revision/checksum: part of every cache key
    warnings: tuple[str, ...] = ()


class VLM(Model):
    """A CLIP-style image-text model. Embeddings are L2-normalised float32 rows."""

    device: torch.device
    logit_scale: float

    @abstractmethod
    def encode_images(self, images: Sequence[Any]) -> torch.Tensor: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...

    def similarity(self, images: Sequence[Any], texts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity, (n_images, n_texts)."""
        return self.encode_images(images) @ self.encode_texts(texts).T

    def rank(self, images: Sequence[Any], texts: Sequence[str], top_k: int | None = None
             ) -> list[list[tuple[str, float]]]:
        """Per image, texts sorted by softmax(logit_scale * cos) probability (zero-shot classification)."""
        probs = (self.logit_scale * self.similarity(images, texts)).softmax(dim=-1)
        k = min(top_k or len(texts), len(texts))
        vals, idx = probs.topk(k, dim=-1)
        return [[(texts[j], float(v)) for v, j in zip(vr.tolist(), ir.tolist())] for vr, ir in zip(vals, idx)]


@dataclass
class Completion:
    text: str
    token_logprobs: list[float] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    @property
    def logprob(self) -> float:
        return float(sum(self.token_logprobs))


class LM(Model):
    """A language model: sample or greedily decode completions, and score continuations.

    Chat rule: `chat=None` means the spec's `chat:` option (default false: the prompt goes in raw); True wraps the
    prompt as one user message in the model's chat template plus the generation prompt. `instruct` says whether
    the model is instruction-tuned (nodes use it to decide `chat: auto`).
    """

    chat: bool = False  # default of `chat=None`
    instruct: bool = False
    context_length: int | None = None  # most tokens (prompt + generated) the model takes; None: unknown

    @abstractmethod
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, n: int = 1, stop: Sequence[str] = (), seed: int | None = None,
                 logprobs: bool = False, chat: bool | None = None) -> list[list[Completion]]:
        """One list of `n` completions per prompt, in prompt order. temperature 0 = greedy."""

    @abstractmethod
    def score(self, prompts: Sequence[str], continuations: Sequence[str], *, chat: bool | None = None
              ) -> list[list[float]]:
        """Per-token log-probs of each continuation given its prompt."""

    def count_tokens(self, text: str, *, chat: bool | None = None) -> int:
        """Tokens `text` takes as a prompt, the chat wrapping included when chat applies. This default, for
        backends without a local tokenizer, is an estimate meant to over-count: see `estimate_tokens`."""
        return estimate_tokens(text, chat=self.use_chat(chat))

    def use_chat(self, chat: bool | None) -> bool:
        return self.chat if chat is None else bool(chat)


_INSTRUCT_NAME = re.compile(r"instruct|chat|(?<![a-z0-9])it(?![a-z0-9])", re.IGNORECASE)


CHAT_OVERHEAD_TOKENS = 48  # role markers, generation prompt, and a default system prompt (SmolLM2: 30)


_PIECES = re.compile(r"[A-Za-z]+|\s+|.", re.DOTALL)


def prepare_decoding(lm: Any, prompts: Sequence[str], *, n: int, temperature: float, top_p: float,
                     max_new_tokens: int, stop: str | Sequence[str], seed: int | None, chat: bool | None
                     ) -> tuple[list[str], list[Any], list[str], bool, int]:
    """What a local backend's `generate` starts from, with its settings checked: the prompts, their token ids
    (`lm.encode_prompt`), the non-empty stop strings, greedy or not, and the seed (drawn when None)."""
    if n < 1 or temperature < 0 or not 0 < top_p <= 1 or max_new_tokens < 0:
        raise SocraticError(f"bad decoding settings: n={n}, temperature={temperature}, top_p={top_p}, "
                            f"max_new_tokens={max_new_tokens}")
    stops = [safe_text(s) for s in ([stop] if isinstance(stop, str) else stop) if s]
    prompts = [safe_text(p) for p in prompts]  # a lone surrogate as its escape: tokenizers take only UTF-8
    encoded = [lm.encode_prompt(p, chat) for p in prompts]
    return prompts, encoded, stops, temperature == 0, random.randrange(1 << 62) if seed is None else seed


def estimate_tokens(text: str, *, chat: bool = False) -> int:
    """A token count without a tokenizer, meant to over-count: a word of letters takes len/3 tokens rounded up
    (English averages ~4 characters a token), every digit, punctuation mark and non-ASCII byte one (tokenizers
    often split these: SmolLM2 splits every digit), a run of whitespace other than one space one; +48 for a chat
    wrapping."""
    n = 0
    for piece in _PIECES.findall(text):
        if piece[0].isascii() and piece[0].isalpha():
            n += -(-len(piece) // 3)
        elif piece[0].isspace():
            n += piece != " "
        else:
            n += len(utf8(piece))
    return n + (CHAT_OVERHEAD_TOKENS if chat else 0)


def instruct_name(*names: str | None) -> bool:
    """Whether a model id / packaged name / file name says instruct, chat or -it."""
    return any(n and _INSTRUCT_NAME.search(n) for n in names)


@dataclass
class Segment:
    start: float
    end: float
    text: str


@dataclass
class Transcript:
    segments: list[Segment]
    language: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


class ALM(Model):
    """Speech recognition with segment timestamps (seconds)."""

    @abstractmethod
    def transcribe(self, audio: str | Any, *, language: str | None = None) -> Transcript: ...

    def detect_language(self, samples: Any) -> str | None:
        """The spoken language of 16 kHz mono samples (its first 30 s); backends may do it without decoding."""
        return self.transcribe(samples).language


class AudioText(Model):
    """A CLAP-style audio-text model. Waveforms are mono float arrays at `sample_rate` Hz; embeddings are
    L2-normalised float32 rows."""

    device: torch.device
    sample_rate: int
    logit_scale: float

    @abstractmethod
    def encode_audio(self, waveforms: Sequence[Any]) -> torch.Tensor: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...

    def encode_vocab(self, texts: Sequence[str]) -> torch.Tensor:
        """encode_texts for a fixed label list; backends may cache it."""
        return self.encode_texts(texts)

    def rank(self, audios: Sequence[Any], texts: Sequence[str], top_k: int | None = None,
             text_embeddings: torch.Tensor | None = None) -> list[list[tuple[str, float]]]:
        """Per waveform, texts sorted by softmax(logit_scale * cos) probability (zero-shot classification)."""
        emb = self.encode_texts(texts) if text_embeddings is None else text_embeddings
        probs = (self.logit_scale * (self.encode_audio(audios) @ emb.T)).softmax(dim=-1)
        k = min(top_k or len(texts), len(texts))
        vals, idx = probs.topk(k, dim=-1)
        return [[(texts[j], float(v)) for v, j in zip(vr.tolist(), ir.tolist())] for vr, ir in zip(vals, idx)]


class TextEmbedder(Model):
    """A sentence-embedding model. Embeddings are L2-normalised float32 rows of width `dim`."""

    device: torch.device
    dim: int

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> torch.Tensor: ...

    def encode_vocab(self, texts: Sequence[str]) -> torch.Tensor:
        """encode for a fixed text list; backends may cache it."""
        return self.encode(texts)


class Captioner(Model):
    """An image-to-text model: BLIP / BLIP-2, Florence-2, SmolVLM, LLaVA, Qwen-VL, ...
    (models/captioner_transformers.py) or a vision chat API (models/captioner_openai.py).

    `caption(items, prompt=None, max_new_tokens=48) -> list[str]`: one caption per item, in order, decoded greedily.
    An item is an image (PIL image, `KeyFrame`, numpy array or file path) or a short clip: a list of images in time
    order, which chat models see together in one message (models taking one image see the clip's middle frame).
    `prompt` None is the model's own default (`default_prompt`: an instruction for chat models, a task token for
    Florence-2, none for BLIP, which captions unconditionally and reads a prompt as the caption's first words).
    A caption may be empty; nodes decide what stands in for it (nodes/caption.py)."""

    default_prompt: str | None = None

    @abstractmethod
    def caption(self, items: Sequence[Any], prompt: str | None = None, *, max_new_tokens: int = 48) -> list[str]: ...


@dataclass
class TextBox:
    """One line of text found in an image: its words, the recogniser's confidence (0-1) and its corner points
    (x, y pixels of the image read, clockwise from top left)."""

    text: str
    score: float
    box: list[list[float]]


class OCR(Model):
    """Scene-text reading (models/ocr.py): per image, the text lines found, in reading order (top to bottom, then
    left to right), each with a confidence; lines below `min_score` are left out."""

    @abstractmethod
    def read(self, images: Sequence[Any], *, min_score: float = 0.5) -> list[list[TextBox]]: ...


MODEL_FAMILIES: dict[str, type[Model]] = {"vlm": VLM, "lm": LM, "alm": ALM, "atm": AudioText,
                                          "text_embed": TextEmbedder, "captioner": Captioner, "ocr": OCR}
