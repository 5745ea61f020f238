"""Summarise a video from Python: the egocentric world-state log and the LM's first-person summary.

    python examples/summarize_video.py VIDEO [--offline]

--offline runs on the packaged SmolLM2 and Whisper base with a small random-init CLIP stand-in (the visual
labels are then meaningless, the speech is real); without it the pipeline's own models are used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from socratic import Pipeline, SocraticError

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "egocentric_summary.yaml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--offline", action="store_true", help="packaged LM/ASR, random CLIP")
    args = ap.parse_args(argv)
    pipeline = Pipeline.from_yaml(PIPELINE)
    opts = {"profile": "offline", "random_vlm": True} if args.offline else {}
    try:
        result = pipeline.run(video=args.video, **opts)
    except SocraticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print("World-state log:")
    print(result["lines"])
    print("\nTranscript:", result["transcript"] or "(nothing heard)")
    print("\nSummary:", result["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
