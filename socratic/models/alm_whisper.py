"""Whisper speech recognition: faster-whisper (CTranslate2) and openai-whisper backends.

    alm: {family: alm, backend: faster_whisper, packaged: whisper-base-ct2}
    alm: {family: alm, backend: whisper, name: base}   # or path: model.pt, or random_init: true
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelNotFound, SocraticError
from .base import ALM, Segment, Transcript
from .loader import ModelSpec, pick_device
from .resolve import check_options, fingerprint_dir, hf_cache_dir, offline, resolve_weights, weight_option

SAMPLE_RATE = 16000

# Shapes of the released openai-whisper checkpoints (n_mels, vocab, width, heads, encoder/decoder layers),
# used only to build randomly initialised models for speed benchmarks.
_DIMS = {
    "tiny": (80, 51865, 384, 6, 4, 4), "base": (80, 51865, 512, 8, 6, 6), "small": (80, 51865, 768, 12, 12, 12),
    "medium": (80, 51865, 1024, 16, 24, 24), "large-v2": (80, 51865, 1280, 20, 32, 32),
    "large-v3": (128, 51866, 1280, 20, 32, 32), "turbo": (128, 51866, 1280, 20, 32, 4),
}


def audio_array(audio: Any, decode) -> np.ndarray:
    """A mono float32 16 kHz array from a path (decoded with `decode`) or an array."""
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio).expanduser()
        if not path.is_file():
            raise SocraticError(f"audio file not found: {path}")
        try:
            arr = np.asarray(decode(str(path)), dtype=np.float32)
        except Exception as exc:  # decoders raise many types; a video without sound lands here
            msg = " ".join(str(exc).split())[-200:]
            raise SocraticError(f"cannot decode audio from {path}: no readable audio stream ({msg})") from None
        if arr.size == 0:
            raise SocraticError(f"{path} has no audio stream (or no samples)")
        return arr
    try:
        import torch

        if isinstance(audio, torch.Tensor):
            audio = audio.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim != 1 or arr.size == 0:
        raise SocraticError(f"audio array must be 1-D, non-empty, 16 kHz mono; got shape {arr.shape}")
    return arr


def _segments(raw, duration: float) -> list[Segment]:
    """Segments with times clamped to the audio's duration."""
    out = []
    for start, end, text in raw:
        end = min(float(end), duration)
        out.append(Segment(min(float(start), end), end, text))
    return out


# ---- faster-whisper -----------------------------------------------------------------------------------

def load_faster_whisper(spec: ModelSpec) -> "FasterWhisperALM":
    return FasterWhisperALM(spec)


class FasterWhisperALM(ALM):
    OPTIONS = {"name", "device", "compute_type", "beam_size", "language", "cpu_threads"}

    def __init__(self, spec: ModelSpec):
        from faster_whisper import WhisperModel

        check_options(spec, self.OPTIONS)
        o = spec.options
        if weight_option(spec) is None:
            name = str(o.get("name") or "")
            if not name:
                raise SocraticError("set `packaged: whisper-base-ct2`, `path:` (a CTranslate2 directory), "
                                    "`id:` or `name:` (a size such as base)", field=f"models.{spec.name}")
            model_dir = self._by_size(name, spec)
            self.model_id, self.fingerprint = f"faster-whisper-{name}", f"fw:{name}:{fingerprint_dir(model_dir)}"
        else:
            w = resolve_weights(spec)
            model_dir = w.path if w.path is not None else Path(w.target)
            self.model_id, self.fingerprint = w.label, w.fingerprint
        if not (Path(model_dir) / "model.bin").is_file():
            raise SocraticError(f"{model_dir} is not a CTranslate2 Whisper directory (no model.bin)",
                                field=f"models.{spec.name}")
        dev = pick_device(o.get("device"))
        self.device = dev
        compute = o.get("compute_type") or ("float16" if dev.type == "cuda" else "int8")
        self.beam_size = int(o.get("beam_size", 5))
        self.language = o.get("language")
        self.model = WhisperModel(str(model_dir), device=dev.type, device_index=dev.index or 0,
                                  compute_type=compute, cpu_threads=int(o.get("cpu_threads", 0)))

    @staticmethod
    def _by_size(name: str, spec: ModelSpec) -> Path:
        from faster_whisper.utils import download_model

        allow = bool(spec.options.get("download")) and not offline()
        try:
            return Path(download_model(name, local_files_only=not allow, cache_dir=hf_cache_dir()))
        except ValueError as exc:  # unknown size
            raise SocraticError(str(exc), field=f"models.{spec.name}.name") from None
        except Exception:
            raise ModelNotFound(f"model {spec.name!r}: faster-whisper {name!r} is not in the local Hugging Face "
                                f"cache; download it once (e.g. `hf download Systran/faster-whisper-{name}`) or "
                                f"use `packaged: whisper-base-ct2` or `path:`", field=f"models.{spec.name}.name"
                                ) from None

    def detect_language(self, samples: Any) -> str | None:
        return self.model.detect_language(audio_array(samples, None))[0]

    def transcribe(self, audio: str | Any, *, language: str | None = None) -> Transcript:
        from faster_whisper import decode_audio

        arr = audio_array(audio, lambda p: decode_audio(p, sampling_rate=SAMPLE_RATE))
        segs, info = self.model.transcribe(arr, language=language or self.language, beam_size=self.beam_size)
        raw = [(s.start, s.end, s.text) for s in segs]
        return Transcript(_segments(raw, arr.size / SAMPLE_RATE), language=info.language)


