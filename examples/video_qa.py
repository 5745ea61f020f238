"""Ask questions about a video from Python (the log is computed once; later questions reuse the node cache).

    python examples/video_qa.py VIDEO "What was I making?" ["Where was the cat?" ...] [--search] [--offline]

--search narrows the log to the frames CLIP finds for the question's entities (for long videos).
--offline runs on the packaged SmolLM2 and Whisper base with a small random-init CLIP stand-in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from socratic import Pipeline, SocraticError

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "video_qa.yaml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("questions", nargs="+")
    ap.add_argument("--search", action="store_true", help="video search: only the matching part of the log")
    ap.add_argument("--offline", action="store_true", help="packaged LM/ASR, random CLIP")
    args = ap.parse_args(argv)
    pipeline = Pipeline.from_yaml(PIPELINE)
    opts = {"profile": "offline", "random_vlm": True} if args.offline else {}
    try:
        for question in args.questions:
            result = pipeline.run(video=args.video, question=question, video_search=args.search, **opts)
            print(f"Q: {question}\nA: {result['answer']}")
            if args.search:
                print(f"   (entities: {', '.join(result['entities']) or '-'}; log lines used:)")
                print("   " + result["lines"].replace("\n", "\n   "))
            print()
    except SocraticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
