"""Scene text: the real rapidocr (PP-OCRv4, ONNX weights from its wheel) reads signs drawn with DejaVu fonts on
busy scikit-image stills; `ocr_text` cleans and memoises per frame; the text reaches the world-state log of a
real ffmpeg-built video run through the shipped egocentric pipeline."""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from socratic import Pipeline
from socratic.context import Context
from socratic.engine.cache import NodeCache
from socratic.errors import ModelNotFound
from socratic.models.base import OCR, TextBox
from socratic.models.loader import ModelSpec, load_model
from socratic.media.sample import build_sample_video, sample_images, with_sign
from socratic.nodes.ocr import clean_text, ocr_text
from support.long_videos import stills

REPO = Path(__file__).resolve().parents[1]
STILLS = stills()


def still(name: str, width: int = 512) -> Image.Image:
    im = STILLS[name].copy()
    return im.resize((width, round(im.height * width / im.width)))


@pytest.fixture(scope="module")
def ocr():
    return load_model(ModelSpec.from_dict("ocr", {"family": "ocr", "backend": "rapidocr"}))


def squeezed(text: str) -> str:
    """Spaces between words of small text are sometimes not read ("PLATFORM9"): compare without them."""
    return text.replace(" ", "").upper()


SIGNS = [("coffee", ["PLATFORM 9"], (0.05, 0.06)), ("astronaut", ["EXIT"], (0.6, 0.7)),
         ("rocket", ["GATE 12", "EXIT"], (0.1, 0.1)), ("camera", ["NO PARKING"], (0.2, 0.75)),
         ("coins", ["FRESH BREAD"], (0.05, 0.4))]


@pytest.mark.slow
def test_signs_on_busy_frames_are_read(ocr):
    frames = [with_sign(still(name), lines, at=at) for name, lines, at in SIGNS]
    t0 = time.perf_counter()
    out = ocr_text([frames], ocr=ocr, ctx=Context())
    per_frame = (time.perf_counter() - t0) / len(frames)
    texts, boxes = out["text"][0], out["boxes"][0]
    for (name, lines, _), text, found in zip(SIGNS, texts, boxes):
        for line in lines:
            assert squeezed(line) in squeezed(text), (name, text)
        assert found and all(b["score"] >= 0.6 and len(b["box"]) == 4 for b in found)
    two = texts[2]  # a two-line sign reads top to bottom, rows joined by " / "
    assert " / " in two and squeezed(two).index("GATE12") < squeezed(two).index("EXIT")
    print(f"rapidocr: {per_frame:.2f} s a 512 px frame")
    assert per_frame < 10


@pytest.mark.slow
def test_stills_without_writing_read_nothing_and_min_score_filters(ocr):
    out = ocr_text([[still("coffee"), still("astronaut"), still("chelsea")]], ocr=ocr, ctx=Context())
    assert out == {"text": [["", "", ""]], "boxes": [[[], [], []]]}
    page = Image.fromarray(data.page()).convert("RGB")  # a scanned page: many lines, some read poorly
    loose = ocr_text([[page]], ocr=ocr, min_score=0.0, ctx=Context())["boxes"][0][0]
    strict = ocr_text([[page]], ocr=ocr, min_score=0.9, ctx=Context())["boxes"][0][0]
    assert any(b["score"] < 0.9 for b in loose) and strict and all(b["score"] >= 0.9 for b in strict)
    assert len(strict) < len(loose)


