"""Reading videos (frames with timestamps, the audio track) and building small sample media."""

from .video import VideoInfo, extract_audio, probe, sample_frames

__all__ = ["VideoInfo", "extract_audio", "probe", "sample_frames"]
