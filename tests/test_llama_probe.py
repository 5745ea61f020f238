"""A llama.cpp build that crashes natively never kills a run: the probe decides in a child process, the offline
profile's hybrid falls back to transformers with a warning, `llama_cpp` named explicitly fails in one line, and
`socratic doctor` shows the verdict."""

import json
import sys

import pytest
import torch

from socratic.engine.pipeline import Pipeline
from socratic.errors import SocraticError
from socratic.models import llama_probe
from socratic.models.lm_hybrid import HybridLM
from socratic.models.lm_llama_cpp import LlamaCppLM
from socratic.models.lm_transformers import TransformersLM
from socratic.models.loader import ModelSpec, clear_pool, load_model
from socratic.models.packaged import resolve_packaged

# A child that really dies by SIGSEGV (reads address 0), standing in for ggml's AMX fault.
SEGFAULT = [sys.executable, "-c", "import ctypes; ctypes.string_at(0)"]
PACKAGED = "smollm2-135m-instruct"
HYBRID = {"family": "lm", "backend": "hybrid", "packaged": PACKAGED, "device": "cpu", "n_threads": 1}


@pytest.fixture
def probe_cache(tmp_path, monkeypatch):
    path = tmp_path / "llama_probe.json"
    monkeypatch.setattr(llama_probe, "_cache_file", lambda: path)
    llama_probe.forget()
    clear_pool()  # models loaded under another verdict must not be reused, nor ours leak to later tests
    yield path
    llama_probe.forget()
    clear_pool()


@pytest.fixture
def crashed(probe_cache):
    """This library build's verdict, as a crashing probe leaves it."""
    v = llama_probe.verdict(resolve_packaged(PACKAGED), argv=SEGFAULT)
    assert not v.ok
    return v


def test_probe_names_the_signal_of_a_child_that_segfaults():
    ok, reason = llama_probe.run_probe(resolve_packaged(PACKAGED), argv=SEGFAULT)
    assert not ok and "SIGSEGV" in reason


def test_verdict_is_cached_per_build_and_not_reprobed(crashed, probe_cache):
    table = json.loads(probe_cache.read_text())
    assert table[llama_probe.build_key()]["ok"] is False
    llama_probe.forget()
    # A probe that would succeed is not run again: the build's verdict stands until the library changes.
    ok_child = [sys.executable, "-c", "print('decoded')"]
    assert not llama_probe.verdict(resolve_packaged(PACKAGED), argv=ok_child).ok
    probe_cache.write_text(json.dumps({"another-build": {"ok": True, "reason": ""}}))
    llama_probe.forget()
    assert llama_probe.verdict(resolve_packaged(PACKAGED), argv=ok_child).ok


@pytest.mark.slow
def test_the_real_probe_decodes_with_the_installed_build(probe_cache):
    v = llama_probe.verdict(resolve_packaged(PACKAGED))
    assert v.ok, v.reason


@pytest.mark.slow
def test_hybrid_falls_back_to_transformers_with_a_warning_and_same_greedy_outputs(crashed):
    torch.set_num_threads(1)
    hybrid = load_model(ModelSpec.from_dict("lm", HYBRID))
    assert isinstance(hybrid, HybridLM) and hybrid.fast is None and isinstance(hybrid.exact, TransformersLM)
    assert any("SIGSEGV" in w and "scripts/setup.sh" in w for w in hybrid.warnings)
    tf = load_model(ModelSpec.from_dict("tf", {"family": "lm", "backend": "transformers", "packaged": PACKAGED,
                                               "device": "cpu"}))
    prompts = ["The capital of France is", "A kitchen has a stove, a sink and a"]
    assert [r[0].text for r in hybrid.generate(prompts, max_new_tokens=12)] == [
        r[0].text for r in tf.generate(prompts, max_new_tokens=12)]
    sampled = hybrid.generate(prompts[:1], max_new_tokens=6, temperature=0.9, n=2, seed=3)
    assert len(sampled[0]) == 2  # sampling still works, on transformers


@pytest.mark.slow
def test_a_run_with_the_offline_profile_carries_the_warning(crashed, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("models:\n  lm: {family: lm, backend: transformers, id: org/any}\n"
                    "inputs:\n  q: {type: text}\n"
                    "nodes:\n  gen:\n    type: lm_generate\n    params: {lm: lm, max_new_tokens: 4}\n"
                    "    inputs: {prompt: inputs.q}\noutputs:\n  text: gen.texts\n")
    result = Pipeline.from_yaml(spec).run({"q": "The sky is"}, profile="offline")
    assert any("not llama.cpp" in w and "SIGSEGV" in w for w in result.warnings)


def test_llama_cpp_named_explicitly_fails_in_one_line(crashed):
    with pytest.raises(SocraticError) as e:
        load_model(ModelSpec.from_dict("lm", {"family": "lm", "backend": "llama_cpp", "packaged": PACKAGED}))
    msg = str(e.value)
    assert "not usable on this machine" in msg and "SIGSEGV" in msg and "\n" not in msg


def test_doctor_shows_the_verdict_and_fails_the_offline_profile(crashed, run_cli, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "llama_probe.json").write_text(json.dumps({llama_probe.build_key(): {"ok": False,
                                                        "reason": crashed.reason}}))
    r = run_cli("doctor", "--profile", "offline", env={"SOCRATIC_CACHE": str(cache)})
    line = next(x for x in r.stdout.splitlines() if "llama.cpp" in x)
    assert r.returncode == 1 and line.startswith("FAIL") and "SIGSEGV" in line, r.stdout + r.stderr
    for tool in ("torch", "ffmpeg", "whisper", "chromium", "dot", "ray"):
        assert any(tool in x for x in r.stdout.splitlines()), tool


@pytest.mark.slow
def test_doctor_passes_with_a_usable_build(run_cli):
    r = run_cli("doctor", "--profile", "offline")
    line = next(x for x in r.stdout.splitlines() if "llama.cpp" in x)
    assert r.returncode == 0 and line.startswith("ok") and "probe: usable" in line, r.stdout + r.stderr
