"""Captioning VLMs (`family: captioner`): tiny random models built from configs run the transformers backend's real
loading (from_pretrained of saved directories), chat-template and generation code; the OpenAI-compatible backend
talks to a real HTTP server on loopback; `caption_frames` memoises per frame; `--random-captioner` warns."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from socratic import Pipeline
from socratic.context import Context
from socratic.engine.cache import NodeCache
from socratic.errors import ModelNotFound, SocraticError
from socratic.models.captioner_stand_in import build_stand_in, vocabulary
from socratic.models.loader import ModelSpec, load_model
from socratic.media.sample import sample_images
from socratic.nodes.caption import EMPTY_CAPTION, caption_frames, caption_items
from support.media_videos import narrated_video  # noqa: F401
from test_lm_openai import FAKE_KEY, scripted_server

IMAGES = sample_images()
WORDS = set(vocabulary())


def captioner(**options):
    return load_model(ModelSpec.from_dict("captioner", {"family": "captioner", "backend": "transformers",
                                                        "device": "cpu", **options}))


@pytest.fixture(scope="module")
def stand_in():
    return captioner(random_init=True)


# -- transformers backend ---------------------------------------------------------------------------------------

def test_stand_in_captions_are_words_and_warn(stand_in):
    caps = stand_in.caption(list(IMAGES.values()), max_new_tokens=8)
    assert len(caps) == 4 and all(caps)
    assert all(set(c.split()) <= WORDS and 2 <= len(c.split()) <= 8 for c in caps)
    assert len(set(caps)) > 1  # the image changes the words
    assert stand_in.chat and stand_in.default_prompt
    assert any("RANDOM weights" in w and "meaningless" in w for w in stand_in.warnings)
    other = captioner(random_init=True, seed=1)
    assert other.fingerprint != stand_in.fingerprint
    assert other.caption(list(IMAGES.values()), max_new_tokens=8) != caps


def test_batched_clips_of_different_lengths_caption_as_one_by_one(stand_in):
    """Left padding: an item's caption does not depend on what it is batched with."""
    im = list(IMAGES.values())
    items = [im[0], [im[1], im[2], im[3]], im[2], [im[3], im[0]]]
    together = stand_in.caption(items, "What happens here?", max_new_tokens=6)
    alone = [stand_in.caption([x], "What happens here?", max_new_tokens=6)[0] for x in items]
    assert together == alone
    assert stand_in.caption(items, max_new_tokens=6) != together  # the prompt reaches the model


def test_a_saved_llava_style_directory_loads_and_captions_like_the_model_it_saved(tmp_path, stand_in):
    model, processor, _ = build_stand_in(seed=0)
    folder = tmp_path / "tiny-llava"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    loaded = captioner(path=str(folder))
    assert loaded.model_id == "tiny-llava" and "path:tiny-llava" in loaded.fingerprint
    assert type(loaded.model).__name__ == "LlavaForConditionalGeneration" and loaded.chat
    items = [IMAGES["coffee"], [IMAGES["rocket"], IMAGES["chelsea"]]]
    assert loaded.caption(items, max_new_tokens=7) == stand_in.caption(items, max_new_tokens=7)


def _tiny_blip(folder: Path):
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "picture", "of", "dog", "cat", "kettle", "on",
             "table", "the", "street", "red", "mug"]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    config = BlipConfig(
        text_config=dict(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, encoder_hidden_size=32, max_position_embeddings=64, bos_token_id=2,
                         sep_token_id=3, pad_token_id=0, initializer_range=0.5),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8, initializer_range=0.5),
        projection_dim=32)
    torch.manual_seed(3)
    model = BlipForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, processor


