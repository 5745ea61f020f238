"""Small sample media built locally: espeak-ng speech, stills with a sign drawn on them, and videos assembled
from stills with ffmpeg.

Nothing is downloaded. Used by the README's sample video, the examples and the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..errors import SocraticError

AUDIO_RATE = 22050  # espeak-ng's native rate; the mixed narration track keeps it


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if not exe:
        raise SocraticError(f"{name} is not installed (e.g. apt-get install {name})")
    return exe


def run_tool(args: Sequence[str], what: str) -> None:
    """Run a media tool; a failure becomes a one-line SocraticError quoting its last stderr line."""
    proc = subprocess.run([_tool(args[0]), *args[1:]], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        raise SocraticError(f"{args[0]} failed on {what}: {last}")


def speak(text: str, path: str | Path, voice: str = "en", wpm: int = 150) -> Path:
    """Speak `text` into a mono wav file with espeak-ng; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    run_tool(["espeak-ng", "-v", voice, "-s", str(int(wpm)), "-w", str(path), text], str(path))
    return path


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit wav → (float32 samples in [-1, 1], sample rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise SocraticError(f"{path}: expected 16-bit PCM wav")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels()).mean(axis=1)
        return data, w.getframerate()


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or len(x) == 0:
        return x
    n = int(round(len(x) * dst / src))
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)


def scene_starts(scenes: Sequence[tuple[Any, str | None, float]]) -> list[float]:
    """Start time (seconds) of each scene: the running sum of the scene lengths."""
    return [float(s) for s in np.concatenate([[0.0], np.cumsum([sc[2] for sc in scenes])[:-1]])]


def sample_images() -> dict[str, Image.Image]:
    """scikit-image's bundled sample photographs, by name (no download)."""
    from skimage import data

    return {n: Image.fromarray(getattr(data, n)()).convert("RGB")
            for n in ("coffee", "chelsea", "astronaut", "rocket")}


