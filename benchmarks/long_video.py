"""Hour-long egocentric video on this machine: wall time per stage and peak memory at 5 / 20 / 60 minutes.

    python benchmarks/long_video.py [--minutes 5 20 60] [--device cpu|cuda] [--keep DIR]

The videos are synthetic: a new scikit-image still every 1-3 minutes, each with a slow ffmpeg zoompan (frames
within a scene are similar, never identical), espeak-ng narration every 3 minutes, 480x360 at 5 fps. Each length
runs `pipelines/egocentric_summary.yaml` on the offline profile (packaged SmolLM2 and Whisper base, random CLIP
stand-in) in a fresh process without the node cache, which reports its wall time, its peak RSS and each node's
time. The random stand-in tells few images apart, so scenes are cut at cosine 0.99 instead of the pipeline's 0.95
(meant for real CLIP). Last line: `rtf=<video seconds per wall second, 60-min video> rss_60_over_5=<ratio>`.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ORDER = ("coffee", "rocket", "chelsea", "astronaut", "hubble_deep_field", "camera", "coins", "moon", "page",
         "logo", "brick", "retina")  # consecutive stills the random stand-in tells apart
THRESHOLD = 0.99

_RUN = """
import json, resource, sys, time
from socratic import Pipeline
p = Pipeline.from_yaml(sys.argv[1])
models = {"clip": {"device": sys.argv[4]}, "lm": {"device": sys.argv[4]}} if sys.argv[4] != "auto" else None
t = time.perf_counter()
out = p.run({"video": sys.argv[2], "scene_threshold": float(sys.argv[3])}, profile="offline", random_vlm=True,
            cache=False, models=models)
wall = time.perf_counter() - t
stages = {r.node: r.seconds for r in out.trace.records}
print(json.dumps({"wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "stages": stages, "entries": len(out["log"]), "windows": len(out["summaries"]),
                  "summary": out["summary"]}))
"""


def build(path: Path, minutes: float, seed: int = 0) -> tuple[int, int]:
    from socratic.media.sample import build_long_video, sample_images

    imgs = stills_for(sample_images())
    rng = random.Random(seed)
    total, scenes, t = minutes * 60.0, [], 0.0
    while t < total - 1e-6:
        seconds = min(float(rng.randint(60, 180)), total - t)
        scenes.append((imgs[ORDER[len(scenes) % len(ORDER)]], seconds))
        t += seconds
    said = [(k * 180.0 + 30.0, f"Note {k + 1}: I am moving on to the next task now.")
            for k in range(int((total - 40) // 180) + 1) if k * 180.0 + 40.0 < total]
    build_long_video(path, scenes, said, fps=5, size=(480, 360), zoom=0.001)
    return len(scenes), len(said)


def stills_for(base: dict) -> dict:
    import numpy as np
    from PIL import Image
    from skimage import data

    out = dict(base)
    for name in ORDER:
        if name not in out:
            arr = np.asarray(getattr(data, name)())
            out[name] = Image.fromarray((arr * 255).astype("uint8") if arr.dtype == bool else arr).convert("RGB")
    return out


def run(video: Path, device: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN, str(REPO / "pipelines/egocentric_summary.yaml"), str(video),
                           str(THRESHOLD), device], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"run failed on {video}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--keep", type=Path, help="build the videos here (and reuse them) instead of a temp folder")
    a = ap.parse_args()
    folder = a.keep or Path(tempfile.mkdtemp(prefix="socratic-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for minutes in a.minutes:
        video = folder / f"ego_{minutes:g}min.mp4"
        t = time.perf_counter()
        if not video.exists():
            n_scenes, n_said = build(video, minutes)
            print(f"built {video.name}: {n_scenes} scenes, {n_said} narrations in {time.perf_counter() - t:.0f} s",
                  flush=True)
        r = run(video, a.device)
        results[minutes] = r
        top = sorted(r["stages"].items(), key=lambda kv: -kv[1])[:6]
        print(f"{minutes:g} min: wall {r['wall']:.0f} s (rtf {minutes * 60 / r['wall']:.2f}), peak RSS "
              f"{r['rss_mb']:.0f} MB, {r['entries']} log entries, {r['windows']} summary windows; stages (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in top), flush=True)
    longest, shortest = max(results), min(results)
    rtf = longest * 60 / results[longest]["wall"]
    ratio = results[longest]["rss_mb"] / results[shortest]["rss_mb"]
    print(f"summary of the {longest:g}-min video: {results[longest]['summary']!r}")
    print(f"rtf={rtf:.2f} rss_{longest:g}_over_{shortest:g}={ratio:.3f}")


if __name__ == "__main__":
    main()