def test_a_blip_directory_captions_unconditionally_and_continues_a_prompt(tmp_path):
    model, processor = _tiny_blip(tmp_path / "tiny-blip")
    blip = captioner(path=str(tmp_path / "tiny-blip"))
    assert not blip.chat and blip.default_prompt is None
    images = [IMAGES["coffee"], IMAGES["astronaut"]]
    with torch.inference_mode():  # reference: the same model called directly
        ids = model.generate(**processor(images=images, return_tensors="pt"), max_new_tokens=5, do_sample=False)
    want = [" ".join(t.split()) for t in processor.tokenizer.batch_decode(ids, skip_special_tokens=True)]
    assert blip.caption(images, max_new_tokens=5) == want
    prompted = blip.caption(images, "a picture of", max_new_tokens=5)
    assert all(c.startswith("a picture of") for c in prompted)
    # a clip: a one-image model sees its middle frame
    clip = [IMAGES["rocket"], IMAGES["coffee"], IMAGES["chelsea"]]
    assert blip.caption([clip], max_new_tokens=5) == blip.caption([IMAGES["coffee"]], max_new_tokens=5)


def test_missing_weights_say_how_to_get_a_stand_in(tmp_path):
    with pytest.raises(ModelNotFound, match="--random-captioner"):
        captioner(id="nobody/no-such-captioner-xyz")
    with pytest.raises(SocraticError, match="unknown option"):
        captioner(random_init=True, temperature=0.7)


# -- OpenAI-compatible backend ----------------------------------------------------------------------------------

def chat_json(text):
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": "fake-vl",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


def openai_captioner(url, **kw):
    return load_model(ModelSpec.from_dict("cap", {"family": "captioner", "backend": "openai", "base_url": url,
                                                  "model": "fake-vl", "retry_base_delay": 0.01, **kw}))


def _images_sent(body) -> list[Image.Image]:
    (msg,) = body["messages"]
    out = []
    for part in msg["content"]:
        if part["type"] == "image_url":
            url = part["image_url"]["url"]
            assert url.startswith("data:image/jpeg;base64,")
            out.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    return out


def test_openai_captioner_sends_images_as_data_uris(monkeypatch):
    monkeypatch.setenv("SOCRATIC_TEST_KEY", FAKE_KEY)

    def respond(n, body):
        return 200, chat_json(f"  caption   {len(_images_sent(body))} "), 0

    with scripted_server(respond) as (url, seen):
        cap = openai_captioner(url, api_key_env="SOCRATIC_TEST_KEY", max_side=256, concurrency=1)
        coffee = IMAGES["coffee"]
        out = cap.caption([coffee, [IMAGES["rocket"], IMAGES["chelsea"]]], "Say what you see.", max_new_tokens=20)
    assert out == ["caption 1", "caption 2"]
    first, second = seen[0]["body"], seen[1]["body"]
    assert seen[0]["path"].endswith("/chat/completions") and seen[0]["auth"] == f"Bearer {FAKE_KEY}"
    assert first["model"] == "fake-vl" and first["max_tokens"] == 20 and first["temperature"] == 0.0
    assert first["messages"][0]["content"][-1] == {"type": "text", "text": "Say what you see."}
    (sent,) = _images_sent(first)
    assert max(sent.size) == 256 and abs(sent.size[0] / sent.size[1] - coffee.size[0] / coffee.size[1]) < 0.02
    small = coffee.copy()
    small.thumbnail((256, 256))
    diff = np.asarray(sent, dtype=np.float32) - np.asarray(small.resize(sent.size), dtype=np.float32)
    assert np.abs(diff).mean() < 8  # the same picture, through JPEG
    assert len(_images_sent(second)) == 2
    assert FAKE_KEY not in repr(cap) and FAKE_KEY not in cap.fingerprint


def test_openai_captioner_retries_and_reports_in_one_line(monkeypatch):
    monkeypatch.setenv("SOCRATIC_TEST_KEY", FAKE_KEY)
    with scripted_server(lambda n, b: (503, None, 0) if n == 1 else (200, chat_json("a mug"), 0)) as (url, seen):
        assert openai_captioner(url, api_key_env="SOCRATIC_TEST_KEY").caption([IMAGES["coffee"]]) == ["a mug"]
    assert len(seen) == 2
    with scripted_server(lambda n, b: (400, {"error": {"message": f"bad image {FAKE_KEY}"}}, 0)) as (url, seen):
        with pytest.raises(SocraticError) as ei:
            openai_captioner(url, api_key_env="SOCRATIC_TEST_KEY").caption([IMAGES["coffee"]])
    msg = str(ei.value)
    assert msg.startswith("captioner 'fake-vl'") and "HTTP 400" in msg and "\n" not in msg and FAKE_KEY not in msg
    assert len(seen) == 1


