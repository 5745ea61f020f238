"""Whisper backends: real packaged Whisper base on espeak-ng speech, openai-whisper structure, audio errors."""

import subprocess
import wave

import numpy as np
import pytest

from socratic.errors import ModelNotFound, SocraticError
from socratic.media.sample import speak
from socratic.models.alm_whisper import OpenAIWhisperALM, audio_array, random_whisper
from socratic.models.base import Segment, Transcript
from socratic.models.loader import ModelSpec, load_model

SENTENCE = "The quick brown fox jumps over the lazy dog. Seven green apples are on the kitchen table."


def duration(path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speak(SENTENCE, tmp_path_factory.mktemp("speech") / "speech.wav")


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    """A video file with no audio stream."""
    out = tmp_path_factory.mktemp("video") / "mute.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=5",
                    "-an", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def check_transcript(t: Transcript, dur: float):
    assert isinstance(t, Transcript) and t.segments
    assert all(isinstance(s, Segment) for s in t.segments)
    for s in t.segments:
        assert 0 <= s.start <= s.end <= dur + 1e-6
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)


@pytest.mark.slow
def test_faster_whisper_packaged_transcribes_speech(speech):
    alm = load_model(ModelSpec.from_dict("asr", {"family": "alm", "backend": "faster_whisper",
                                                 "packaged": "whisper-base-ct2", "device": "cpu"}))
    assert alm.model_id == "whisper-base-ct2" and alm.fingerprint.startswith("packaged:whisper-base-ct2:")
    t = alm.transcribe(str(speech))
    words = t.text.lower()
    for w in ("quick", "brown", "fox", "lazy", "dog", "apples", "kitchen", "table"):
        assert w in words, t.text
    assert t.language == "en"
    check_transcript(t, duration(speech))
    # an in-memory 16 kHz array gives the same words; a forced language is honoured
    from faster_whisper import decode_audio

    t2 = alm.transcribe(decode_audio(str(speech), sampling_rate=16000), language="en")
    assert "brown fox" in t2.text.lower() and t2.language == "en"


@pytest.mark.slow
def test_openai_whisper_random_init_structure(tmp_path):
    alm = load_model(ModelSpec.from_dict("asr", {"family": "alm", "backend": "whisper", "name": "tiny",
                                                 "random_init": True, "device": "cpu", "temperature": 0,
                                                 "sample_len": 12}))
    assert alm.warnings and "random weights" in alm.warnings[0]
    assert alm.fingerprint == "whisper-random:tiny:0"
    speech = speak("Hello there.", tmp_path / "short.wav")
    t = alm.transcribe(str(speech), language="en")
    assert isinstance(t, Transcript) and t.language == "en"
    for s in t.segments:
        assert isinstance(s, Segment) and isinstance(s.text, str) and 0 <= s.start <= s.end <= duration(speech)


def test_random_whisper_shapes_and_seed():
    a, b = random_whisper("tiny", seed=1), random_whisper("tiny", seed=1)
    assert a.dims.n_text_state == 384 and a.dims.n_audio_layer == 4 and a.is_multilingual
    assert all(np.array_equal(x.detach().numpy(), y.detach().numpy())
               for x, y in zip(a.parameters(), b.parameters()))
    assert random_whisper("tiny.en").dims.n_vocab == 51864
    with pytest.raises(SocraticError, match="no model shape"):
        random_whisper("gigantic")


@pytest.mark.slow
def test_openai_whisper_loads_checkpoint_path(tmp_path):
    """A .pt checkpoint in openai-whisper's format loads through `path:` with the same weights."""
    from dataclasses import asdict

    import torch

    src = random_whisper("tiny", seed=2)
    ckpt = tmp_path / "tiny.pt"
    torch.save({"dims": asdict(src.dims), "model_state_dict": src.state_dict()}, ckpt)
    alm = OpenAIWhisperALM(ModelSpec("asr", "alm", "whisper", {"path": str(ckpt), "device": "cpu"}))
    assert alm.model_id == "tiny.pt" and alm.fingerprint.startswith("path:tiny.pt:")
    w1, w2 = src.decoder.token_embedding.weight, alm.model.decoder.token_embedding.weight
    assert torch.equal(w1, w2)


def test_uncached_names_raise_model_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelNotFound, match="whisper.load_model") as err:
        OpenAIWhisperALM(ModelSpec("asr", "alm", "whisper", {"name": "base", "device": "cpu"}))
    assert "asr" in str(err.value) and "path:" in str(err.value)
    from socratic.models.alm_whisper import FasterWhisperALM

    with pytest.raises(ModelNotFound, match="hf download Systran/faster-whisper-small"):
        FasterWhisperALM(ModelSpec("asr", "alm", "faster_whisper", {"name": "small", "device": "cpu"}))
    with pytest.raises(SocraticError, match="unknown whisper model"):
        OpenAIWhisperALM(ModelSpec("asr", "alm", "whisper", {"name": "huge", "device": "cpu"}))
    with pytest.raises(SocraticError, match="not a CTranslate2"):
        FasterWhisperALM(ModelSpec("asr", "alm", "faster_whisper", {"path": str(tmp_path), "device": "cpu"}))


def test_audio_array_input_checks(tmp_path):
    x = np.zeros(1600, dtype=np.float64)
    assert audio_array(x, None).dtype == np.float32
    with pytest.raises(SocraticError, match="1-D"):
        audio_array(np.zeros((2, 100)), None)
    with pytest.raises(SocraticError, match="audio file not found"):
        audio_array(str(tmp_path / "missing.wav"), None)


@pytest.mark.slow
def test_file_without_audio_stream_names_file(silent_video, tmp_path):
    import whisper
    from faster_whisper import decode_audio

    for decode in (lambda p: decode_audio(p, sampling_rate=16000), whisper.load_audio):
        with pytest.raises(SocraticError, match="mute.mp4") as err:
            audio_array(str(silent_video), decode)
        assert "audio" in str(err.value) and "\n" not in str(err.value)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(SocraticError, match="junk.wav"):
        audio_array(str(junk), whisper.load_audio)


@pytest.mark.cuda
@pytest.mark.slow
def test_faster_whisper_cuda_float16(speech):
    alm = load_model(ModelSpec.from_dict("asr", {"family": "alm", "backend": "faster_whisper",
                                                 "packaged": "whisper-base-ct2", "device": "cuda"}))
    t = alm.transcribe(str(speech))
    assert "brown fox" in t.text.lower()
    check_transcript(t, duration(speech))
