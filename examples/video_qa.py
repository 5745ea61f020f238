"""Ask questions about a video of any length from Python: each answer comes with the log entries it used.

    python examples/video_qa.py VIDEO "What was I making?" ["Where did I put my keys?" ...] [--offline]

The log is computed once; later questions reuse the node cache. Evidence is retrieved by the question's
sentence embedding (against what was said and what was seen) and by CLIP (the question's entities against
the key frames); a question the video says nothing about gets "No evidence found in the video."
--offline runs on the packaged SmolLM2, Whisper base and all-MiniLM-L6-v2 with a small random-init CLIP.
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
    args = ap.parse_args(argv)
    pipeline = Pipeline.from_yaml(PIPELINE)
    opts = {"profile": "offline", "random_vlm": True} if args.offline else {}
    try:
        for question in args.questions:
            result = pipeline.run(video=args.video, question=question, **opts)
            print(f"Q: {question}\nA: {result['answer']}")
            for e in result["evidence"]:
                print(f"   [{clock(e['t'])}] by {e['by']} ({e['score']:.2f}): {e['line']}")
            print()
    except SocraticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
