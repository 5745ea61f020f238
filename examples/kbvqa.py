"""Knowledge-based VQA with PICa from a script.

One question:
    python examples/kbvqa.py --memory pica_train.jsonl --image photo.jpg --question "What is this dish called?"
A dataset (JSONL of {question_id, question, image, caption?}), resumable, then the official accuracy:
    python examples/kbvqa.py --memory pica_train.jsonl --dataset val.jsonl --out pred.jsonl
    socratic eval vqa --annotations mscoco_val2014_annotations.json \
        --questions OpenEnded_mscoco_val2014_questions.json --predictions pred.jsonl
Offline demo (toy memory from scikit-image samples, packaged SmolLM2, random-weight CLIP: answers come from
the LM's knowledge and the captions; the example ranking is meaningless with random CLIP weights):
    python examples/kbvqa.py --demo
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from socratic.errors import SocraticError
from socratic.paths import REPO_DIR
from socratic.pica import PICa

TINY_CLIP = {"embed_dim": 64, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                                           "layers": 2},
             "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32}}

DEMO_TRAIN = [  # (scikit-image sample, question, answer, caption)
    ("chelsea", "What animal is this?", "cat", "A tabby cat looking at the camera."),
    ("coffee", "What drink is in the cup?", "coffee", "A cup of coffee on a saucer."),
    ("rocket", "What is this vehicle used for?", "space travel", "A rocket on a launch pad."),
    ("astronaut", "What is this person's job?", "astronaut", "A woman in a space suit in front of a flag."),
    ("horse", "What do these animals eat?", "hay", "The silhouette of a horse."),
    ("coins", "What are these used for?", "money", "A pile of old coins."),
]
DEMO_QUESTIONS = [("chelsea", "What sound does this animal make?", "A cat sitting on a bed."),
                  ("coffee", "Which country grows a lot of this?", "A cup of coffee with a spoon.")]


def demo_files(root: Path) -> tuple[Path, Path]:
    from PIL import Image
    from skimage import data

    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in {n for n, *_ in DEMO_TRAIN + DEMO_QUESTIONS}:
        Image.fromarray(getattr(data, name)()).convert("RGB").resize((96, 96)).save(root / "images" / f"{name}.png")
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps({"question_id": k, "image": f"images/{n}.png", "question": q, "answers": [a],
                                         "caption": c}) + "\n" for k, (n, q, a, c) in enumerate(DEMO_TRAIN)))
    val = root / "val.jsonl"
    val.write_text("".join(json.dumps({"question_id": 100 + k, "image": f"images/{n}.png", "question": q,
                                       "caption": c}) + "\n" for k, (n, q, c) in enumerate(DEMO_QUESTIONS)))
    return train, val


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default=str(REPO_DIR / "pipelines" / "pica_okvqa.yaml"))
    ap.add_argument("--memory", help="training set JSONL (or a built memory folder)")
    ap.add_argument("--image")
    ap.add_argument("--question")
    ap.add_argument("--caption", help="use this caption instead of the pipeline's captioner")
    ap.add_argument("--dataset", help="JSONL of questions to answer")
    ap.add_argument("--out", help="predictions JSONL (dataset mode; resumes)")
    ap.add_argument("--profile", help="e.g. offline: the packaged SmolLM2 for every LM")
    ap.add_argument("--random-vlm", action="store_true",
                    help="let a random-weight CLIP stand in (example ranking and captions meaningless; said on stderr)")
    ap.add_argument("--n-shot", type=int)
    ap.add_argument("--n-ensemble", type=int)
    ap.add_argument("--demo", action="store_true")
    args = ap.parse_args(argv)

    params, models = {}, None
    if args.n_shot or args.n_ensemble:
        params["select"] = {k: v for k, v in (("n_shot", args.n_shot), ("n_ensemble", args.n_ensemble)) if v}
    try:
        if args.demo:
            root = Path(tempfile.mkdtemp(prefix="kbvqa-demo-"))
            train, val = demo_files(root)
            args.memory, args.dataset, args.out = str(train), str(val), str(root / "pred.jsonl")
            args.profile = args.profile or "offline"
            params["select"] = {"n_shot": 2, "n_ensemble": 3, **params.get("select", {})}
            tiny = {"family": "vlm", "backend": "open_clip", "config": TINY_CLIP, "random_init": True}
            models = {"clip": tiny, "clip_caption": tiny}
        if not args.memory:
            ap.error("--memory is required (or --demo)")
        pica = PICa.from_yaml(args.pipeline, memory=args.memory, models=models, params=params,
                              profile=args.profile, random_vlm=args.random_vlm)
        if args.dataset:
            if not args.out:
                ap.error("--dataset needs --out")
            for rec in pica.answer_many(args.dataset, args.out, progress=True):
                print(json.dumps({k: rec[k] for k in ("question_id", "question", "answer", "error") if k in rec}))
            print(f"predictions: {args.out}", file=sys.stderr)
        elif args.image and args.question:  # (answer_many says its warnings as they come)
            print(pica.answer(args.image, args.question, caption=args.caption))
            for w in pica.warnings:  # e.g. a random-weight CLIP's
                print(f"warning: {w}", file=sys.stderr)
        else:
            ap.error("give --image and --question, or --dataset and --out")
    except SocraticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
