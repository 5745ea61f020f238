"""Long-video multiple-choice QA on a synthetic set: LLoVi-style, VideoTree-style and world-state-log pipelines on
the same items (accuracy, captions per question, seconds per question, captioner work per video).

    python benchmarks/long_video_qa.py [--videos 20] [--questions 2] [--summary] [--cache DIR]
    python benchmarks/long_video_qa.py --captioner-cost [--frames 4]

`--captioner-cost` measures only what a frame costs the pipelines' captioner in its real architecture
(SmolVLM-256M-Instruct, random weights: `--random-captioner-arch`) on video 0's frames, captions of the
benchmark's length, the frames in one batch, and what that makes an hour of each method's captioning.

The set: `--videos` videos of 3 minutes (1 frame/s, 480x320) built once into `--cache` with ffmpeg: five
scikit-image stills, one carrying a sign with a word on it (BAKERY, ...), and three espeak-ng sentences, one holding a
fact (e.g. "I left my keys in the blue box."). Per video, 5-option questions: one answered by the speech, one by
the sign. Offline profile: packaged SmolLM2-135M-Instruct, Whisper base, rapidocr (real); CLIP and the captioner are
RANDOM stand-ins (--random-vlm, --random-captioner), so every visual part is meaningless and the answers can only
come from speech and scene text.

Runs, one dataset run per pipeline (`Pipeline.run_dataset`, default batch size): first speech and scene text
(speech_and_scene_text.yaml) once into a node cache, then each pipeline in a copy of that cache: a pipeline's
seconds leave out transcription and OCR (reported apart, once per video) and no pipeline reuses another's captions.
The captioner is counted: frames it ran on per video, and frames it captioned twice (0: each frame once, however many
questions). Then captions once per video, timed: video 0's two questions one after the other (LLoVi, VideoTree).
Settings for this CPU (printed): captions of 8 tokens, the LLoVi summary off unless --summary (SmolLM2 generating
256 tokens a question is the slowest step here), VideoTree relevance by likelihood (`relevance: score`: SmolLM2 never
writes a list of ratings, measured). Last line:
`acc_llovi=<x> acc_videotree=<y> acc_smlog=<z> captions_videotree_over_llovi=<r> invalid=<n>`.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
import random
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SECONDS = 180.0
SIGN_S = 14.0
SCENE_THRESHOLD = 0.99  # the random CLIP stand-in tells few images apart (README: Long videos)
CAPTION_TOKENS = 8

# (sentence, question, right, four wrong)
SPEECH = [
    ("I left my keys in the blue box.", "Where did I leave my keys?", "in the blue box",
     ["in the red bag", "under the bed", "on the kitchen table", "in my coat pocket"]),
    ("My sister is coming home on Friday.", "When is my sister coming home?", "on Friday",
     ["on Monday", "on Sunday", "tomorrow morning", "next year"]),
    ("The meeting starts at nine o'clock.", "When does the meeting start?", "at nine o'clock",
     ["at noon", "at six o'clock", "at midnight", "at two o'clock"]),
    ("I need to buy milk and bread.", "What do I need to buy?", "milk and bread",
     ["eggs and cheese", "rice and beans", "apples and pears", "coffee and tea"]),
    ("The dog is sleeping in the garden.", "Where is the dog sleeping?", "in the garden",
     ["on the sofa", "in the kitchen", "under the car", "on my bed"]),
    ("I parked the car next to the school.", "Where did I park the car?", "next to the school",
     ["behind the hospital", "at the airport", "near the river", "in the garage"]),
    ("My favourite colour is green.", "What is my favourite colour?", "green",
     ["red", "yellow", "purple", "black"]),
    ("We are going to the beach this weekend.", "Where are we going this weekend?", "to the beach",
     ["to the mountains", "to the city", "to a museum", "to the zoo"]),
    ("The doctor told me to drink more water.", "What did the doctor tell me to do?", "drink more water",
     ["sleep longer", "eat less sugar", "walk every day", "stop running"]),
    ("I lost my phone at the train station.", "Where did I lose my phone?", "at the train station",
     ["at the park", "in a taxi", "at the office", "in the shop"]),
    ("There are seven apples on the table.", "How many apples are on the table?", "seven",
     ["two", "four", "ten", "twelve"]),
    ("My brother plays the guitar every evening.", "What does my brother play?", "the guitar",
     ["the piano", "the drums", "the violin", "football"]),
    ("The shop closes at five today.", "When does the shop close today?", "at five",
     ["at eight", "at noon", "at three", "at ten"]),
    ("I am cooking soup for dinner.", "What am I cooking for dinner?", "soup",
     ["pasta", "a pizza", "fried rice", "a curry"]),
    ("The bus to the airport is late.", "Which bus is late?", "the bus to the airport",
     ["the bus to the zoo", "the bus to the school", "the bus to the hospital", "the bus to the city"]),
    ("I put the letters in the top drawer.", "Where did I put the letters?", "in the top drawer",
     ["on the shelf", "in my bag", "under the door", "in the bin"]),
    ("My friend Anna lives in London.", "Where does Anna live?", "in London",
     ["in Paris", "in Berlin", "in Madrid", "in Rome"]),
    ("The window in the kitchen is broken.", "Which window is broken?", "the window in the kitchen",
     ["the window in the bedroom", "the window in the bathroom", "the car window", "the window in the hall"]),
    ("I will call my mother tonight.", "Who will I call tonight?", "my mother",
     ["my boss", "my teacher", "my father", "my neighbour"]),
    ("The red car belongs to our neighbour.", "Who does the red car belong to?", "our neighbour",
     ["my uncle", "the teacher", "the doctor", "my sister"]),
]
SIGNS = ["BAKERY", "PHARMACY", "LIBRARY", "GARAGE", "MUSEUM", "HOSPITAL", "STATION", "BANK", "HOTEL", "SCHOOL",
         "POLICE", "OFFICE", "GARDEN", "CINEMA", "MARKET", "PARKING", "EXIT", "CAFE", "THEATRE", "AIRPORT"]
FILLERS = ["Now I am walking down the hall.", "Let me look around for a moment.", "It is a quiet afternoon.",
           "I am going to open the door now.", "Time to take a short break."]
SIGN_QUESTION = "What word was written on the sign in the video?"

PIPELINES = {"llovi": "llovi_qa.yaml", "videotree": "videotree_qa.yaml", "smlog": "smlog_qa.yaml"}


def _options(right: str, wrong: list[str], rng: random.Random) -> tuple[list[str], int]:
    opts = list(wrong)
    at = rng.randrange(5)
    opts.insert(at, right)
    return opts, at


def build_video(k: int, folder: Path) -> list[dict]:
    """Video k and its questions (built once; the items are recomputed, they are deterministic)."""
    from long_video import ORDER, stills_for

    from socratic.media.sample import build_long_video, sample_images, with_sign

    rng = random.Random(1000 + k)
    sentence, question, right, wrong = SPEECH[k % len(SPEECH)]
    word = SIGNS[k % len(SIGNS)]
    names = [ORDER[(k + i) % len(ORDER)] for i in range(5)]
    sign_at = rng.randrange(1, 4)
    lengths = [40.0, 42.0, 42.0, 42.0]
    rng.shuffle(lengths)
    lengths.insert(sign_at, SIGN_S)
    video = folder / f"video{k:02d}.mp4"
    if not video.exists():
        imgs = stills_for(sample_images())
        scenes = [(with_sign(imgs[n], [word], at=(0.15, 0.3), height=0.16) if i == sign_at else imgs[n], s)
                  for i, (n, s) in enumerate(zip(names, lengths))]
        said = [FILLERS[(k + j) % len(FILLERS)] for j in range(2)]
        said.insert(rng.randrange(3), sentence)
        times = [8.0 + 58.0 * j + rng.uniform(0, 20) for j in range(3)]
        build_long_video(video, scenes, list(zip(times, said)), fps=1, size=(480, 320))
    others = [w for w in SIGNS if w != word]
    rng2 = random.Random(2000 + k)
    sign_opts, sign_ans = _options(word, rng2.sample(others, 4), rng2)
    speech_opts, speech_ans = _options(right, wrong, rng2)
    return [{"id": f"v{k:02d}_speech", "video": str(video), "question": question, "options": speech_opts,
             "answer": speech_ans, "kind": "speech"},
            {"id": f"v{k:02d}_text", "video": str(video), "question": SIGN_QUESTION, "options": sign_opts,
             "answer": sign_ans, "kind": "text"}]


def pipeline(name: str, summary: bool):
    """The shipped pipeline with this benchmark's settings (see the module docstring)."""
    from socratic import Pipeline

    p = Pipeline.from_yaml(REPO / "pipelines" / PIPELINES[name]).expanded()
    if name == "llovi":
        p.nodes["captions"].params["max_new_tokens"] = CAPTION_TOKENS
    if name == "videotree":
        p.nodes["tree"].params.update(caption_tokens=CAPTION_TOKENS, relevance="score")
    return p, ({"summary": summary} if name == "llovi" else {})