def test_an_empty_caption_becomes_the_documented_fallback_with_a_warning():
    with scripted_server(lambda n, b: (200, chat_json("" if n == 2 else "a cat"), 0)) as (url, _):
        cap = openai_captioner(url, concurrency=1)
        ctx = Context(node="caption")
        out = caption_frames([[IMAGES["coffee"], IMAGES["chelsea"]], [IMAGES["rocket"]]], captioner=cap, ctx=ctx)
    assert out == [["a cat", EMPTY_CAPTION], ["a cat"]]
    assert len(ctx.warnings) == 1 and "empty text for 1 of 3" in ctx.warnings[0]


# -- caption_frames: per-frame memo, pipelines, the CLI flag ----------------------------------------------------

def test_frames_are_captioned_once_per_model_and_settings(tmp_path, stand_in):
    ctx = Context(node="caption", cache=NodeCache(tmp_path / "cache"))
    a, b, c = IMAGES["coffee"], IMAGES["rocket"], IMAGES["chelsea"]
    counts: dict = {}
    first = caption_items(stand_in, [a, b, a], max_new_tokens=5, ctx=ctx, counts=counts)
    assert first[0] == first[2] and counts == {"asked": 3, "captioned": 2}  # a repeated frame: once
    counts = {}
    again = caption_items(stand_in, [c, b, a], max_new_tokens=5, ctx=ctx, counts=counts)
    assert again[1:] == [first[1], first[0]] and counts == {"asked": 3, "captioned": 1}  # only the new frame
    assert again == stand_in.caption([c, b, a], max_new_tokens=5)  # memo = what the model says
    counts = {}
    caption_items(stand_in, [a], max_new_tokens=6, ctx=ctx, counts=counts)  # other settings: captioned anew
    caption_items(stand_in, [a], prompt="Name one object.", max_new_tokens=5, ctx=ctx, counts=counts)
    assert counts["captioned"] == 2
    counts = {}
    caption_items(stand_in, [a], max_new_tokens=5, ctx=Context(), counts=counts)  # no cache (--no-cache)
    assert counts["captioned"] == 1


PIPELINE = """
name: caption_test
models:
  captioner: {family: captioner, backend: transformers, id: HuggingFaceTB/SmolVLM-256M-Instruct}
inputs:
  video: {type: video}
nodes:
  frames:
    type: video_frames
    params: {stride_s: 3.0}
    inputs: {video: inputs.video}
  captions:
    type: caption_frames
    params: {captioner: captioner, max_new_tokens: 6}
    inputs: {frames: frames.frames}
outputs:
  captions: captions.captions
"""


