"""Ask questions about a video of any length from Python: each answer comes with the log entries it used.

    python examples/video_qa.py VIDEO "What was I making?" ["Where did I put my keys?" ...] [--offline]
                                [--scene-threshold 0.95] [--show-log]

The log is computed once; later questions reuse the node cache. Evidence is retrieved by the question's
sentence embedding (against what was said and what was seen) and by CLIP (the question's entities against
the key frames); the answer says whether it is grounded in that evidence (else the best-matching sentence said
is given, with a note), and a question the video says nothing about gets "No evidence found in the video."
--offline runs on the packaged SmolLM2, Whisper base and all-MiniLM-L6-v2 with a small random-init CLIP (its
visual labels are meaningless, and a warning says so); the stand-in tells scenes apart only at a scene threshold of
0.99, which --offline uses unless --scene-threshold says otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from socratic import Pipeline, SocraticError
from socratic.media.keyframe import clock

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "video_qa.yaml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("questions", nargs="+")
    ap.add_argument("--offline", action="store_true", help="packaged LM/ASR/embeddings, random CLIP")
    ap.add_argument("--scene-threshold", type=float, default=None,
                    help="CLIP cosine at which consecutive key frames merge (default: 0.99 with --offline, else the "
                         "pipeline's 0.95)")
    ap.add_argument("--show-log", action="store_true", help="print the world-state log first")
    args = ap.parse_args(argv)
    pipeline = Pipeline.from_yaml(PIPELINE)
    opts = {"profile": "offline", "random_vlm": True} if args.offline else {}
    threshold = args.scene_threshold if args.scene_threshold is not None else (0.99 if args.offline else None)
    inputs = {"video": args.video} | ({"scene_threshold": threshold} if threshold is not None else {})
    warned: set[str] = set()
    try:
        for k, question in enumerate(args.questions):
            result = pipeline.run({**inputs, "question": question}, progress=True, **opts)
            for w in result.warnings:
                if w not in warned:
                    warned.add(w)
                    print(f"warning: {w}", file=sys.stderr)
            if args.show_log and k == 0:
                print(f"World-state log:\n{result['lines']}\n")
            print(f"Q: {question}\nA: {result['answer']}  (grounded: {str(result['grounded']).lower()})")
            if result["note"]:
                print(f"   note: {result['note']}")
            for e in result["evidence"]:
                print(f"   [{clock(e['t'])}] by {e['by']} ({e['score']:.2f}): {e['line']}")
            print()
    except SocraticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
