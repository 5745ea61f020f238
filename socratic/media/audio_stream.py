"""A long audio track as a stream: decoded block by block, cut into the stretches that are not silent.

Whisper then runs on each stretch with its offset, so a two-hour track never sits in memory at once and long
silences cost nothing (Whisper also tends to invent words on silence). A stretch longer than `max_s` is cut at
its quietest moment near that length, so words are rarely split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import SocraticError
from .video import _open, _t0

FRAME_S = 0.1  # loudness is judged per 100 ms


def iter_audio(path: str | Path, sr: int = 16000, block_s: float = 30.0) -> Iterator[np.ndarray] | None:
    """Mono float32 blocks of about `block_s` seconds at `sr` Hz, aligned to the video's timeline (a track that
    starts late is preceded by zeros); None when the file has no audio track."""
    with _open(path) as c:
        if not c.streams.audio:
            return None
    return _blocks(path, sr, block_s)


def _blocks(path: str | Path, sr: int, block_s: float) -> Iterator[np.ndarray]:
    import av

    want = max(1, int(block_s * sr))
    with _open(path) as c:
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        pending: list[np.ndarray] = []
        size, started, decoded = 0, False, 0
        try:
            for frame in c.decode(stream):
                if not started:
                    started = True
                    lead = (frame.time or 0.0) - _t0(c) if frame.time is not None else 0.0
                    if lead > 0:
                        pending.append(np.zeros(int(round(lead * sr)), np.float32))
                        size += len(pending[-1])
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                    size += len(pending[-1])
                    decoded += len(pending[-1])
                if size >= want:
                    yield np.concatenate(pending)
                    pending, size = [], 0
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                decoded += len(pending[-1])
        except Exception as exc:  # corrupt packets surface as several av.error types
            if not decoded:
                raise SocraticError(f"cannot decode audio: {exc}", file=str(path)) from None
        if pending:
            yield np.concatenate(pending)


def _loud(frames: np.ndarray, floor: float) -> np.ndarray:
    """Per 100 ms frame (rows), whether its peak reaches `floor` (linear amplitude)."""
    return np.abs(frames).max(axis=1) >= floor if frames.size else np.zeros(0, bool)


def speech_stretches(blocks: Iterator[np.ndarray], sr: int = 16000, *, silence_dbfs: float = -50.0,
                     gap_s: float = 2.0, pad_s: float = 0.5, max_s: float = 600.0
                     ) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in seconds, samples) for each stretch of sound: 100 ms frames whose peak reaches `silence_dbfs`,
    merged across gaps shorter than `gap_s`, padded by `pad_s` on both sides (`pad_s` < `gap_s`), cut to at
    most `max_s` seconds at the quietest frame of the stretch's last 30 s. Silence yields nothing."""
    hop = max(1, int(round(FRAME_S * sr)))
    floor = 10.0 ** (silence_dbfs / 20.0)
    gap_n = max(2, int(round(gap_s / FRAME_S)))
    pad_n = min(int(round(pad_s / FRAME_S)), gap_n - 1)
    max_n = max(gap_n + 2 * pad_n + 1, int(round(max_s / FRAME_S)))
    search_n = max(1, min(max_n // 2, int(round(30.0 / FRAME_S))))
    buf = np.zeros(0, np.float32)
    base = 0  # timeline frame of buf[0]
    pos = 0  # next frame to judge
    start: int | None = None  # first frame of the open stretch
    last_loud = -1

    def take(a: int, b: int) -> tuple[float, np.ndarray]:
        return a * FRAME_S, buf[(a - base) * hop:(b - base) * hop].copy()

    for block in blocks:
        buf = np.concatenate([buf, block])
        whole = base + len(buf) // hop  # frames [base, whole) are complete
        while pos < whole:
            frame = buf[(pos - base) * hop:(pos - base + 1) * hop]
            if np.abs(frame).max() >= floor:
                if start is None:
                    start = max(base, pos - pad_n)
                last_loud = pos
            if start is not None and pos - last_loud >= gap_n:  # the stretch ended a gap ago
                yield take(start, last_loud + 1 + pad_n)
                start = None
            elif start is not None and pos + 1 - start >= max_n:  # too long: cut at the quietest recent frame
                lo = pos + 1 - search_n
                window = buf[(lo - base) * hop:(pos + 1 - base) * hop].reshape(search_n, hop)
                cut = lo + int(np.argmin(np.abs(window).max(axis=1))) + 1
                yield take(start, cut)
                start = cut
            pos += 1
        keep = start if start is not None else max(base, pos - pad_n)  # what the next stretch may still need
        buf, base = buf[(keep - base) * hop:], keep
    if start is not None:
        end = min(last_loud + 1 + pad_n, base + -(-len(buf) // hop))
        offset, samples = take(start, end)
        if len(samples):
            yield offset, samples