@pytest.mark.slow
def test_random_captioner_flag_runs_a_pipeline_and_warns(tmp_path, narrated_video, run_cli):  # noqa: F811
    spec = tmp_path / "caption.yaml"
    spec.write_text(PIPELINE)
    p = Pipeline.from_yaml(spec)
    out = p.run({"video": str(narrated_video.path)}, random_captioner=True, cache_dir=tmp_path / "cache")
    caps = out["captions"]
    assert len(caps) == 3 and all(set(c.split()) <= WORDS for c in caps)
    assert any("RANDOM weights" in w and "captions are meaningless" in w for w in out.warnings)
    (rec,) = [r for r in out.trace.records if r.node == "captions"]
    assert any("RANDOM" in w for w in rec.warnings) and rec.models["captioner"].startswith("random/")
    again = p.run({"video": str(narrated_video.path)}, random_captioner=True, cache_dir=tmp_path / "cache")
    assert again["captions"] == caps and any("RANDOM" in w for w in again.warnings)  # cached, still warned

    env = {"SOCRATIC_NODE_CACHE": str(tmp_path / "cli-cache"), "HF_HUB_OFFLINE": "1"}
    r = run_cli("run", spec, "--input", f"video={narrated_video.path}", "--random-captioner", "--no-progress",
                env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["outputs"]["captions"] == caps
    assert "warning: captioner" in r.stderr and "RANDOM weights" in r.stderr
    r = run_cli("run", spec, "--input", f"video={narrated_video.path}", "--no-progress", env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "SmolVLM-256M-Instruct" in r.stderr and "--random-captioner" in r.stderr


def test_a_dataset_output_records_the_random_captioner_only_when_used():
    from socratic.engine.datasets.job import result_options

    assert result_options({"random_captioner": True})["random_captioner"] is True
    assert "random_captioner" not in result_options({"random_vlm": True})  # older outputs still resume


# ---- the real architecture with random weights (--random-captioner-arch) ------------------------------------------

SMOLVLM = "HuggingFaceTB/SmolVLM-256M-Instruct"


def _named_captioner(model_id=SMOLVLM, backend="transformers"):
    return {"captioner": ModelSpec.from_dict("captioner", {"family": "captioner", "backend": backend,
                                                           "id": model_id, "device": "cpu", "batch_size": 2})}


@pytest.mark.slow
def test_random_captioner_arch_builds_the_named_architecture_and_warns():
    from socratic.models.profiles import resolve_models

    spec = resolve_models(_named_captioner(), random_captioner="arch")["captioner"]
    assert spec.options == {"device": "cpu", "batch_size": 2, "random_init": "arch", "architecture": SMOLVLM}
    cap = load_model(spec)
    cfg = cap.model.config
    vision, text = cfg.vision_config, cfg.text_config
    # SigLIP base patch-16/512 + pixel shuffle x4 + SmolLM2-135M, as SmolVLM-256M is published
    assert (vision.hidden_size, vision.num_hidden_layers, vision.image_size, vision.patch_size) == (768, 12, 512, 16)
    assert (text.hidden_size, text.num_hidden_layers, text.num_key_value_heads, cfg.scale_factor) == (576, 30, 3, 4)
    n = sum(p.numel() for p in cap.model.parameters())
    siglip = 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 1024 * 768   # blocks' matrices + position embeddings
    smollm2 = 30 * (576 * 576 * 2 + 2 * 576 * 192 + 3 * 576 * 1536) + 49280 * 576  # tied embeddings
    connector = 768 * 16 * 576
    assert abs(n - (siglip + smollm2 + connector)) / n < 0.01
    assert cap.model_id == f"random/{SMOLVLM}-architecture-seed0"
    assert any("RANDOM weights" in w and "architecture" in w for w in cap.warnings)
    frame = Image.fromarray(np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8))
    inputs = cap._inputs([[frame]], cap.default_prompt)
    assert tuple(inputs["pixel_values"].shape[:2]) == (1, 13)  # 4:3 at 2048 px: 4 x 3 tiles of 512 + the global view
    assert (inputs["input_ids"] == cfg.image_token_id).sum() == 13 * 64
    (caption,) = cap.caption([frame], max_new_tokens=2)
    assert isinstance(caption, str)


def test_random_captioner_arch_refuses_what_it_cannot_build():
    from socratic.models.profiles import resolve_models

    with pytest.raises(SocraticError) as e:
        resolve_models(_named_captioner("someone/unknown-vlm"), random_captioner="arch")
    assert e.value.field == "models.captioner" and SMOLVLM in e.value.message
    with pytest.raises(SocraticError) as e:
        resolve_models(_named_captioner(backend="openai"), random_captioner="arch")
    assert e.value.field == "models.captioner"
    with pytest.raises(SocraticError) as e:
        resolve_models(_named_captioner(), random_captioner="huge")
    assert e.value.field == "random_captioner"
    from socratic.engine.datasets.job import result_options

    assert result_options({"random_captioner": "arch"})["random_captioner"] == "arch"


def test_the_two_random_captioner_flags_exclude_each_other(tmp_path, run_cli):
    spec = tmp_path / "caption.yaml"
    spec.write_text(PIPELINE)
    r = run_cli("run", spec, "--input", "video=x.mp4", "--random-captioner", "--random-captioner-arch",
                "--no-progress")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--random-captioner and --random-captioner-arch exclude each other" in r.stderr