class CaptionCounter:
    """Frames the (random) captioner really captions: its `caption` wrapped on the pooled model instance."""

    def __init__(self):
        from socratic.models.loader import ModelSpec, load_model

        self.model = load_model(ModelSpec("captioner", "captioner", "transformers", {"random_init": True}))
        self.frames, self.seen, inner = 0, Counter(), self.model.caption

        def counted(items, prompt=None, **kw):
            self.frames += len(items)
            self.seen.update(f.digest() for f in items)
            return inner(items, prompt, **kw)

        self.model.caption = counted

    def recaptioned(self) -> int:
        """Captioner runs on a frame it had captioned before (the same pixels), since the last call."""
        n = sum(c - 1 for c in self.seen.values())
        self.seen.clear()
        return n


def run(p, items: list[dict], out: Path, cache: Path, **kw) -> float:
    t = time.perf_counter()
    p.run_dataset(items, out, profile="offline", random_vlm=True, random_captioner=True, cache_dir=cache,
                  restart=True, **kw)
    return time.perf_counter() - t


def second_question(name: str, items: list[dict], summary: bool, base: Path, work: Path,
                    counter: CaptionCounter) -> str:
    """A video's two questions run one after the other (one item per run, a fresh copy of the shared cache):
    seconds and frames captioned for the first, then for the second on the now captioned video."""
    p, extra = pipeline(name, summary)
    cache = work / f"cache-second-{name}"
    shutil.copytree(base, cache, dirs_exist_ok=True)
    parts = []
    for k, it in enumerate(items):
        before = counter.frames
        seconds = run(p, [{**it, **extra}], work / f"second-{name}-{k}.jsonl", cache)
        parts.append(f"{seconds:.1f} s, {counter.frames - before} frames captioned")
    counter.recaptioned()
    return f"{name}: question 1 {parts[0]}; question 2 on the same video {parts[1]}"


