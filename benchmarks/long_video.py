"""An hour of egocentric video at the real CLIP architectures' cost: wall time, peak memory and the frame gate.

    python benchmarks/long_video.py [--minutes 60] [--archs ViT-B-32 ViT-L-14] [--device cpu|cuda]
                                    [--clip-option KEY=VALUE ...] [--keep DIR]

The video is synthetic, with camera motion: a new scikit-image still every 1-3 minutes, two scenes in three
panning (a head turning across a still twice the frame's size) or shaking (walking), the third slowly zooming;
espeak-ng narration every 3 minutes; 480x360 at 5 fps. For each architecture, `pipelines/egocentric_summary.yaml`
runs on the offline profile (packaged SmolLM2 and Whisper base) with `random_vlm="arch"`: random weights in the
real ViT-B/32 or ViT-L/14, so CLIP's FLOPs and memory are the real ones. Each run is a fresh process without the
node cache, once on a 5-minute cut and once on the M-minute video; a 1-minute run first fills the on-disk
vocabulary embeddings (paid once per model on a machine, reported, not timed). Scenes are cut at the pipeline's
own threshold (cosine 0.95): on this video the random real-architecture models give consecutive frames of one
scene, pans and shakes included, cosines of at least 0.988 (ViT-B/32) and 0.995 (ViT-L/14), and scene changes at
most 0.58 and 0.33, so the log has the entries real CLIP would give it. (The tiny `--random-vlm` model needs 0.99.)
CLIP runs with the pipeline's options (`cpu_bf16: auto`); `--clip-option cpu_bf16=false` measures float32.
Last line: `rtf_b32=<x> rtf_l14=<y> gate_skipped=<fraction> rss_<M>_over_5=<ratio>` (rtf: video seconds per wall
second of the whole pipeline on the M-minute video; gate_skipped: the fraction of sampled frames the gate
skipped, reusing the last embedding; the RSS ratio is ViT-L/14's peak at M minutes over its peak at 5).
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
         "logo", "brick", "retina")
MOTION = ("pan", "shake", "zoom")  # scene i moves as MOTION[i % 3]
THRESHOLD = 0.95  # the pipeline's default, see above
SHORT = {"ViT-B-32": "b32", "ViT-L-14": "l14"}

_RUN = """
import json, resource, sys, time
from socratic import Pipeline
video, threshold, device, arch, clip_opts = sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
p = Pipeline.from_yaml(sys.argv[1])
models = {"clip": {"name": arch, **json.loads(clip_opts)}}
if device != "auto":
    models["clip"]["device"] = device
    models["lm"] = {"device": device}
t = time.perf_counter()
out = p.run({"video": video, "scene_threshold": threshold}, profile="offline", random_vlm="arch", cache=False,
            models=models)
wall = time.perf_counter() - t
stages = {r.node: r.seconds for r in out.trace.records}
cover = next(r.outputs["coverage"] for r in out.trace.records if r.type == "video_keyframes")
clip = next(iter(next(r for r in out.trace.records if r.type == "video_keyframes").models.values()))
print(json.dumps({"wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "stages": stages, "entries": len(out["log"]), "windows": len(out["summaries"]),
                  "clip": clip, "sampled": cover["sampled"], "gate_skipped": cover["gate_skipped"], "warnings": out.warnings}))
"""


def build(path: Path, minutes: float, seed: int = 0) -> tuple[int, int]:
    from socratic.media.sample import build_long_video, sample_images

    imgs = stills_for(sample_images())
    rng = random.Random(seed)
    total, scenes, t = minutes * 60.0, [], 0.0
    while t < total - 1e-6:
        seconds = min(float(rng.randint(60, 180)), total - t)
        i = len(scenes)
        scenes.append((imgs[ORDER[i % len(ORDER)]], seconds, MOTION[i % len(MOTION)]))
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


def run(video: Path, device: str, arch: str, clip_opts: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN, str(REPO / "pipelines/egocentric_summary.yaml"), str(video),
                           str(THRESHOLD), device, arch, json.dumps(clip_opts)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"run failed on {video} ({arch}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def video_of(folder: Path, minutes: float) -> Path:
    video = folder / f"ego_motion_{minutes:g}min.mp4"
    if not video.exists():
        t = time.perf_counter()
        n_scenes, n_said = build(video, minutes)
        print(f"built {video.name}: {n_scenes} scenes, {n_said} narrations in {time.perf_counter() - t:.0f} s",
              flush=True)
    return video


def option(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--archs", nargs="+", default=list(SHORT))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--clip-option", action="append", default=[], type=option,
                    help="an open_clip option for both architectures, e.g. cpu_bf16=true")
    ap.add_argument("--keep", type=Path, help="build the videos here (and reuse them) instead of a temp folder")
    a = ap.parse_args()
    folder = a.keep or Path(tempfile.mkdtemp(prefix="socratic-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip_opts = dict(a.clip_option)
    lengths = sorted({5.0, a.minutes})
    results: dict[str, dict[float, dict]] = {}
    for arch in a.archs:
        warm = run(video_of(folder, 1), a.device, arch, clip_opts)
        print(f"{arch}: 1-min warm-up (vocabulary embeddings to the disk cache, once per model) "
              f"{warm['wall']:.0f} s", flush=True)
        for minutes in lengths:
            r = run(video_of(folder, minutes), a.device, arch, clip_opts)
            results.setdefault(arch, {})[minutes] = r
            top = sorted(r["stages"].items(), key=lambda kv: -kv[1])[:5]
            print(f"{arch} {minutes:g} min ({r['clip']}): wall {r['wall']:.0f} s (rtf {minutes * 60 / r['wall']:.2f}), peak RSS "
                  f"{r['rss_mb']:.0f} MB, {r['sampled']} frames sampled, {r['gate_skipped']} skipped by "
                  f"the gate, {r['entries']} log entries, {r['windows']} summary windows; stages (s): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in top), flush=True)
    m = a.minutes
    rtf = {SHORT.get(arch, arch): m * 60 / by[m]["wall"] for arch, by in results.items()}
    last = results.get("ViT-L-14") or next(iter(results.values()))
    skipped = last[m]["gate_skipped"] / max(1, last[m]["sampled"])
    rss = last[m]["rss_mb"] / last[5.0]["rss_mb"]
    for arch, by in results.items():
        print(f"{arch}: peak RSS {by[5.0]['rss_mb']:.0f} MB at 5 min, {by[m]['rss_mb']:.0f} MB at {m:g} min "
              f"(ratio {by[m]['rss_mb'] / by[5.0]['rss_mb']:.3f})")
    print(" ".join(f"rtf_{k}={v:.2f}" for k, v in rtf.items())
          + f" gate_skipped={skipped:.3f} rss_{m:g}_over_5={rss:.3f}")


if __name__ == "__main__":
    main()