def narration_track(scenes: Sequence[tuple[Any, str | None, float]], *, voice: str = "en", wpm: int = 150,
                    rate: int = AUDIO_RATE) -> np.ndarray:
    """One mono track as long as the video; scene i's narration starts at scene i's start time."""
    total = sum(sc[2] for sc in scenes)
    track = np.zeros(int(round(total * rate)), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (start, (_, text, seconds)) in enumerate(zip(scene_starts(scenes), scenes)):
            if not text:
                continue
            speech, sr = read_wav(speak(text, Path(tmp) / f"say{i}.wav", voice, wpm))
            speech = _resample(speech, sr, rate)
            if len(speech) > seconds * rate:
                raise SocraticError(f"scene {i}: narration lasts {len(speech) / rate:.1f} s, longer than the "
                                    f"scene's {seconds} s; lengthen the scene or shorten the text")
            a = int(round(start * rate))
            track[a:a + len(speech)] += speech
    return track


def build_sample_video(out_path: str | Path, scenes: Sequence[tuple[Any, str | None, float]], *,
                       fps: float = 10, size: tuple[int, int] = (320, 240), audio: bool = True,
                       voice: str = "en", wpm: int = 150) -> Path:
    """Assemble stills into an H.264 mp4, with an AAC narration track unless `audio=False`.

    scenes: `(image, narration or None, seconds)`; image is a PIL image, an array or a file path. Each still is
    centre-cropped to `size` (even width and height). Scene i is shown from `scene_starts(scenes)[i]` and its
    narration is spoken from that same instant; a narration longer than its scene is an error.
    """
    if not scenes:
        raise SocraticError("build_sample_video: no scenes given")
    if size[0] % 2 or size[1] % 2:
        raise SocraticError(f"build_sample_video: size {size} must have even width and height")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        args: list[str] = ["ffmpeg", "-y", "-loglevel", "error"]
        for i, (img, _, seconds) in enumerate(scenes):
            still = _as_image(img)
            png = Path(tmp) / f"scene{i}.png"
            ImageOps.fit(still, size).save(png)
            args += ["-loop", "1", "-framerate", str(fps), "-t", f"{seconds:.3f}", "-i", str(png)]
        n = len(scenes)
        if audio:
            wav = write_wav(Path(tmp) / "narration.wav", narration_track(scenes, voice=voice, wpm=wpm), AUDIO_RATE)
            args += ["-i", str(wav)]
        graph = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0,format=yuv420p[v]"
        args += ["-filter_complex", graph, "-map", "[v]"]
        if audio:
            args += ["-map", f"{n}:a", "-c:a", "aac", "-b:a", "64k"]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-r", str(fps), "-movflags", "+faststart", str(out_path)]
        run_tool(args, str(out_path))
    return out_path


def _as_image(img: Any) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    if isinstance(img, np.ndarray):
        return Image.fromarray(img).convert("RGB")
    with Image.open(img) as im:
        return im.convert("RGB")


# Camera motion within a scene (zoompan over a still twice the frame's size): `on` is the frame number.
MOTIONS = {
    "zoom": None,  # the slow `zoom` of build_long_video, centred
    "pan": ("1.5", "(iw-iw/zoom)*(0.5-0.5*cos(2*PI*on/{period}))", "(ih-ih/zoom)/2"),  # a head turning, 24 s
    "shake": ("1.25", "(iw-iw/zoom)*(0.5+0.2*sin(on*0.9))", "(ih-ih/zoom)*(0.5+0.2*sin(on*1.3))"),  # walking
}


def build_long_video(out_path: str | Path, scenes: Sequence[tuple[Any, float] | tuple[Any, float, str]],
                     narrations: Sequence[tuple[float, str]] = (), *, fps: float = 2, size: tuple[int, int] = (320, 240),
                     zoom: float = 0.0, voice: str = "en", wpm: int = 150, rate: int = 16000) -> Path:
    """An hour-scale video from stills: scene i shows `scenes[i][0]` for `scenes[i][1]` seconds, with a slow
    zoom of `zoom` per second (e.g. 0.001; 0 keeps it static) or the camera motion named third in the scene
    ("pan", "shake": MOTIONS), and each `(time, text)` narration is spoken from that time on. Built in one ffmpeg pass with low frame rate and size, so minutes of video take seconds."""
    if not scenes:
        raise SocraticError("build_long_video: no scenes given")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    total = sum(float(s[1]) for s in scenes)
    bad = [s[2] for s in scenes if len(s) > 2 and s[2] not in MOTIONS]
    if bad:
        raise SocraticError(f"build_long_video: unknown motion {bad[0]!r} (one of {', '.join(MOTIONS)})")
    w, h = size
    with tempfile.TemporaryDirectory() as tmp:
        track = np.zeros(int(round(total * rate)), dtype=np.float32)
        for i, (t, text) in enumerate(narrations):
            speech, sr = read_wav(speak(text, Path(tmp) / f"say{i}.wav", voice, wpm))
            speech = _resample(speech, sr, rate)
            a = int(round(t * rate))
            if a + len(speech) > len(track):
                raise SocraticError(f"narration {i} ({text[:30]!r}…) at {t} s runs past the video's end ({total} s)")
            track[a:a + len(speech)] += speech
        wav = write_wav(Path(tmp) / "narration.wav", track, rate)
        del track
        args: list[str] = ["ffmpeg", "-y", "-loglevel", "error"]
        for i, (img, *_) in enumerate(scenes):
            png = Path(tmp) / f"scene{i}.png"
            ImageOps.fit(_as_image(img), (w * 2, h * 2)).save(png)  # zoom from a larger still: no blur
            args += ["-i", str(png)]
        args += ["-i", str(wav)]
        parts = []
        for i, (_, seconds, *motion) in enumerate(scenes):
            frames = max(1, int(round(float(seconds) * fps)))
            z, x, y = MOTIONS.get(motion[0] if motion else "zoom") or (
                f"1+{zoom / fps:.8f}*on" if zoom else "1", "iw/2-(iw/zoom/2)", "ih/2-(ih/zoom/2)")
            x = x.format(period=f"{24 * fps:g}")
            parts.append(f"[{i}:v]zoompan=z='{z}':x='{x}':y='{y}':d={frames}:"
                         f"s={w}x{h}:fps={fps},format=yuv420p[v{i}]")
        n = len(scenes)
        graph = ";".join(parts) + ";" + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
        args += ["-filter_complex", graph, "-map", "[v]", "-map", f"{n}:a", "-c:a", "aac", "-b:a", "32k",
                 "-c:v", "libx264", "-preset", "veryfast", "-g", str(int(fps * 10)), str(out_path)]
        run_tool(args, str(out_path))
    return out_path


SIGN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def with_sign(image: Any, lines: Sequence[str], *, at: tuple[float, float] = (0.08, 0.08), height: float = 0.08,
              fill: tuple[int, int, int] = (255, 255, 255), board: tuple[int, int, int] = (20, 60, 160)
              ) -> Image.Image:
    """A copy of `image` with a sign on it: `lines` of text (one under the other) on a plain board, its top-left
    corner at `at` (fractions of width and height), each line `height` × the image height tall. DejaVu Sans
    Bold when installed (setup.sh), else Pillow's own font."""
    im = _as_image(image).copy()
    size = max(8, int(height * im.height))
    try:
        font = ImageFont.truetype(SIGN_FONT, size)
    except OSError:
        font = ImageFont.load_default(size)
    draw = ImageDraw.Draw(im)
    x, y = int(at[0] * im.width), int(at[1] * im.height)
    boxes, top = [], y
    for line in lines:
        box = draw.textbbox((x, top), line, font=font)
        boxes.append((line, top, box))
        top = box[3] + size // 3
    pad = max(4, size // 4)
    draw.rectangle((min(b[0] for _, _, b in boxes) - pad, min(b[1] for _, _, b in boxes) - pad,
                    max(b[2] for _, _, b in boxes) + pad, max(b[3] for _, _, b in boxes) + pad), fill=board)
    for line, t, _ in boxes:
        draw.text((x, t), line, font=font, fill=fill)
    return im
