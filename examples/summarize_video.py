"""Summarise a video of any length from Python: the world-state log and the hierarchical first-person summary.

    python examples/summarize_video.py VIDEO [--offline] [--sounds] [--scene-threshold 0.95]

Frames and audio are streamed, static scenes collapse into one log entry, and a log too long for the LM's
context is summarised window by window (each with its time range), then the window summaries are summarised.
--offline runs on the packaged SmolLM2 and Whisper base with a small random-init CLIP stand-in (the visual
labels are then meaningless, the speech is real; the stand-in tells scenes apart only at --scene-threshold 0.99).
--sounds adds sound events (AudioSet labels from a CLAP model) to the log; with --offline a random CLAP stands in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from socratic import Pipeline, SocraticError
from socratic.media.keyframe import clock

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--offline", action="store_true", help="packaged LM/ASR, random CLIP (and CLAP)")
    ap.add_argument("--sounds", action="store_true", help="sound events in the log (a CLAP model)")
    ap.add_argument("--scene-threshold", type=float, default=None,
                    help="CLIP cosine at which consecutive key frames merge (default: the pipeline's, 0.95)")
    args = ap.parse_args(argv)
    name = "egocentric_summary_sounds.yaml" if args.sounds else "egocentric_summary.yaml"
    pipeline = Pipeline.from_yaml(PIPELINES / name)
    opts = {"profile": "offline", "random_vlm": True, "random_atm": args.sounds} if args.offline else {}
    inputs = {"video": args.video}
    if args.scene_threshold is not None:
        inputs["scene_threshold"] = args.scene_threshold
    try:
        result = pipeline.run(inputs, progress=True, **opts)
    except SocraticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    cov = result["coverage"]
    print(f"World-state log ({len(result['log'])} entries for {clock(cov['duration'])} of video):")
    print(result["lines"])
    for level in sorted({w["level"] for w in result["summaries"]}):
        print(f"\nSummaries, level {level}:")
        for w in (w for w in result["summaries"] if w["level"] == level):
            flag = " (flagged: the LM kept no fact)" if w["flagged"] else ""
            print(f"[{clock(w['start'])}–{clock(w['end'])}] {w['summary'] or '(empty)'}{flag}")
    print("\nSummary:", result["summary"] or "(empty)")
    c = result["check"]
    print(f"\n{c['facts']} facts said or read; the LM kept {c['window_lm_kept']} in its window summaries and "
          f"{c['summary_lm_kept']} in the top one; added back from the log: {c['added_to_windows']} to windows, "
          f"{c['added_to_summary']} to the summary; windows flagged: {c['windows_flagged']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