def _box(text, x, y, w=40, h=10, score=0.9):
    return TextBox(text, score, [[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def test_clean_text_rows_duplicates_quotes_and_length():
    boxes = [_box("EXIT", 10, 40), _box("GATE", 10, 10), _box("12", 60, 11), _box("--", 10, 70),
             _box('say "hi"', 10, 100), _box("gate 12", 10, 130)]
    assert clean_text(boxes) == "GATE 12 / EXIT / say 'hi'"  # "--" has no letter; "gate 12" repeats a row
    long = [_box("platform number nine is here", 10, 10)]
    assert clean_text(long, max_chars=16) == "platform number…"
    assert clean_text([]) == ""


class CountingOCR(OCR):
    """The real OCR, counting the frames it is asked to read."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.model_id, self.fingerprint = inner.model_id, inner.fingerprint

    def read(self, images, *, min_score=0.5):
        self.calls += len(images)
        return self.inner.read(images, min_score=min_score)


@pytest.mark.slow
def test_each_frame_is_read_once(ocr, tmp_path):
    counting = CountingOCR(ocr)
    sign = with_sign(still("rocket"), ["GATE 12"])
    ctx = Context(node="text", cache=NodeCache(tmp_path / "cache"))
    first = ocr_text([[sign, still("coffee"), sign]], ocr=counting, ctx=ctx)
    assert counting.calls == 2 and first["text"][0][0] == first["text"][0][2]
    again = ocr_text([[still("coffee")], [sign]], ocr=counting, min_score=0.7, ctx=ctx)  # other threshold: no re-read
    assert counting.calls == 2 and again["text"] == [[""], [first["text"][0][0]]]


def test_tesseract_backend_is_optional():
    spec = ModelSpec.from_dict("ocr", {"family": "ocr", "backend": "tesseract"})
    if importlib.util.find_spec("pytesseract") and shutil.which("tesseract"):
        tess = load_model(spec)
        assert tess.model_id.startswith("tesseract")
    else:
        with pytest.raises(ModelNotFound, match="rapidocr backend needs neither"):
            load_model(spec)


LOG_PIPELINE = """
name: scene_text_log
models:
  clip: {{family: vlm, backend: open_clip, name: ViT-L-14, pretrained: openai}}
inputs:
  video: {{type: video}}
  scene_threshold: {{type: number, default: 0.99}}
nodes:
  world:
    type: pipeline
    params: {{file: {world}}}
    inputs: {{video: inputs.video, scene_threshold: inputs.scene_threshold}}
  log:
    type: world_state_log
    inputs: {{timestamps: world.timestamps, ends: world.ends, places: world.places, objects: world.objects,
             activities: world.activities, text: world.text, heard: world.heard}}
outputs:
  log: log.log
  lines: log.lines
"""


@pytest.mark.parametrize("name", ["egocentric_summary", "egocentric_summary_sounds", "video_qa"])
def test_shipped_egocentric_pipelines_put_scene_text_in_their_log(name):
    flat = Pipeline.from_yaml(REPO / "pipelines" / f"{name}.yaml").expanded()
    assert flat.nodes["log"].inputs["text"] == "world/text.text"
    assert flat.nodes["world/text"].type == "ocr_text"


@pytest.mark.slow
def test_scene_text_joins_the_world_state_log(tmp_path):
    imgs = sample_images()
    scenes = [(with_sign(imgs["coffee"], ["PLATFORM 9"], height=0.1), None, 4.0), (imgs["chelsea"], None, 4.0),
              (with_sign(imgs["rocket"], ["GATE 12"], at=(0.5, 0.1), height=0.1), None, 4.0)]
    video = build_sample_video(tmp_path / "signs.mp4", scenes, fps=5, size=(480, 320), audio=False)
    spec = tmp_path / "log.yaml"
    spec.write_text(LOG_PIPELINE.format(world=REPO / "pipelines" / "keyframe_world_state.yaml"))
    out = Pipeline.from_yaml(spec).run({"video": str(video)}, profile="offline", random_vlm=True,
                                       cache_dir=tmp_path / "cache")
    log = out["log"]
    by_scene = [[e for e in log if start <= e["t"] < start + 4.0] for start in (0.0, 4.0, 8.0)]
    assert all(by_scene)
    assert all("PLATFORM9" in squeezed(e["text"]) for e in by_scene[0])
    assert all(e["text"] == "" for e in by_scene[1])
    assert all("GATE12" in squeezed(e["text"]) for e in by_scene[2])
    lines = out["lines"].split("\n")
    signed = [ln for ln in lines if "text: " in ln]
    assert len(signed) == len(by_scene[0]) + len(by_scene[2])
    assert all(ln.index("activity: ") < ln.index(' | text: "') for ln in signed)
