"""Build an offline MSR-VTT-shaped retrieval fixture: short videos of scikit-image stills with espeak-ng narration,
an annotation file in MSR-VTT's `test_videodatainfo.json` shape, and the dataset JSONL (nothing downloaded).

    python examples/make_retrieval_fixture.py OUT_DIR [--count N]
    socratic run pipelines/video_text_retrieval.yaml --dataset OUT_DIR/items.jsonl --out OUT_DIR/runs.jsonl \
        --profile offline --random-vlm
    socratic eval retrieval --predictions OUT_DIR/runs.jsonl --annotations OUT_DIR/test_videodatainfo.json

Each video shows one still; its captions paraphrase what is said and shown. Five have no speech (three without
an audio track, two with a silent one). Needs ffmpeg and espeak-ng on PATH.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from socratic.errors import SocraticError
from socratic.media.sample import build_sample_video


@dataclass(frozen=True)
class Clip:
    still: str  # a skimage.data function
    narration: str | None
    captions: tuple[str, ...]
    audio: bool = True  # False: no audio track at all


CLIPS = (
    Clip("coffee", "I am pouring a hot cup of coffee for breakfast.",
         ("a person pours hot coffee for breakfast", "a cup of coffee on a saucer",
          "someone talks about their morning coffee")),
    Clip("chelsea", "My cat sleeps on the sofa all afternoon.",
         ("a cat sleeping on a sofa", "a ginger cat rests at home", "someone talks about their sleepy cat")),
    Clip("rocket", "The rocket engines roar as it launches into the sky.",
         ("a rocket launches into the sky", "a space rocket lifts off with loud engines",
          "a launch pad during lift off")),
    Clip("coins", "I am counting my collection of old silver coins.",
         ("a collection of old silver coins", "a man counts his coins", "money laid out on a table")),
    Clip("moon", "Tonight we look at the craters of the full moon.",
         ("craters on the surface of the moon", "a view of the full moon at night",
          "someone describes the moon's craters")),
    Clip("camera", "The photographer sets up his camera on a tripod.",
         ("a photographer with a camera on a tripod", "a man takes pictures outdoors",
          "a black and white photo of a cameraman")),
    Clip("horse", None, ("the black silhouette of a horse", "a horse shape on a white background",
                         "an outline of an animal"), audio=False),
    Clip("brick", None, ("a red brick wall", "bricks laid in rows", "the texture of an old wall")),
    Clip("astronaut", "The astronaut trained for years to fly into space.",
         ("an astronaut in a white space suit", "a woman talks about training to go to space",
          "a portrait of a space traveller")),
    Clip("page", "I am reading a page of an old printed book.",
         ("a page of printed text", "someone reads an old book", "a scanned sheet of paper")),
    Clip("clock", "The clock is ticking and I am late for work.",
         ("a clock on the wall", "someone says they are late for work", "the hands of a clock")),
    Clip("hubble_deep_field", "These are distant galaxies seen by a space telescope.",
         ("distant galaxies in deep space", "a telescope picture of many galaxies", "stars and galaxies at night")),
    Clip("retina", "The doctor examines the back of the patient's eye.",
         ("a doctor examines an eye", "a medical picture of the retina", "blood vessels inside an eye")),
    Clip("gravel", "We walk along a quiet gravel path in the garden.",
         ("a gravel path in a garden", "people walk on small stones", "grey pebbles on the ground")),
    Clip("grass", None, ("green grass seen up close", "a lawn of grass", "blades of grass"), audio=False),
    Clip("checkerboard", "Let us play a game of chess after dinner.",
         ("a chess board", "two people plan a game of chess", "black and white squares")),
    Clip("immunohistochemistry", "Under the microscope we can see stained tissue cells.",
         ("stained cells under a microscope", "a tissue sample in a lab", "a scientist looks at cells")),
    Clip("text", None, ("black letters on a grey background", "printed characters", "a picture of text")),
    Clip("colorwheel", None, ("a wheel of rainbow colours", "a colour chart", "bright colours in a circle"),
         audio=False),
    Clip("cell", "This is a living cell seen through a microscope.",
         ("a cell seen through a microscope", "a biology sample", "a grey picture of a cell")),
)


def still(name: str) -> Image.Image:
    """A scikit-image sample picture (bundled with the package) as an RGB image."""
    from skimage import data

    arr = np.asarray(getattr(data, name)())
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        arr = (255 * (arr - arr.min()) / max(float(np.ptp(arr)), 1e-9)).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def build_fixture(out_dir: str | Path, clips=CLIPS, *, seconds: float = 4.0, size: tuple[int, int] = (160, 120),
                  fps: float = 5) -> Path:
    """Videos `video<i>.mp4`, `test_videodatainfo.json` and `items.jsonl` under out_dir. Returns out_dir."""
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    videos, sentences, items = [], [], []
    for i, clip in enumerate(clips):
        vid = f"video{i}"
        build_sample_video(out / "videos" / f"{vid}.mp4", [(still(clip.still), clip.narration, seconds)],
                           fps=fps, size=size, audio=clip.audio)
        videos.append({"video_id": vid, "split": "test", "id": i, "category": 0})
        sentences += [{"video_id": vid, "caption": c, "sen_id": len(sentences) + k}
                      for k, c in enumerate(clip.captions)]
        items.append({"id": vid, "video": f"videos/{vid}.mp4", "gallery": "test_videodatainfo.json"})
    (out / "test_videodatainfo.json").write_text(json.dumps({"videos": videos, "sentences": sentences}, indent=1))
    (out / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=len(CLIPS), help=f"videos to build (at most {len(CLIPS)})")
    args = ap.parse_args(argv)
    if not 1 <= args.count <= len(CLIPS):
        sys.exit(f"error: --count must be between 1 and {len(CLIPS)}")
    out = Path(args.out_dir)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"error: {out} is not empty; choose a new folder (nothing is overwritten)")
    try:
        build_fixture(out, CLIPS[:args.count])
    except SocraticError as exc:
        sys.exit(f"error: {exc}")
    speech = sum(c.narration is not None for c in CLIPS[:args.count])
    print(f"wrote {args.count} videos ({speech} with speech) under {out}")


if __name__ == "__main__":
    main()
