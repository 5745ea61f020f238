"""Video ingestion on real ffmpeg-built videos: timestamps (incl. variable frame rate), rotation, audio, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from socratic.errors import SocraticError
from socratic.media.sample import build_sample_video, read_wav, sample_images, scene_starts, speak
from socratic.media.video import extract_audio, probe, sample_frames
from support.media_videos import (  # noqa: F401  (fixtures)
    SCENE_S, SIZE, VFR_COLOURS, large_video, narrated_video, no_audio_video, rotated_video, silent_track_video,
    upright_pattern, vfr_frame_times, vfr_video)

pytestmark = pytest.mark.slow  # runs ffmpeg / espeak-ng


def _mse(a: Image.Image, b: Image.Image) -> float:
    return float(np.mean((np.asarray(a, np.float32) - np.asarray(b.resize(a.size), np.float32)) ** 2))


def test_speak_writes_speech(tmp_path):
    wav = speak("hello world", tmp_path / "hi.wav")
    samples, rate = read_wav(wav)
    assert rate > 8000
    assert 0.3 < len(samples) / rate < 3.0
    assert np.abs(samples).max() > 0.05


def test_speak_without_espeak_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SocraticError, match="espeak-ng is not installed") as e:
        speak("hello", tmp_path / "x.wav")
    assert "\n" not in str(e.value)


def test_sample_video_layout(narrated_video):
    info = probe(narrated_video.path)
    assert (info.width, info.height) == SIZE
    assert info.has_audio and info.rotation == 0
    assert info.duration == pytest.approx(3 * SCENE_S, abs=0.15)
    assert narrated_video.starts == (0.0, 3.0, 6.0)
    frames, times = sample_frames(narrated_video.path, stride_s=1.0)
    assert times == pytest.approx([float(k) for k in range(9)], abs=1e-6)
    # each key frame shows the still of the scene its timestamp falls in
    for img, t in zip(frames, times):
        dists = [_mse(img, still) for still in narrated_video.images]
        assert int(np.argmin(dists)) == int(t // SCENE_S)


def test_narration_starts_with_its_scene(narrated_video):
    audio = extract_audio(narrated_video.path, sr=16000)
    assert audio is not None and audio.dtype == np.float32
    assert len(audio) / 16000 == pytest.approx(9.0, abs=0.1)
    loud = np.abs(audio) > 0.02
    first, last = np.argmax(loud) / 16000, (len(loud) - np.argmax(loud[::-1])) / 16000
    assert first < 0.4  # scene 0 narration begins at 0 s
    assert not loud[int(3.2 * 16000):int(5.9 * 16000)].any()  # scene 1 is silent
    assert loud[int(6.0 * 16000):int(6.6 * 16000)].any()  # scene 2 narration begins at 6 s
    assert 6.5 < last < 9.0


def test_build_rejects_narration_longer_than_scene(tmp_path):
    img = sample_images()["coffee"]
    with pytest.raises(SocraticError, match="scene 0: narration lasts"):
        build_sample_video(tmp_path / "x.mp4", [(img, "this sentence takes far longer than half a second", 0.5)])


def test_scene_starts_are_running_sums():
    assert scene_starts([(None, None, 1.5), (None, "x", 2.0), (None, None, 1.0)]) == [0.0, 1.5, 3.5]


def test_no_audio_video(no_audio_video):
    assert probe(no_audio_video).has_audio is False
    assert extract_audio(no_audio_video) is None
    frames, times = sample_frames(no_audio_video, stride_s=2.0)
    assert times == pytest.approx([0.0, 2.0])


def test_silent_track_is_silent(silent_track_video):
    audio = extract_audio(silent_track_video)
    assert audio is not None and len(audio) / 16000 == pytest.approx(4.0, abs=0.1)
    assert np.abs(audio).max() < 1e-3


def test_variable_frame_rate_timestamps(vfr_video):
    truth = vfr_frame_times()
    frames, times = sample_frames(vfr_video, stride_s=1.5)
    # expected: for each boundary, the first true frame at or after it; a frame covering several boundaries once
    expected, boundary = [], 0.0
    for t, colour in truth:
        if t >= boundary - 1e-6:
            expected.append((t, colour))
            boundary = (np.floor(t / 1.5 + 1e-9) + 1) * 1.5
    assert [t for t, _ in expected] == pytest.approx([0.0, 1.5, 3.0, 5.0, 6.0, 7.52])
    assert times == pytest.approx([t for t, _ in expected], abs=1e-3)
    for img, (_, colour) in zip(frames, expected):
        assert np.abs(np.asarray(img)[60, 80].astype(int) - VFR_COLOURS[colour]).max() < 40
    # a constant-rate assumption (index / average fps) would put frame 21 (green, t=3.0) at about 2.3 s
    info = probe(vfr_video)
    assert info.fps is not None and abs(21 / info.fps - 3.0) > 0.5


def test_rotated_phone_video_comes_out_upright(rotated_video):
    info = probe(rotated_video)
    assert info.rotation == 90
    assert (info.width, info.height) == (160, 120)
    frames, _ = sample_frames(rotated_video, stride_s=1.0)
    img = frames[0]
    assert img.size == (160, 120)  # stored 120×160, displayed 160×120
    want = upright_pattern()
    assert _mse(img, want) < 60
    assert _mse(img, want.transpose(Image.Transpose.ROTATE_180)) > 2000


def test_very_large_resolution_is_downscaled(large_video):
    info = probe(large_video)
    assert (info.width, info.height) == (3840, 2160)
    frames, _ = sample_frames(large_video, stride_s=1.0, max_side=512)
    assert frames[0].size == (512, 288)
    full, _ = sample_frames(large_video, stride_s=1.0, max_side=None)
    assert full[0].size == (3840, 2160)


def test_max_frames_stops_early(narrated_video):
    frames, times = sample_frames(narrated_video.path, stride_s=1.0, max_frames=4)
    assert len(frames) == 4 and times == pytest.approx([0.0, 1.0, 2.0, 3.0])


def _bad_inputs(tmp_path, narrated):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01not a video" * 500)
    data = narrated.path.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    image = tmp_path / "photo.jpg"
    sample_images()["coffee"].save(image)
    png = tmp_path / "photo.png"
    sample_images()["chelsea"].save(png)
    wav = speak("no pictures here", tmp_path / "speech.wav")
    return {
        empty: "empty file", junk: "cannot read as video", image: "is an image",
        png: "is an image", wav: "has no video stream", tmp_path / "missing.mp4": "file not found",
        tmp_path: "is a directory",
    }


def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path, narrated_video):
    for path, reason in _bad_inputs(tmp_path, narrated_video).items():
        for call in (lambda p: sample_frames(p, 1.0), probe):
            with pytest.raises(SocraticError) as e:
                call(path)
            msg = str(e.value)
            assert str(path) in msg and "\n" not in msg, msg
            if reason:
                assert reason in msg


def test_truncated_video_gives_the_frames_before_the_cut_and_a_warning(tmp_path, narrated_video):
    data = narrated_video.path.read_bytes()  # faststart: the index comes first, so the start stays readable
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 3])
    warnings: list[str] = []
    frames, times = sample_frames(cut, 1.0, warn=warnings.append)
    assert 0 < len(frames) < 9 and times == pytest.approx([float(k) for k in range(len(frames))])
    assert len(warnings) == 1 and str(cut) in warnings[0] and "truncated" in warnings[0]
    whole: list[str] = []
    sample_frames(narrated_video.path, 1.0, warn=whole.append)
    assert whole == []


def test_zero_length_video_is_an_error(tmp_path):
    from socratic.media.sample import run_tool

    out = tmp_path / "zero.mp4"
    run_tool(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=red:size=160x120:rate=10",
              "-frames:v", "0", "-c:v", "libx264", str(out)], str(out))
    with pytest.raises(SocraticError, match="zero.mp4") as e:
        sample_frames(out, 1.0)
    assert "no video" in str(e.value)


def test_stride_must_be_positive(narrated_video):
    with pytest.raises(SocraticError, match="stride_s"):
        sample_frames(narrated_video.path, 0)
