"""The magic_caption node over real backends (TransformersLM, OpenClipVLM), and its pipeline."""

from pathlib import Path

import pytest
import torch

from socratic.context import Context
from socratic.errors import SocraticError
from socratic.magic import magic_decode
from socratic.magic.offline import gpt2_tokenizer, random_lm
from socratic.models.lm_openai import OpenAILM
from socratic.models.lm_transformers import TransformersLM
from socratic.models.vlm_open_clip import OpenClipVLM
from socratic.magic.nodes import magic_caption
from socratic.engine.pipeline import Pipeline
from socratic.registry import get_node_type
from support.magic import _one_thread, pictures  # noqa: F401  (fixtures)

TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2}}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def backends():
    tok = gpt2_tokenizer()
    lm = TransformersLM(random_lm(tok, seed=3), tok, model_id="random-gpt2", fingerprint="random-gpt2",
                        device=torch.device("cpu"))
    vlm = OpenClipVLM(config=TINY_CLIP, random_init=True, device="cpu", seed=3)
    return lm, vlm


def test_node_is_registered_batched():
    nt = get_node_type("magic_caption")
    assert nt is not None and nt.batched and nt.outputs == {"caption": str}
    assert nt.params["k"].default == 45 and nt.params["alpha"].default == 0.1 and nt.params["beta"].default == 2.0
    assert nt.params["decoding_len"].default == 16 and nt.params["start_text"].default == "<-start_of_text->"
    assert nt.model_params.keys() == {"lm", "vlm"}


def test_node_captions_every_image_like_magic_decode(backends):
    lm, vlm = backends
    imgs = pictures(5)
    caps = magic_caption(imgs, lm=lm, vlm=vlm, k=8, batch_size=2, ctx=Context())
    emb = vlm.encode_images(imgs)
    ref = magic_decode(lm.model, lm.tokenizer, vlm.model, vlm.tokenizer, image_embeds=emb, k=8,
                       logit_scale=vlm.logit_scale)
    assert caps == ref.captions and len(caps) == 5
    assert all(isinstance(c, str) and c == " ".join(c.split()) for c in caps)


def test_node_prompt_replaces_the_start_token(backends):
    lm, vlm = backends
    imgs = pictures(2, seed=1)
    caps = magic_caption(imgs, lm=lm, vlm=vlm, k=6, prompt="A photo of", max_new_tokens=5, ctx=Context())
    ref = magic_decode(lm.model, lm.tokenizer, vlm.model, vlm.tokenizer, image_embeds=vlm.encode_images(imgs),
                       prompts="A photo of", k=6, max_new_tokens=5, logit_scale=vlm.logit_scale)
    assert caps == ref.captions


def test_node_rejects_a_remote_lm_and_empty_input(backends):
    _, vlm = backends
    remote = OpenAILM(model="gpt-x", base_url="http://127.0.0.1:9")
    with pytest.raises(SocraticError) as e:
        magic_caption(pictures(1), lm=remote, vlm=vlm, ctx=Context())
    assert e.value.field == "lm" and "hidden states" in str(e.value)
    with pytest.raises(SocraticError, match="empty"):
        magic_caption([], lm=backends[0], vlm=vlm, ctx=Context())
    with pytest.raises(SocraticError) as e:
        magic_caption(pictures(1), lm=backends[0], vlm=vlm, k=0, ctx=Context())
    assert e.value.field == "k"


def test_pipeline_yaml_validates_with_reference_defaults():
    plan = Pipeline.from_yaml(REPO / "pipelines" / "magic_caption.yaml").validate()
    params = plan.params["caption"]
    assert (params["k"], params["alpha"], params["beta"], params["decoding_len"]) == (45, 0.1, 2.0, 16)
    assert params["start_text"] == "<-start_of_text->"
    assert plan.models["clip"].options["name"] == "ViT-B-32"


@pytest.mark.slow
def test_pipeline_runs_offline_with_mapped_images(tmp_path):
    """Packaged SmolLM2 (offline profile) + random CLIP; two mapped images decoded in one batched call."""
    paths = []
    for i, im in enumerate(pictures(2, seed=4)):
        paths.append(tmp_path / f"{i}.png")
        im.save(paths[-1])
    text = (REPO / "pipelines" / "magic_caption.yaml").read_text()
    text = text.replace("image: {type: image}", "image: {type: images}")
    # the node's own line (the header comment shows an include with the same inputs)
    text = text.replace("\n    inputs: {image: inputs.image}\n", "\n    map: [image]\n    inputs: {image: inputs.image}\n")
    p = Pipeline.from_yaml(text)
    calls = []
    nt = get_node_type("magic_caption")
    real = nt.fn
    nt.fn = lambda *a, **kw: calls.append(len(a[0] if a else kw["image"])) or real(*a, **kw)
    try:
        res = p.run({"image": [str(x) for x in paths]}, profile="offline", random_vlm=True, cache=False)
    finally:
        nt.fn = real
    caps = res.outputs["caption"]
    assert isinstance(caps, list) and len(caps) == 2 and all(isinstance(c, str) for c in caps)
    assert calls == [2]
    assert any("RANDOM" in w for w in res.warnings)
