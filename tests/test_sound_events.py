"""Sound events: the `atm` family (random-init tiny CLAP through transformers), the sound_events node, and the
`sounds:` part of the egocentric world-state log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from socratic.context import Context
from socratic.errors import ModelNotFound, SocraticError
from socratic.media.sample import read_wav, speak
from socratic.media.video import extract_audio
from socratic.models.base import AudioText
from socratic.models.loader import ModelSpec, load_model
from socratic.nodes.audio import sound_events
from socratic.socratic_models.egocentric import world_state_log
from socratic.vocab import load_vocab
from support.media_videos import narrated_video, no_audio_video  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
CLAP = {"family": "atm", "backend": "clap", "random_init": True, "seed": 0, "device": "cpu"}


def _clap(**extra) -> AudioText:
    return load_model(ModelSpec.from_dict("clap", {**CLAP, **extra}))


@pytest.fixture(scope="module")
def clap():
    return _clap()


def _noise(seconds: float, seed: int, rate: int = 48000) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


# -- the model ---------------------------------------------------------------------------------------------

def test_random_clap_is_flagged_and_seeded(clap):
    assert isinstance(clap, AudioText) and clap.sample_rate == 48000
    assert any("RANDOM weights" in w and "sound labels are meaningless" in w for w in clap.warnings)
    other_seed = _clap(seed=1)
    assert other_seed.fingerprint != clap.fingerprint
    texts = ["Dog", "Speech"]
    same = _clap(batch_size=3)  # a different spec key: built again from the same seed
    torch.testing.assert_close(same.encode_texts(texts), clap.encode_texts(texts))
    assert not torch.allclose(other_seed.encode_texts(texts), clap.encode_texts(texts))


def test_encodings_are_normalised_and_batch_equals_one_at_a_time(clap):
    waves = [_noise(2.0, 0), _noise(0.7, 1), _noise(3.1, 2)]
    audio = clap.encode_audio(waves)
    assert audio.shape == (3, clap.embed_dim) and audio.dtype == torch.float32
    torch.testing.assert_close(audio.norm(dim=-1), torch.ones(3))
    one = torch.cat([clap.encode_audio([w]) for w in waves])
    torch.testing.assert_close(audio, one, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(audio[0], audio[1])

    texts = ["Dog", "Speech, talking", "Rain on surface", "Car"]
    emb = clap.encode_texts(texts)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(emb, torch.cat([clap.encode_texts([t]) for t in texts]), atol=1e-5, rtol=1e-4)
    assert clap.encode_texts([]).shape == (0, clap.embed_dim)
    with pytest.raises(SocraticError, match="empty waveform"):
        clap.encode_audio([np.zeros(0, np.float32)])


def test_rank_is_softmax_of_scaled_cosine(clap):
    waves, texts = [_noise(1.5, 3), _noise(2.0, 4)], ["Dog", "Cat", "Speech", "Music", "Silence"]
    cos = clap.encode_audio(waves) @ clap.encode_texts(texts).T
    probs = torch.softmax(clap.logit_scale * cos, dim=-1)
    ranked = clap.rank(waves, texts, top_k=3)
    for row, p in zip(ranked, probs):
        order = p.argsort(descending=True)[:3].tolist()
        assert [t for t, _ in row] == [texts[j] for j in order]
        assert [s for _, s in row] == pytest.approx([float(p[j]) for j in order], abs=1e-6)
    full = clap.rank(waves, texts)
    assert all(len(r) == 5 and sum(s for _, s in r) == pytest.approx(1.0, abs=1e-5) for r in full)


def test_vocab_embeddings_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path / "cache"))
    first = _clap(seed=5)
    labels = load_vocab("audioset")
    emb = first.encode_vocab(labels)
    assert emb.shape == (527, first.embed_dim)
    files = list((tmp_path / "cache" / "text_embeddings").glob("*.npy"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    second = _clap(seed=5, batch_size=7)  # a fresh instance: nothing in memory
    calls = []
    monkeypatch.setattr(second, "encode_texts", lambda t: calls.append(t) or torch.zeros(len(t), 1))
    torch.testing.assert_close(second.encode_vocab(labels), emb)  # from the file
    assert calls == [] and files[0].stat().st_mtime_ns == stamp
    _clap(seed=6).encode_vocab(labels)  # another model: another file
    assert len(list((tmp_path / "cache" / "text_embeddings").glob("*.npy"))) == 2


def test_clap_options_and_missing_weights_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelNotFound, match="not in the local Hugging Face cache"):
        load_model(ModelSpec.from_dict("clap", {"family": "atm", "backend": "clap",
                                                "id": "laion/clap-htsat-unfused"}))
    with pytest.raises(ModelNotFound, match="no file or directory"):
        load_model(ModelSpec.from_dict("clap", {"family": "atm", "backend": "clap", "path": str(tmp_path / "no")}))
    with pytest.raises(SocraticError, match="unknown option 'colour'"):
        load_model(ModelSpec.from_dict("clap", {**CLAP, "colour": "red"}))
    with pytest.raises(SocraticError, match="takes no weights"):
        load_model(ModelSpec.from_dict("clap", {**CLAP, "id": "laion/clap-htsat-unfused"}))


# -- the node ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sound_events_windows_cover_a_real_recording(clap, tmp_path):
    wav = speak("The dog barks while the kettle boils in the kitchen.", tmp_path / "speech.wav")
    samples, rate = read_wav(wav)
    duration = len(samples) / rate
    ctx = Context(node="sounds")
    events = sound_events(str(wav), atm=clap, window_s=1.5, top_k=2, ctx=ctx)
    assert len(events) == int(np.ceil(duration / 1.5 - 1e-9))
    assert events[0]["start"] == 0.0 and events[-1]["end"] == pytest.approx(duration, abs=2e-3)
    for a, b in zip(events, events[1:]):
        assert a["end"] == b["start"] and a["end"] - a["start"] == pytest.approx(1.5, abs=1e-3)
    labels = set(load_vocab("audioset"))
    for e in events:
        assert len(e["labels"]) == 2 and set(e["labels"]) <= labels
        assert e["scores"] == sorted(e["scores"], reverse=True) and 0 < e["scores"][1] <= e["scores"][0] < 1
    # the first window's ranking is the model's own ranking of that stretch of audio
    audio48 = extract_audio(str(wav), sr=48000)
    want = clap.rank([audio48[:72000]], load_vocab("audioset"), 2)[0]
    assert events[0]["labels"] == [t for t, _ in want]
    assert events[0]["scores"] == pytest.approx([s for _, s in want], abs=1e-5)
    assert ctx.warnings == []
    # min_score drops labels below it; a template changes the texts, not the labels shown
    high = sound_events(str(wav), atm=clap, window_s=1.5, top_k=2, min_score=events[0]["scores"][0], ctx=ctx)
    assert high[0]["labels"] == events[0]["labels"][:1]
    templ = sound_events(str(wav), atm=clap, vocab=["dog", "kettle"], template="the sound of a {}", ctx=ctx)
    assert all(set(e["labels"]) <= {"dog", "kettle"} for e in templ)
    with pytest.raises(SocraticError, match="window_s"):
        sound_events(str(wav), atm=clap, window_s=0, ctx=ctx)


@pytest.mark.slow
def test_sound_events_without_audio_track_is_empty_with_warning(clap, no_audio_video):  # noqa: F811
    ctx = Context(node="sounds")
    assert sound_events(str(no_audio_video), atm=clap, ctx=ctx) == []
    assert len(ctx.warnings) == 1 and "no audio track" in ctx.warnings[0]


# -- the log -----------------------------------------------------------------------------------------------

def test_world_state_log_sounds_part():
    events = [{"start": 0.0, "end": 2.0, "labels": ["Speech", "Music"], "scores": [0.6, 0.3]},
              {"start": 2.0, "end": 4.0, "labels": ["Dog", "Speech"], "scores": [0.5, 0.4]},
              {"start": 4.0, "end": 6.0, "labels": ["Speech"], "scores": [0.9]},
              {"start": 6.0, "end": 8.0, "labels": [], "scores": []},
              {"start": 8.0, "end": 9.0, "labels": ["Male speech, man speaking"], "scores": [0.7]}]
    args = ([0.0, 3.0, 7.0], ["kitchen", "garden", "hall"], [["mug"], ["dog"], ["door"]], ["a", "b", "c"])
    plain = world_state_log(*args, ["hello", "", ""])
    out = world_state_log(*args, ["hello", "", ""], events)
    assert out["lines"].split("\n") == [
        '[00:00] place: kitchen | objects: mug | activity: a | sounds: Speech, Dog | heard: "hello"',
        "[00:03] place: garden | objects: dog | activity: b | sounds: Dog, Speech",
        "[00:07] place: hall | objects: door | activity: c | sounds: Male speech"]
    assert [e["sounds"] for e in out["log"]] == [["Speech", "Dog"], ["Dog", "Speech"], ["Male speech"]]
    assert [{k: v for k, v in e.items() if k != "sounds"} for e in out["log"]] == plain["log"]
    assert "sounds" not in plain["lines"] and all("sounds" not in e for e in plain["log"])
    # no events at all: the key is there, the line unchanged
    empty = world_state_log(*args, sounds=[])
    assert [e["sounds"] for e in empty["log"]] == [[], [], []]
    assert empty["lines"] == world_state_log(*args)["lines"]


# -- the pipeline ------------------------------------------------------------------------------------------

def test_sounds_pipeline_validates():
    from socratic import Pipeline

    p = Pipeline.from_yaml(REPO / "pipelines" / "egocentric_summary_sounds.yaml")
    plan = p.validate()
    assert plan.models["clap"].family == "atm" and plan.models["clap"].backend == "clap"
    assert p.nodes["log"].inputs["sounds"] == "sounds.events"


def test_random_stand_ins_replace_only_what_was_asked():
    from socratic import Pipeline
    p = Pipeline.from_yaml(REPO / "pipelines" / "egocentric_summary_sounds.yaml")
    plain = p.validate().specs
    assert not any(s.options.get("random_init") for s in plain.values())
    only_atm = p.validate(random_atm=True).specs
    assert only_atm["clap"].backend == "clap" and only_atm["clap"].options == {"random_init": True}
    assert only_atm["clip"] == plain["clip"] and only_atm["lm"] == plain["lm"]
    both = p.validate(random_vlm=True, random_atm=True).specs
    assert both["clip"].options["random_init"] and both["clap"].options["random_init"]
    assert both["asr"] == plain["asr"]


@pytest.mark.slow
def test_sounds_pipeline_end_to_end(narrated_video, tmp_path):  # noqa: F811
    from socratic import Pipeline

    p = Pipeline.from_yaml(REPO / "pipelines" / "egocentric_summary_sounds.yaml")
    # the small random CLIP tells the stills apart only at a strict threshold; identical frames still merge
    res = p.run({"video": str(narrated_video.path), "scene_threshold": 0.99}, profile="offline", random_vlm=True,
                random_atm=True,
                cache_dir=tmp_path / "cache")
    out = res.outputs
    events = out["sounds"]
    assert [e["start"] for e in events] == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0])
    assert events[-1]["end"] == pytest.approx(9.0, abs=0.05)
    assert all(len(e["labels"]) == 3 for e in events)
    log = out["log"]
    assert [e["t"] for e in log] == [0.0, 4.0, 6.0] and all(len(e["sounds"]) >= 1 for e in log)  # 3 scenes
    for e, line in zip(log, out["lines"].split("\n")):
        assert f"| sounds: {', '.join(e['sounds'])}" in line
        if e["heard"]:
            assert line.index("| sounds: ") < line.index("| heard: ")
    assert any("sound labels are meaningless" in w for w in res.warnings)
    assert any("RANDOM weights" in w and "visual labels" in w for w in res.warnings)
    assert out["summary"].strip()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_clap_on_cuda_matches_cpu(clap):
    gpu = _clap(device="cuda")  # float16 by default on CUDA
    waves, texts = [_noise(2.0, 7), _noise(1.0, 8)], ["Dog", "Speech"]
    torch.testing.assert_close(gpu.encode_audio(waves).cpu(), clap.encode_audio(waves), atol=2e-2, rtol=0)
    torch.testing.assert_close(gpu.encode_vocab(texts).cpu(), clap.encode_texts(texts), atol=2e-2, rtol=0)
