"""Real runs for the report tests, made once per module: the egocentric pipeline on an ffmpeg/espeak-ng video
(20 s, five scenes, four narrated), socratic_caption on a photograph, PICa on the offline demo's toy memory.
Packaged SmolLM2 and Whisper base; random-weight CLIP stand-ins (every result carries their warning)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from socratic.media.sample import build_sample_video, sample_images

REPO = Path(__file__).resolve().parents[2]
SCENES = [("coffee", "I am making a cup of coffee in the kitchen.", 4.0),
          ("chelsea", "My cat is sitting next to me.", 4.0),
          ("astronaut", None, 4.0),
          ("rocket", "Now I am watching a rocket launch.", 4.0),
          ("coffee_again", "Back to my coffee.", 4.0)]
TINY_CLIP = {"family": "vlm", "backend": "open_clip", "random_init": True,
             "config": {"embed_dim": 64,
                        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
                        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                                     "layers": 2}}}
PICA_TRAIN = [("chelsea", "What animal is this?", "cat", "A tabby cat looking at the camera."),
              ("coffee", "What drink is in the cup?", "coffee", "A cup of coffee on a saucer."),
              ("rocket", "What is this vehicle used for?", "space travel", "A rocket on a launch pad."),
              ("astronaut", "What is this person's job?", "astronaut", "A woman in a space suit."),
              ("coffee", "Which plant do the beans come from?", "coffee plant", "A cup of coffee."),
              ("chelsea", "What does this animal like to drink?", "milk", "A cat with green eyes."),
              ("rocket", "Which agency launches these?", "nasa", "A rocket before the launch.")]
PICA_SHOTS, PICA_PROMPTS = 2, 3


def cli(*args, cwd: Path = REPO, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "socratic", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=900, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"socratic {' '.join(map(str, args))} failed: {proc.stderr[-2000:]}")
    return proc


def _cache(root: Path) -> dict:
    return {"SOCRATIC_NODE_CACHE": str(root / "node-cache")}  # the runs' own node cache, not the user's


def narrated_video(root: Path) -> Path:
    imgs = sample_images()
    imgs["coffee_again"] = imgs["coffee"].transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return build_sample_video(root / "day.mp4", [(imgs[n], text, s) for n, text, s in SCENES], fps=10,
                              size=(320, 240))


def egocentric_run(root: Path) -> tuple[Path, Path, str]:
    """(result JSON, report HTML, the --transcript stdout) of one CLI run with --report."""
    video = narrated_video(root)
    out, report = root / "ego.json", root / "ego.html"
    proc = cli("run", "pipelines/egocentric_summary.yaml", "--input", f"video={video}", "--input",
               "scene_threshold=0.99", "--profile", "offline", "--random-vlm", "--no-progress", "--transcript",
               "--out", out, "--report", report, env=_cache(root))
    return out, report, proc.stdout


def sounds_run(root: Path) -> tuple[Path, Path]:
    """The egocentric pipeline with sound events (random CLAP stand-in) on the same video."""
    out, report = root / "sounds.json", root / "sounds.html"
    cli("run", "pipelines/egocentric_summary_sounds.yaml", "--input", f"video={root / 'day.mp4'}", "--input",
        "scene_threshold=0.99", "--profile", "offline", "--random-vlm", "--random-atm", "--no-progress",
        "--out", out, "--report", report, env=_cache(root))
    return out, report


def photo(root: Path, name: str = "chelsea") -> Path:
    path = root / f"{name}.png"
    sample_images()[name].save(path)
    return path


def caption_run(root: Path) -> tuple[Path, Path]:
    out, report = root / "caption.json", root / "caption.html"
    cli("run", "pipelines/socratic_caption.yaml", "--input", f"image={photo(root)}", "--profile", "offline",
        "--random-vlm", "--no-progress", "--out", out, env=_cache(root))
    cli("report", out, "-o", report)
    return out, report


def magic_run(root: Path) -> tuple[Path, Path]:
    out, report = root / "magic.json", root / "magic.html"
    cli("run", "pipelines/magic_caption.yaml", "--input", f"image={photo(root)}", "--profile", "offline",
        "--random-vlm", "--no-progress", "--out", out, "--report", report, env=_cache(root))
    return out, report


def pica_run(root: Path) -> tuple[Path, Path]:
    """PICa (the shipped YAML) through the Python API, as examples/kbvqa.py --demo sets it up."""
    from socratic import Pipeline

    imgs = sample_images()
    lines = []
    for k, (name, q, a, cap) in enumerate(PICA_TRAIN):
        path = root / f"train_{name}.png"
        imgs[name].resize((96, 96)).save(path)
        lines.append(json.dumps({"question_id": k, "image": str(path), "question": q, "answers": [a],
                                 "caption": cap}))
    memory = root / "train.jsonl"
    memory.write_text("\n".join(lines) + "\n")
    p = Pipeline.from_yaml(REPO / "pipelines" / "pica_okvqa.yaml")
    p.models["clip"] = p.models["clip_caption"] = dict(TINY_CLIP)
    p.nodes["select"].params.update(memory=str(memory), n_shot=PICA_SHOTS, n_ensemble=PICA_PROMPTS)
    result = p.run({"image": str(photo(root)), "question": "What sound does this animal make?"}, profile="offline",
                   cache_dir=root / "node-cache")
    out, report = root / "pica.json", root / "pica.html"
    out.write_text(json.dumps(result.to_dict(trace=True), ensure_ascii=False))
    cli("report", out, "-o", report)
    return out, report
