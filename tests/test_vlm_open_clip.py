"""OpenClipVLM on small random-init open_clip models, checked against direct open_clip calls."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from socratic.errors import ModelNotFound, SocraticError
from socratic.models.backends import backend_loader
from socratic.models.loader import ModelSpec
from socratic.models.vlm_open_clip import OpenClipVLM, quick_gelu

TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path / "cache"))


def tiny(**kw):
    return OpenClipVLM(**{"config": TINY, "random_init": True, "device": "cpu", **kw})


def images(n, seed=0, size=(48, 40)):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


class Counter:
    """Counts calls into the real model.encode_text."""

    def __init__(self, vlm):
        self.calls, self._fn = 0, vlm.model.encode_text
        vlm.model.encode_text = self

    def __call__(self, *a, **kw):
        self.calls += 1
        return self._fn(*a, **kw)


def test_encode_images_matches_open_clip_directly():
    vlm = tiny(batch_size=2)
    ims = images(5)
    got = vlm.encode_images(ims)
    with torch.no_grad():
        ref = F.normalize(vlm.model.encode_image(torch.stack([vlm.preprocess(im) for im in ims])), dim=-1)
    assert got.shape == (5, 32) and got.dtype == torch.float32 and got.device == vlm.device
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    one_by_one = torch.cat([vlm.encode_images([im]) for im in ims])
    torch.testing.assert_close(one_by_one, got, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(5))


def test_encode_images_accepts_preprocessed_tensors_and_paths(tmp_path):
    vlm = tiny()
    ims = images(3, seed=1)
    pixels = torch.stack([vlm.preprocess(im) for im in ims])
    ref = vlm.encode_images(ims)
    torch.testing.assert_close(vlm.encode_images(pixels), ref)
    torch.testing.assert_close(vlm.encode_images(list(pixels)), ref)
    ims[0].save(tmp_path / "a.png")
    torch.testing.assert_close(vlm.encode_images([tmp_path / "a.png"]), ref[:1])
    assert vlm.encode_images([]).shape == (0, 32)
    with pytest.raises(SocraticError, match="PIL image or a tensor"):
        vlm.encode_images([42])
    gray = ims[1].convert("L")
    assert vlm.encode_images([gray]).shape == (1, 32)


def test_encode_texts_matches_open_clip_directly():
    vlm = tiny(batch_size=3)
    texts = ["a dog", "a photo of a cat", "kitchen", "There are no people in this photo.", "x", "long " * 100]
    got = vlm.encode_texts(texts)
    with torch.no_grad():
        ref = F.normalize(vlm.model.encode_text(vlm.tokenizer(texts)), dim=-1)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([vlm.encode_texts([t]) for t in texts]), got, atol=1e-5, rtol=1e-5)


def test_rank_is_softmax_of_scaled_cosine():
    vlm = tiny()
    ims, texts = images(2, seed=2), ["red", "green", "blue", "a dog"]
    cos = vlm.encode_images(ims) @ vlm.encode_texts(texts).T
    probs = torch.softmax(vlm.logit_scale * cos, dim=-1)
    assert vlm.logit_scale == pytest.approx(float(vlm.model.logit_scale.exp()))
    for row, ranked in zip(probs, vlm.rank(ims, texts)):
        order = row.argsort(descending=True).tolist()
        assert [t for t, _ in ranked] == [texts[j] for j in order]
        assert [p for _, p in ranked] == pytest.approx([float(row[j]) for j in order], abs=1e-6)
    assert len(vlm.rank(ims, texts, top_k=2)[0]) == 2


def test_vocab_cache_is_hit_across_instances(tmp_path):
    texts = [f"Photo of a {x}." for x in ["kitchen", "beach", "forest", "office"]]
    first = tiny()
    c1 = Counter(first)
    a = first.encode_vocab(texts)
    assert c1.calls == 1
    first.encode_vocab(texts)
    assert c1.calls == 1  # in-process memo
    files = list((tmp_path / "cache" / "text_embeddings").glob("*.npy"))
    assert len(files) == 1
    second = tiny()  # same seed and config: same fingerprint
    c2 = Counter(second)
    b = second.encode_vocab(texts)
    assert c2.calls == 0
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(b, second.encode_texts(texts), atol=1e-6, rtol=0)
    other = tiny(seed=1)
    c3 = Counter(other)
    other.encode_vocab(texts)
    assert c3.calls == 1  # another model: another key
    other.encode_vocab(texts[:2])
    assert c3.calls == 2  # another text list: another key


@pytest.mark.parametrize("damage", [b"garbage", b"", "truncate", "shape"])
def test_corrupted_vocab_cache_is_recomputed(tmp_path, damage):
    texts = ["a", "b", "c"]
    vlm = tiny()
    ref = vlm.encode_vocab(texts)
    (path,) = (tmp_path / "cache" / "text_embeddings").glob("*.npy")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-20])
    elif damage == "shape":
        np.save(open(path, "wb"), np.zeros((2, 32), np.float32))
    else:
        path.write_bytes(damage)
    fresh = tiny()
    counter = Counter(fresh)
    torch.testing.assert_close(fresh.encode_vocab(texts), ref)
    assert counter.calls == 1
    assert np.load(path).shape == (3, 32)  # rewritten


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = tiny(seed=7), tiny(seed=7), tiny(seed=8)
    assert torch.equal(torch.rand(3), expected)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.warnings == (f"vlm '{a.model_id}' has RANDOM weights: its visual labels are meaningless",)
    assert "RANDOM" in a.warnings[0] and "random" in a.model_id


def test_registered_backend_and_spec_options():
    assert backend_loader("vlm", "open_clip") is OpenClipVLM
    spec = ModelSpec("clip", "vlm", "open_clip", {"config": TINY, "random_init": True, "seed": 3, "batch_size": 4})
    vlm = backend_loader("vlm", "open_clip")(spec)
    assert vlm.batch_size == 4 and vlm.seed == 3 and vlm.embed_dim == 32
    assert vlm.fingerprint == tiny(seed=3).fingerprint
    assert vlm.tokenizer(["hi"]).shape == (1, 77)


def test_local_checkpoint_path(tmp_path):
    src = tiny(seed=5)
    ckpt = tmp_path / "tiny.pt"
    torch.save(src.model.state_dict(), ckpt)
    loaded = OpenClipVLM(config=TINY, path=str(ckpt), device="cpu")
    ims = images(2, seed=3)
    torch.testing.assert_close(loaded.encode_images(ims), src.encode_images(ims))
    assert loaded.warnings == ()
    import hashlib

    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() in loaded.fingerprint
    with pytest.raises(ModelNotFound, match="checkpoint not found"):
        OpenClipVLM(config=TINY, path=str(tmp_path / "missing.pt"))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotFound, match="path:"):
        OpenClipVLM(config=TINY, path=str(tmp_path / "bad.pt"))


def test_pretrained_tag_offline_says_how_to_provide_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFound) as err:
        OpenClipVLM(name="ViT-L-14", pretrained="openai", cache_dir=str(tmp_path / "hub"), device="cpu")
    msg = str(err.value)
    assert "ViT-L-14/openai" in msg and "path:" in msg and "random_init" in msg and "\n" not in msg
    with pytest.raises(ModelNotFound, match="not a known tag"):
        OpenClipVLM(name="ViT-B-32", pretrained="no-such-tag", device="cpu")


def test_quick_gelu_follows_the_pretrained_tag():
    assert quick_gelu("ViT-L-14", "openai", None) is True
    assert quick_gelu("ViT-B-32", "laion2b_s34b_b79k", None) is False
    assert quick_gelu("ViT-L-14", "openai", False) is False
    assert quick_gelu("ViT-L-14", None, True) is True


@pytest.mark.parametrize("opts,match", [
    ({"config": TINY}, "exactly one of"),
    ({"config": TINY, "random_init": True, "pretrained": "openai"}, "exactly one of"),
    ({"name": "ViT-B-32", "config": TINY, "random_init": True}, "either `name` or `config`"),
    ({"name": "No-Such-Model", "random_init": True}, "unknown open_clip model"),
    ({"random_init": True}, "missing `name`"),
    ({"config": TINY, "random_init": True, "colour": 1}, "unknown open_clip option"),
    ({"config": {"embed_dim": 3}, "random_init": True}, "config must be a mapping"),
    ({"config": TINY, "random_init": True, "batch_size": 0}, "batch_size"),
])
def test_bad_options(opts, match):
    with pytest.raises(SocraticError, match=match):
        OpenClipVLM(**opts)


def test_model_names_are_resolved_like_open_clip():
    assert OpenClipVLM._architecture({"name": "ViT-B/32"}, "vlm") == ("ViT-B-32", None)
    assert OpenClipVLM._architecture({"name": "local-dir:/x"}, "vlm") == ("local-dir:/x", None)
    with pytest.raises(SocraticError, match="brings its own weights"):
        OpenClipVLM(name="local-dir:/nowhere", pretrained="openai")


@pytest.mark.cuda
def test_cuda_half_precision_keeps_float32_outputs_on_device():
    cpu = tiny(seed=2)
    gpu = tiny(seed=2, device="cuda")
    assert gpu.dtype == torch.float16
    ims, texts = images(4, seed=4), ["a", "b", "c"]
    gi, gt = gpu.encode_images(ims), gpu.encode_vocab(texts)
    assert gi.device.type == "cuda" and gi.dtype == torch.float32 and gt.device.type == "cuda"
    torch.testing.assert_close(gi.cpu(), cpu.encode_images(ims), atol=2e-2, rtol=0)
    torch.testing.assert_close(gt.cpu(), cpu.encode_texts(texts), atol=2e-2, rtol=0)


def test_repeated_images_are_encoded_once_with_identical_rows():
    from PIL import Image

    vlm = tiny(seed=11)
    calls = []
    original = vlm.model.encode_image
    vlm.model.encode_image = lambda x: (calls.append(x.shape[0]), original(x))[1]
    a, b = Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (40, 30), (10, 200, 10))
    first = vlm.encode_images([a, b])
    second = vlm.encode_images([b, a, a])
    assert calls == [2]
    assert torch.equal(second, torch.stack([first[1], first[0], first[0]]))
    c = Image.new("RGB", (40, 30), (10, 10, 200))
    vlm.encode_images([a, c])
    assert calls == [2, 1]  # only the new image reached the model
