"""CPU speed options of the open_clip backend on the real ViT-B-32 architecture (random weights, offline): each
agrees with the float32 reference on the same weights within its stated tolerance, leaves the text tower alone, and
changes the fingerprint. Tolerances (clip_speed.TOLERANCE; least image cosine, least share of the 12 probe images
keeping the same top-5 labels among 200 shipped ones): cpu_bf16 and int8 cosine >= 0.999 and top-5 >= 0.75
(measured 0.99992/0.83 and 0.99975/0.83 at worst); channels_last cosine >= 0.99999 and top-5 >= 0.9."""

import pytest
import torch

from socratic.errors import SocraticError
from socratic.models import clip_speed
from socratic.models.clip_agreement import agreement, probe_images, probe_vocab, within_tolerance
from socratic.models.clip_speed import TOLERANCE, native_bf16
from socratic.models.vlm_open_clip import OpenClipVLM

BASE = {"name": "ViT-B-32", "random_init": True, "seed": 0, "device": "cpu"}
OPTIONS = {
    "cpu_bf16": {"cpu_bf16": True},
    "int8": {"int8": True},
    "channels_last": {"channels_last": True},
}
NO_BF16 = pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bfloat16 (amx_bf16/avx512_bf16)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCRATIC_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def reference(cache):
    """The float32 model, its probe-image embeddings and the probe vocabulary's text embeddings."""
    vlm = OpenClipVLM(**BASE)
    return vlm, vlm.encode_images(probe_images()), vlm.encode_vocab(probe_vocab())


@pytest.fixture(scope="module")
def models(cache):
    made = {}

    def get(option):
        if option not in made:
            made[option] = OpenClipVLM(**BASE, **OPTIONS[option])
        return made[option]

    return get


@pytest.mark.parametrize("option", [pytest.param("cpu_bf16", marks=NO_BF16), "int8", "channels_last"])
def test_option_agrees_with_float32_within_its_tolerance(option, reference, models):
    ref, ref_images, labels = reference
    vlm = models(option)
    got = vlm.encode_images(probe_images())
    assert got.dtype == torch.float32 and got.shape == ref_images.shape
    cosine, top5 = agreement(ref_images, got, labels)
    least_cosine, least_top5 = TOLERANCE[option]
    assert cosine >= least_cosine and top5 >= least_top5, (option, cosine, top5)
    assert within_tolerance(option, cosine, top5)
    texts = ["a photo of a dog", "a red car"]
    torch.testing.assert_close(vlm.encode_texts(texts), ref.encode_texts(texts), atol=0, rtol=0)


@NO_BF16
def test_bf16_converts_the_vision_tower_and_keeps_layer_norm_in_float32(models):
    visual = models("cpu_bf16").model.visual
    assert visual.conv1.weight.dtype == torch.bfloat16
    assert visual.transformer.resblocks[0].mlp.c_fc.weight.dtype == torch.bfloat16
    assert type(visual.ln_post).__name__ == "LayerNormFp32"
    assert models("cpu_bf16").model.transformer.resblocks[0].mlp.c_fc.weight.dtype == torch.float32  # text tower


def test_int8_quantises_the_mlp_linears_only(models):
    block = models("int8").model.visual.transformer.resblocks[0]
    assert type(block.mlp.c_fc).__name__ == "Linear" and block.mlp.c_fc.__module__.startswith("torch.ao.nn.quantized")
    assert block.attn.in_proj_weight.dtype == torch.float32  # nn.MultiheadAttention stays float32


def test_channels_last_is_float32_exact_up_to_rounding(reference, models):
    _, ref_images, _ = reference
    vlm = models("channels_last")
    assert vlm.model.visual.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(vlm.encode_images(probe_images()), ref_images, atol=1e-5, rtol=1e-4)


def test_each_option_has_its_own_fingerprint_and_id(reference, models):
    ref = reference[0]
    assert "+" not in ref.fingerprint and "+" not in ref.model_id
    names = [o for o in OPTIONS if o != "cpu_bf16" or native_bf16()]
    prints = {ref.fingerprint, *(models(o).fingerprint for o in names)}
    ids = {ref.model_id, *(models(o).model_id for o in names)}
    assert len(prints) == len(ids) == len(names) + 1
    for o in names:
        assert models(o).fingerprint.startswith(ref.fingerprint + "+" + o)


TINY = {"config": {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
                   "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}},
        "random_init": True, "device": "cpu"}


def test_bf16_true_without_native_bf16_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path))
    monkeypatch.setattr(clip_speed, "cpu_flags", lambda: ["fpu", "sse2", "avx2", "avx512f"])
    with pytest.raises(SocraticError) as err:
        OpenClipVLM(**TINY, cpu_bf16=True)
    assert "cpu_bf16" in str(err.value) and "native bfloat16" in str(err.value) and "\n" not in str(err.value)
    auto = OpenClipVLM(**TINY, cpu_bf16="auto")  # auto falls back to the float32 reference
    assert not auto.speed.bf16 and "+" not in auto.fingerprint


def test_auto_follows_the_cpu_and_bad_values_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path))
    assert OpenClipVLM(**TINY, cpu_bf16="auto").speed.bf16 == native_bf16()
    for bad, field in (({"cpu_bf16": "yes"}, "cpu_bf16"), ({"int8": 1}, "int8"), ({"channels_last": "true"},
                       "channels_last"), ({"cpu_bf16": True, "dtype": "float16"}, "float32 model")):
        with pytest.raises(SocraticError, match=field):
            OpenClipVLM(**TINY, **bad)
    monkeypatch.setattr(clip_speed, "cpu_flags", lambda: ["avx512_bf16", "amx_int8"])
    with pytest.raises(SocraticError, match="exclude each other"):
        OpenClipVLM(**TINY, cpu_bf16=True, int8=True)
