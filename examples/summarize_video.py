"""Summarise a video from Python: the egocentric world-state log and the LM's first-person summary.

    python examples/summarize_video.py VIDEO [--offline] [--sounds]

--offline runs on the packaged SmolLM2 and Whisper base with a small random-init CLIP stand-in (the visual
labels are then meaningless, the speech is real); without it the pipeline's own models are used.
--sounds adds sound events (AudioSet labels from a CLAP model) to the log; with --offline a random CLAP stands in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from socratic import Pipeline, SocraticError

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--offline", action="store_true", help="packaged LM/ASR, random CLIP (and CLAP)")
    ap.add_argument("--sounds", action="store_true", help="sound events in the log (a CLAP model)")
    args = ap.parse_args(argv)
    name = "egocentric_summary_sounds.yaml" if args.sounds else "egocentric_summary.yaml"
    pipeline = Pipeline.from_yaml(PIPELINES / name)
    opts = {"profile": "offline", "random_vlm": True, "random_atm": args.sounds} if args.offline else {}
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