# ---- openai-whisper -----------------------------------------------------------------------------------

def load_openai_whisper(spec: ModelSpec) -> "OpenAIWhisperALM":
    return OpenAIWhisperALM(spec)


def whisper_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "whisper"


class OpenAIWhisperALM(ALM):
    OPTIONS = {"name", "device", "random_init", "seed", "beam_size", "language", "temperature",
               "sample_len"}

    def __init__(self, spec: ModelSpec):
        import whisper

        check_options(spec, self.OPTIONS)
        o = spec.options
        dev = pick_device(o.get("device"))
        self.device, self.language = dev, o.get("language")
        self.beam_size = o.get("beam_size")
        self.temperature = o.get("temperature")  # whisper's default: fall back through 0.0 ... 1.0
        self.sample_len = o.get("sample_len")
        name = str(o.get("name") or "base")
        if o.get("random_init"):
            self.model = random_whisper(name, seed=int(o.get("seed", 0))).to(dev)
            self.model_id, self.fingerprint = f"whisper-{name}-random", f"whisper-random:{name}:{o.get('seed', 0)}"
            self.warnings = (f"openai-whisper {name!r} has random weights (random_init: true): its transcripts "
                             f"are meaningless; use it for speed benchmarks only",)
        elif weight_option(spec) is not None:
            w = resolve_weights(spec)
            if w.path is None or not w.path.is_file():
                raise SocraticError(f"openai-whisper needs a .pt checkpoint file, got {w.target}",
                                    field=f"models.{spec.name}")
            self.model = self._load(whisper, str(w.path), dev, spec)
            self.model_id, self.fingerprint = w.label, w.fingerprint
        else:
            if name not in whisper._MODELS:
                raise SocraticError(f"unknown whisper model {name!r} (one of {whisper.available_models()})",
                                    field=f"models.{spec.name}.name")
            url = whisper._MODELS[name]
            root = whisper_cache_root()
            if not (root / os.path.basename(url)).is_file() and not (o.get("download") and not offline()):
                raise ModelNotFound(f"model {spec.name!r}: whisper {name!r} is not in {root}; download it once "
                                    f"with `python -c \"import whisper; whisper.load_model('{name}')\"`, set "
                                    f"`path:` to a .pt checkpoint, or `download: true`",
                                    field=f"models.{spec.name}.name")
            self.model = self._load(whisper, name, dev, spec, download_root=str(root))
            self.model_id, self.fingerprint = f"whisper-{name}", f"whisper:{name}:{url.split('/')[-2]}"
        self.model.eval()
        self._fp16 = dev.type == "cuda"

    @staticmethod
    def _load(whisper, name_or_path: str, dev, spec: ModelSpec, **kw):
        try:
            return whisper.load_model(name_or_path, device=dev, **kw)
        except RuntimeError as exc:  # checksum mismatch or a bad checkpoint
            raise SocraticError(f"cannot load whisper {name_or_path!r}: {exc}", field=f"models.{spec.name}") from None

    def transcribe(self, audio: str | Any, *, language: str | None = None) -> Transcript:
        import whisper

        arr = audio_array(audio, whisper.load_audio)
        opts = {"beam_size": int(self.beam_size)} if self.beam_size else {}
        if self.sample_len:  # most tokens decoded per 30 s window (whisper's default: 224)
            opts["sample_len"] = int(self.sample_len)
        if self.temperature is not None:
            t = self.temperature
            opts["temperature"] = tuple(map(float, t)) if isinstance(t, (list, tuple)) else float(t)
        out = self.model.transcribe(arr, language=language or self.language, fp16=self._fp16, verbose=None, **opts)
        raw = [(s["start"], s["end"], s["text"]) for s in out["segments"]]
        return Transcript(_segments(raw, arr.size / SAMPLE_RATE), language=out.get("language"))


def random_whisper(name: str, seed: int = 0):
    """An openai-whisper model with the shape of size `name` and random weights."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    base = name.removesuffix(".en")
    base = {"large": "large-v3", "large-v1": "large-v2", "large-v3-turbo": "turbo"}.get(base, base)
    if base not in _DIMS:
        raise SocraticError(f"no model shape known for whisper {name!r} (one of {sorted(_DIMS)})", field="name")
    mels, vocab, width, heads, enc, dec = _DIMS[base]
    if name.endswith(".en"):
        vocab = 51864
    dims = ModelDimensions(n_mels=mels, n_audio_ctx=1500, n_audio_state=width, n_audio_head=heads,
                           n_audio_layer=enc, n_vocab=vocab, n_text_ctx=448, n_text_state=width,
                           n_text_head=heads, n_text_layer=dec)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Whisper(dims)
        # the text decoder's positional embedding is allocated with torch.empty: give it defined values
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
    return model
