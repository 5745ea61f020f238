"""Faithfulness of the egocentric summary and video Q&A to facts known to be said in a 30-minute video.

    python benchmarks/faithfulness.py [--minutes 30] [--keep DIR] [--json OUT] [--sweep 120 240 ...]

The video is synthetic: scikit-image stills held 1-3 minutes each (as benchmarks/long_video.py builds them) and
espeak-ng narration: FACTS (a sentence with keywords and a question each) and a few filler remarks. It runs
`pipelines/egocentric_summary.yaml` and then `pipelines/video_qa.yaml` once per fact's question, plus one about
something never said, on the offline profile (packaged SmolLM2-135M, Whisper base, MiniLM; random CLIP stand-in
with scene_threshold 0.99), sharing one node cache. Scores: socratic/eval/faithfulness.py. Besides the last line
it prints what the LM kept on its own (before facts were added back by rule) and the never-said answer. Last line:
`summary_recall=<x> window_recall=<y> answer_acc=<z> evidence_recall=<e> grounded=<g>`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.long_video import ORDER, THRESHOLD, stills_for  # noqa: E402
from socratic.eval.faithfulness import Fact, last_line, score  # noqa: E402

FACTS = [  # (minute fraction of the video, sentence, keywords, question)
    (0.02, "I put my keys in the blue bowl by the front door.", ("bowl",), "Where did I put my keys?"),
    (0.10, "I am tuning the old violin before the concert.", ("violin",), "What instrument was I tuning?"),
    (0.18, "The passport is in my red suitcase.", ("suitcase",), "Where is the passport?"),
    (0.26, "I am watering the tomatoes in the garden.", ("tomato",), "What was I watering in the garden?"),
    (0.34, "My sister called to say she will arrive on Friday.", ("friday",), "When will my sister arrive?"),
    (0.42, "I am baking bread for dinner tonight.", ("bread",), "What was I baking?"),
    (0.50, "I left my umbrella on the train this morning.", ("train",), "Where did I leave my umbrella?"),
    (0.58, "The bicycle has a flat tire, so I will walk to work.", ("flat", "tire|tyre"),
     "What is wrong with the bicycle?"),
    (0.66, "I am reading a book about volcanoes.", ("volcano",), "What is the book about?"),
    (0.74, "The dog is sleeping under the kitchen table.", ("table",), "Where was the dog sleeping?"),
    (0.82, "I am writing a letter to my grandmother.", ("grandmother",), "Who was I writing a letter to?"),
    (0.90, "The meeting with the plumber is at noon.", ("noon",), "When is the meeting with the plumber?"),
]
FILLER = [(0.06, "Okay, let me think for a moment."), (0.47, "Right, moving on to the next thing."),
          (0.78, "That took longer than I expected.")]
NEVER_SAID = "What did the doctor say about my knee?"
NO_EVIDENCE = "No evidence found in the video."


def plan(minutes: float, seed: int = 0) -> tuple[list[tuple[str, float]], list[Fact], list[tuple[float, str]]]:
    """Scenes (still, seconds), the facts at their times, and every narration (time, text)."""
    rng = random.Random(seed)
    total, scenes, t = minutes * 60.0, [], 0.0
    while t < total - 1e-6:
        seconds = min(float(rng.randint(60, 180)), total - t)
        scenes.append((ORDER[len(scenes) % len(ORDER)], seconds))
        t += seconds
    facts = [Fact(round(at * total, 1), s, kw, q) for at, s, kw, q in FACTS]
    said = sorted([(f.t, f.sentence) for f in facts] + [(round(at * total, 1), s) for at, s in FILLER])
    return scenes, facts, said


def build(path: Path, minutes: float) -> tuple[list[Fact], int]:
    from socratic.media.sample import build_long_video, sample_images

    scenes, facts, said = plan(minutes)
    imgs = stills_for(sample_images())
    build_long_video(path, [(imgs[name], s) for name, s in scenes], said, fps=1, size=(320, 240))
    return facts, len(scenes)


def sweep(video: Path, cache: Path, sizes: list[int]) -> None:
    """The summary again at each window size (the log from the cache): what the LM keeps on its own."""
    from socratic import Pipeline

    for size in sizes:
        p = Pipeline.from_yaml(REPO / "pipelines/egocentric_summary.yaml")
        p.nodes["summary"].params["window_tokens"] = size
        t = time.perf_counter()
        out = p.run({"video": str(video), "scene_threshold": THRESHOLD}, profile="offline", random_vlm=True,
                    cache_dir=cache)
        c = out["check"]
        n = len([w for w in out["summaries"] if w["level"] == 1])
        print(f"window_tokens {size}: {n} windows, the LM kept {c['window_lm_kept']}/{c['facts']} facts in its window "
              f"summaries and {c['summary_lm_kept']}/{c['facts']} in the top one ({time.perf_counter() - t:.0f} s)",
              flush=True)


def run(video: Path, facts: list[Fact], cache: Path) -> dict:
    from socratic import Pipeline

    opts = {"profile": "offline", "random_vlm": True, "cache_dir": cache}
    inputs = {"video": str(video), "scene_threshold": THRESHOLD}
    t = time.perf_counter()
    summary = Pipeline.from_yaml(REPO / "pipelines/egocentric_summary.yaml").run(inputs, **opts)
    summary_s = time.perf_counter() - t
    qa = Pipeline.from_yaml(REPO / "pipelines/video_qa.yaml")
    answers, t = [], time.perf_counter()
    for q in [f.question for f in facts] + [NEVER_SAID]:
        out = qa.run({**inputs, "question": q}, **opts)
        answers.append({k: out[k] for k in ("answer", "grounded", "note", "evidence")})
    return {"summary": summary.outputs, "answers": answers, "summary_s": summary_s,
            "qa_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--keep", type=Path, help="build the video here (and reuse it) instead of a temp folder")
    ap.add_argument("--json", type=Path, help="write the per-fact rows and the outputs here (a new file)")
    ap.add_argument("--sweep", type=int, nargs="*", default=[], metavar="TOKENS",
                    help="also summarise with these window sizes and print what the LM keeps on its own")
    a = ap.parse_args()
    if a.json and a.json.exists():
        sys.exit(f"{a.json}: exists; choose a new name")
    folder = a.keep or Path(tempfile.mkdtemp(prefix="socratic-faithful-"))
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"facts_{a.minutes:g}min.mp4"
    scenes, facts, _ = plan(a.minutes)
    if not video.exists():
        t = time.perf_counter()
        build(video, a.minutes)
        print(f"built {video.name}: {len(scenes)} scenes, {len(facts)} facts in {time.perf_counter() - t:.0f} s",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="socratic-faithful-cache-") as cache:
        r = run(video, facts, Path(cache))
        sweep(video, Path(cache), a.sweep)
    out = r["summary"]
    s = score(facts, out["summary"], out["summaries"], r["answers"][:-1])
    check = out["check"]
    level1 = [w for w in out["summaries"] if w["level"] == 1]
    print(f"log: {len(out['log'])} entries; {len(level1)} level-1 windows, {out['check']['facts']} spoken facts "
          f"found; summary {r['summary_s']:.0f} s (log included), {len(facts) + 1} questions {r['qa_s']:.0f} s")
    print(f"kept by the LM on its own: window summaries {check['window_lm_kept']}/{check['facts']}, top summary "
          f"{check['summary_lm_kept']}/{check['facts']}; added back by rule: {check['added_to_windows']} to windows, "
          f"{check['added_to_summary']} to the summary; windows redone {check['windows_redone']}, flagged "
          f"{check['windows_flagged']}; sentences removed by cleaning {check['sentences_removed']}")
    for row in s["rows"]:
        print(f"  {row['t']:7.1f} s {'/'.join(row['keywords']):<12} summary {int(row['in_summary'])} window "
              f"{int(row['in_window'])} evidence {int(row['in_evidence'])} grounded {int(row['grounded'])} "
              f"answer {row['answer']!r}")
    never = r["answers"][-1]
    print(f"never said: {NEVER_SAID!r} -> {never['answer']!r} ({'right' if never['answer'] == NO_EVIDENCE else 'WRONG'})")
    print(f"summary: {out['summary']}")
    if a.json:
        a.json.write_text(json.dumps({"score": s, "run": r}, indent=1, default=str))
    print(last_line(s))


if __name__ == "__main__":
    main()
