"""Audio nodes: speech transcription with segment timestamps, and sound events ranked by an audio-text model.

Degradations (documented, not errors): a file without an audio track, or whose track is silent, gives no
segments and an empty text, with a warning in the trace; the egocentric log then has no "heard" parts.
Likewise `sound_events` gives no events (and a warning) for a file without an audio track.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np


from ..context import Context
from ..media.audio_stream import iter_audio, speech_stretches
from ..errors import SocraticError
from ..models.base import ALM, AudioText
from ..node import node
from ..types import Audio, Video, Vocab

SAMPLE_RATE = 16000  # what Whisper expects


@node("transcribe", outputs={"segments": list[Any], "text": str})
def transcribe(audio: Audio | Video, *, alm: ALM, language: str | None = None, silence_dbfs: float = -50.0,
               gap_s: float = 5.0, max_chunk_s: float = 600.0, ctx: Context) -> dict:
    """Speech → segments `{start, end, text}` (seconds from the start of the file) and the whole text.

    The audio track is decoded to 16 kHz mono as a stream and cut into the stretches whose peak reaches
    `silence_dbfs` (merged across gaps under `gap_s`, at most `max_chunk_s` long, cut at a quiet moment);
    Whisper runs on each stretch, so memory stays flat on long videos and silence costs nothing (Whisper
    tends to invent words on silence). Without `language`, it is detected once, on the first 30 s of sound,
    and used for every stretch (a short stretch alone is too little to tell). No audio track, or no stretch
    above `silence_dbfs`, gives no segments and a warning."""
    blocks = iter_audio(audio, sr=SAMPLE_RATE)
    if blocks is None:
        ctx.warn(f"{audio}: no audio track; nothing was heard")
        return {"segments": [], "text": ""}
    stretches = speech_stretches(blocks, SAMPLE_RATE, silence_dbfs=silence_dbfs, gap_s=gap_s, max_s=max_chunk_s)
    if language is None:
        first, language = _detect_language(stretches, alm)
        stretches = itertools.chain(first, stretches)
    segments, count = [], 0
    for offset, samples in stretches:
        count += 1
        result = alm.transcribe(samples, language=language)
        segments += [{"start": round(offset + float(s.start), 3), "end": round(offset + float(s.end), 3),
                      "text": s.text.strip()} for s in result.segments if s.text.strip()]
    if not count:
        ctx.warn(f"{audio}: the audio track is silent (peak below {silence_dbfs:g} dBFS); nothing was heard")
    elif not segments:
        ctx.warn(f"{audio}: no speech recognised in the audio track")
    return {"segments": segments, "text": " ".join(s["text"] for s in segments)}


def _detect_language(stretches, alm: ALM, seconds: float = 30.0) -> tuple[list, str | None]:
    """Read stretches until `seconds` of sound are buffered; the language of that sound, and the buffer."""
    first, total = [], 0
    for item in stretches:
        first.append(item)
        total += len(item[1])
        if total >= seconds * SAMPLE_RATE:
            break
    if not first:
        return first, None
    return first, alm.detect_language(np.concatenate([s for _, s in first])[: int(seconds * SAMPLE_RATE)])


@node("sound_events", outputs={"events": list[Any]})
def sound_events(audio: Audio | Video, *, atm: AudioText, vocab: Vocab | list[str] = "audioset", template: str = "{}",
                 window_s: float = 2.0, top_k: int = 3, min_score: float | None = None, ctx: Context) -> list[dict]:
    """Sound events per window: `{start, end, labels, scores}`, labels of `vocab` ranked by the audio-text model.

    The audio track is decoded at the model's sample rate and cut into consecutive windows of `window_s`
    seconds (the last one shorter), which together cover the whole track. Scores are softmax(logit_scale · cos)
    over the vocabulary (filled into `template`); labels scoring below `min_score` are dropped, a window may
    then list none. No audio track gives no events and a warning."""
    from .vision import fill_template, resolve_vocab

    if not window_s or window_s <= 0:
        raise SocraticError(f"window_s must be > 0, got {window_s!r}", field="window_s")
    if top_k < 1:
        raise SocraticError(f"top_k must be >= 1, got {top_k}", field="top_k")
    labels = resolve_vocab(vocab)
    texts = fill_template(template, labels)
    rate = int(atm.sample_rate)
    blocks = iter_audio(audio, sr=rate, block_s=max(60.0, window_s))
    if blocks is None:
        ctx.warn(f"{audio}: no audio track; no sound events")
        return []
    emb = atm.encode_vocab(texts)
    names = dict(zip(texts, labels))
    step = max(1, int(round(window_s * rate)))
    events: list[dict] = []
    for start, windows in _windows(blocks, step):
        ranked = atm.rank(windows, texts, top_k, text_embeddings=emb)
        for k, (samples, row) in enumerate(zip(windows, ranked)):
            a = start + k * step
            kept = [(names[t], s) for t, s in ((t, round(p, 6)) for t, p in row) if min_score is None or s >= min_score]
            events.append({"start": round(a / rate, 3), "end": round((a + len(samples)) / rate, 3),
                           "labels": [t for t, _ in kept], "scores": [p for _, p in kept]})
    if not events:
        ctx.warn(f"{audio}: the audio track has no samples; no sound events")
    return events


def _windows(blocks, step: int):
    """(first sample, windows of `step` samples) per block of a stream; the last window may be shorter."""
    carry, start = np.zeros(0, np.float32), 0
    for block in blocks:
        carry = np.concatenate([carry, block])
        whole = len(carry) // step * step
        if whole:
            yield start, [carry[i:i + step] for i in range(0, whole, step)]
            start, carry = start + whole, carry[whole:]
    if len(carry):
        yield start, [carry]
