"""Audio nodes: speech transcription with segment timestamps.

Degradations (documented, not errors): a file without an audio track, or whose track is silent, gives no
segments and an empty text, with a warning in the trace; the egocentric log then has no "heard" parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..media.video import extract_audio
from ..models.base import ALM
from ..node import node
from ..types import Audio, Video

SAMPLE_RATE = 16000  # what Whisper expects


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak level in dB relative to full scale (-inf for digital silence)."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


@node("transcribe", outputs={"segments": list[Any], "text": str})
def transcribe(audio: Audio | Video, *, alm: ALM, language: str | None = None, silence_dbfs: float = -50.0,
               ctx: Context) -> dict:
    """Speech → segments `{start, end, text}` (seconds from the start of the file) and the whole text.

    The audio track is decoded to 16 kHz mono first. No audio track, or a track whose peak stays below
    `silence_dbfs`, gives no segments and a warning (Whisper is not run: it tends to invent words on silence)."""
    samples = extract_audio(audio, sr=SAMPLE_RATE)
    if samples is None:
        ctx.warn(f"{audio}: no audio track; nothing was heard")
        return {"segments": [], "text": ""}
    if len(samples) == 0 or peak_dbfs(samples) < silence_dbfs:
        ctx.warn(f"{audio}: the audio track is silent (peak below {silence_dbfs:g} dBFS); nothing was heard")
        return {"segments": [], "text": ""}
    result = alm.transcribe(samples, language=language)
    segments = [{"start": round(float(s.start), 3), "end": round(float(s.end), 3), "text": s.text.strip()}
                for s in result.segments if s.text.strip()]
    if not segments:
        ctx.warn(f"{audio}: no speech recognised in the audio track")
    return {"segments": segments, "text": " ".join(s["text"] for s in segments)}