def read(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, out.read_text().splitlines()) if r.get("id") is not None}


def captioner_cost(folder: Path, n: int) -> None:
    """Seconds a frame for the captioner the pipelines name, in its real architecture with random weights."""
    from socratic import Pipeline
    from socratic.media.video import sample_frames
    from socratic.models.loader import ModelSpec, load_model
    from socratic.models.profiles import resolve_models

    named = Pipeline.from_yaml(REPO / "pipelines" / PIPELINES["llovi"]).expanded().models["captioner"]
    spec = resolve_models({"captioner": ModelSpec.from_dict("captioner", named)}, random_captioner="arch")
    t = time.perf_counter()
    cap = load_model(spec["captioner"])
    built = time.perf_counter() - t
    frames, _ = sample_frames(build_video(0, folder)[0]["video"], stride_s=SECONDS / n, max_frames=n)
    cap.caption(frames[:1], max_new_tokens=1)  # warm-up
    t = time.perf_counter()
    cap.caption(frames, max_new_tokens=CAPTION_TOKENS)
    per = (time.perf_counter() - t) / len(frames)
    tiles = cap._inputs([[frames[0]]], cap.default_prompt)["pixel_values"].shape[1]
    print(f"captioner {named.get('id')} in its real architecture with random weights ({cap.model_id}): built in "
          f"{built:.0f} s; {per:.1f} s a frame ({len(frames)} frames of {frames[0].size[0]}x{frames[0].size[1]}, "
          f"{tiles} tiles of 512 px each, {CAPTION_TOKENS}-token captions, batch {cap.batch_size})")
    print(f"an hour of video at this cost: LLoVi's 1 s clips (3600 frames) {per:.1f} h of captioning; VideoTree "
          f"{per:.1f} s for each frame it captions (frames per question: the accuracy run)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--questions", type=int, choices=(1, 2), default=2, help="per video: speech (+ sign)")
    ap.add_argument("--summary", action="store_true", help="LLoVi with its question-aware summary (slow here)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/socratic/bench/long_video_qa",
                    help="the videos are built here once")
    ap.add_argument("--work", type=Path, help="node caches and outputs (default: a fresh folder in --cache)")
    ap.add_argument("--captioner-cost", action="store_true", help="only the real-architecture captioner's cost")
    ap.add_argument("--frames", type=int, default=4, help="frames --captioner-cost captions")
    a = ap.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    if a.captioner_cost:
        captioner_cost(a.cache, a.frames)
        return
    work = a.work or a.cache / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    items = [q for k in range(a.videos) for q in build_video(k, a.cache)[:a.questions]]
    print(f"{a.videos} videos of {SECONDS / 60:g} min, {len(items)} questions ({time.perf_counter() - t:.0f} s to "
          f"build or find them in {a.cache})", flush=True)
    print("note: CLIP and the captioner are RANDOM stand-ins; every visual part is meaningless, answers come from "
          "speech (Whisper base) and scene text (rapidocr)", flush=True)
    print(f"settings: captions of {CAPTION_TOKENS} tokens; LLoVi summary {'on' if a.summary else 'off'}; VideoTree "
          f"relevance by likelihood; scene threshold {SCENE_THRESHOLD} (random CLIP)", flush=True)
    for it in items:
        it["scene_threshold"] = SCENE_THRESHOLD  # smlog's log; the others' scene-text key frames below
        it["heard_seen/scene_threshold"] = SCENE_THRESHOLD

    from socratic import Pipeline

    base = work / "cache-shared"
    shared = Pipeline.from_yaml(REPO / "pipelines" / "speech_and_scene_text.yaml")
    videos = [{"id": Path(v).stem, "video": v, "scene_threshold": SCENE_THRESHOLD}
              for v in dict.fromkeys(it["video"] for it in items)]
    shared_s = run(shared, videos, work / "shared.jsonl", base)
    print(f"speech + scene text (shared by the three): {shared_s / len(videos):.1f} s per video", flush=True)

    counter = CaptionCounter()
    from socratic.models.loader import ModelSpec, load_model
    from socratic.models.profiles import OFFLINE_PROFILE

    lm = dict(OFFLINE_PROFILE["lm"])  # loaded before the clocks start, like the captioner and the shared models
    load_model(ModelSpec("lm", "lm", lm.pop("backend"), lm))
    rows, total_invalid = {}, 0
    for name in PIPELINES:
        p, extra = pipeline(name, a.summary)
        cache = work / f"cache-{name}"
        shutil.copytree(base, cache, dirs_exist_ok=True)
        before, _ = counter.frames, counter.recaptioned()
        seconds = run(p, [{**it, **extra} for it in items], work / f"{name}.jsonl", cache)
        again = counter.recaptioned()
        got = read(work / f"{name}.jsonl")
        correct, invalid, captions, captioned = {"speech": [], "text": []}, 0, [], []
        for it in items:
            rec = got.get(it["id"], {})
            outs = rec.get("outputs") or {}
            choice = outs.get("choice")
            if "error" in rec or choice is None:
                invalid += 1
                print(f"  {name} {it['id']}: invalid ({rec.get('error', 'choice null')})", flush=True)
            correct[it["kind"]].append(choice == it["answer"])
            if name == "smlog":
                captions.append(len(outs.get("log") or []))
            else:
                captions.append(outs.get("captions") or 0)
                captioned.append(outs.get("captioned", outs.get("captions") or 0))
        total_invalid += invalid
        every = correct["speech"] + correct["text"]
        rows[name] = {"acc": sum(every) / len(every), "speech": correct["speech"], "text": correct["text"],
                      "captions": sum(captions) / len(captions), "invalid": invalid,
                      "captioned": sum(captioned) / len(captioned) if captioned else None,
                      "computed": (counter.frames - before) / len(videos), "s_per_q": seconds / len(items),
                      "again": again}
        r = rows[name]
        acc_part = ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in correct.items() if v)
        print(f"{name:<9} accuracy {r['acc']:.3f} ({acc_part}); {r['captions']:.1f} captions in the LM's context "
              f"per question" + (f" ({r['captioned']:.1f} frames captioned per question)" if captioned else "")
              + (f"; captioner ran on {r['computed']:.1f} frames per video for {sum(captioned) / len(videos):.1f} "
                 f"captions its questions needed, {again} frames captioned twice" if captioned else "")
              + f"; {r['s_per_q']:.1f} s per question; invalid {invalid}", flush=True)
    if a.questions == 2:
        print("captions once per video (video 0, its two questions run one after the other):", flush=True)
        for name in ("llovi", "videotree"):
            print("  " + second_question(name, items[:2], a.summary, base, work, counter), flush=True)
    ratio = rows["videotree"]["captions"] / max(rows["llovi"]["captions"], 1e-9)
    print("smlog's 'captions' are its log entries (one per key frame: CLIP labels, an LM activity, text, speech)")
    print(f"acc_llovi={rows['llovi']['acc']:.3f} acc_videotree={rows['videotree']['acc']:.3f} "
          f"acc_smlog={rows['smlog']['acc']:.3f} captions_videotree_over_llovi={ratio:.3f} invalid={total_invalid}")


if __name__ == "__main__":
    main()
