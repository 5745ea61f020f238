"""Summaries and answers that keep what was said (issue 21): the rules on their own, then a 4-minute ffmpeg-built video
with eight espeak-ng facts at known times through the real Whisper base, packaged SmolLM2 and all-MiniLM-L6-v2
(CLIP is the random stand-in: the visual labels are noise, which is what the activity filter has to face)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from socratic.eval.faithfulness import Fact, last_line, load_facts, mentions, score
from socratic.nodes.lm_budget import FAITHFUL_WINDOW, faithful_window, parameters_in, window_for_size
from socratic.socratic_models.egocentric import UNKNOWN_ACTIVITY, scene_phrases
from socratic.socratic_models.language import in_language
from socratic.socratic_models.log_qa import answer_from_evidence, is_grounded
from socratic.socratic_models.quotes import entry_quotes, speech_pieces
from socratic.socratic_models.wording import clean_reply, content_words, covers, supported
from support.inproc_cli import socratic_cli
from support.long_videos import SCENE_THRESHOLD, build

REPO = Path(__file__).resolve().parents[1]
NO_EVIDENCE = "No evidence found in the video."

# -- the rules ---------------------------------------------------------------------------------------------------


def test_content_words_match_across_inflections():
    assert content_words("I am tuning the old violins.") == ["tun", "old", "violin"]
    assert content_words("She tuned a violin") == ["tun", "violin"]
    fact = "I put my keys in the blue bowl by the front door."  # put, key, blue, bowl, front, door
    assert covers(content_words("I put the keys in a blue bowl."), fact)  # 4 of 6
    assert covers(content_words("My keys went into the bowl by the door."), fact)  # 3 of 6: half
    assert not covers(content_words("My keys went into a bowl."), fact)  # 2 of 6
    assert covers(content_words("Friday: my sister."), "My sister will arrive on Friday.")  # 2 of 3
    assert not covers(content_words("I read a letter."), "I am reading a book about volcanoes.")  # 1 of 3
    assert not covers(content_words("anything"), "Okay.")  # a sentence without content words is no fact
    assert supported("I tuned the violin.", content_words("tuning the old violin"))
    assert not supported("I wrote a poem.", content_words("I am writing a letter"))  # 1 of 2: under 60%


@pytest.mark.parametrize("reply, cleaned", [
    ("A: A: In the blue bowl.", "In the blue bowl."),
    ("Answer: the old violin", "the old violin"),
    ("You're a helpful AI named SmolLM, trained to provide answers in one short sentence. The violin.",
     "The violin."),
    ("I am an AI assistant and cannot see videos. In the bowl.", "In the bowl."),
    ("Q: Where did I put my keys? A: In the blue bowl.", "In the blue bowl."),
    ("Answer in a few words. I put my keys. By the door.", "By the door."),  # instruction and question echoes
    ("In the bowl. In the bowl. The bowl is blue.", "In the bowl. The bowl is blue."),  # a repeat goes
    ('"In the blue bowl."', "In the blue bowl."),
    ('I: "In the blue bowl."', "In the blue bowl."),  # a speaker label, then one quoted answer
    ('I said: "In the bowl" I said: "In the bowl" Next', 'I said: "In the bowl" Next'),  # quotes without stops
    ("A:", ""),
])
def test_clean_reply_rule_on_crafted_outputs(reply, cleaned):
    echo = set(content_words("Answer in a few words, taken from what I said.")) | \
        set(content_words("Where did I put my keys?"))
    assert clean_reply(reply, echo)[0] == cleaned


def test_grounded_means_new_words_all_found_in_the_evidence():
    q, instr = "What instrument was I tuning?", "Answer in a few words."
    said = 'At 00:50 I said: "I am tuning the old violin before the concert."'
    assert is_grounded("The old violin.", q, instr, said)
    assert is_grounded("At 00:50, the violin.", q, instr, said)  # the quoted time is evidence too
    assert not is_grounded("I was tuning an instrument.", q, instr, said)  # only the question's words
    assert not is_grounded("The violin of Antonio de Monti.", q, instr, said)  # one word not in the evidence
    assert not is_grounded("", q, instr, said)


def test_no_evidence_and_no_matching_sentence_gets_the_fixed_answer_without_the_lm():
    weak = [{"t": 0.0, "last": 9.0, "by": "speech", "text": "I am baking bread.", "score": 0.12}]
    out = answer_from_evidence("What did the doctor say about my knee?", [], weak, lm=None, template="{question}",
                               ctx=None)
    assert out["answer"] == NO_EVIDENCE and out["grounded"] is False and out["said"] is None and out["note"]


def test_window_size_follows_the_model_size_and_can_be_overridden():
    assert parameters_in("smollm2-135m-instruct") == 135e6
    assert parameters_in("Qwen/Qwen2.5-7B-Instruct") == 7e9
    assert parameters_in("HuggingFaceTB/SmolLM2-1.7B-Instruct") == 1.7e9
    assert parameters_in("gpt-4o-mini") is None
    small, mid, big = (window_for_size(n) for n in (135e6, 1.7e9, 7e9))
    assert small == FAITHFUL_WINDOW[0][1] and small < mid < big
    assert window_for_size(70e9) is None and window_for_size(None) is None  # the context is the only limit
    lm = SimpleNamespace(model_id="smollm2-135m-instruct")
    assert faithful_window(lm) == small and faithful_window(lm, 600) == 600


def test_quotes_of_an_entry_are_its_sentences_and_facts():
    entry = {"t": 60.0, "last": 118.0, "heard": "Okay. I put my keys in the bowl. It is late", "text": "EXIT"}
    quotes = entry_quotes(entry)
    assert [(q["by"], q["text"], q["fact"]) for q in quotes] == [
        ("speech", "Okay.", False), ("speech", "I put my keys in the bowl.", True), ("speech", "It is late", False),
        ("text", "EXIT", True)]


def test_speech_is_cut_where_transcript_segments_meet():
    heard = "My sister will arrive on Friday I am baking bread."
    segments = [{"start": 2.0, "end": 4.0, "text": " I am baking bread."},
                {"start": 0.0, "end": 2.0, "text": "My sister will arrive on Friday"}]
    assert speech_pieces(heard, segments) == ["My sister will arrive on Friday", "I am baking bread."]
    assert speech_pieces(heard, segments[:1]) == [heard]  # the segments do not make up what was heard
    facts = [q["text"] for q in entry_quotes({"t": 0.0, "heard": heard}, segments)]
    assert facts == ["My sister will arrive on Friday", "I am baking bread."]


def test_activity_proposals_off_language_or_off_scene_are_dropped_and_counted():
    texts = ["Mara est en demantage le cérédit en lepiota", "making coffee in the kitchen", "Bitch",
             "Estoy cocinando la cena", "flying a kite", "pouring tea from the kettle", "making coffee."]
    out = scene_phrases(texts, ["kitchen"], ["kettle", "coffee mug, mug"], "Time for a cup of tea.")
    assert out["phrases"] == ["making coffee in the kitchen", "pouring tea from the kettle", "making coffee"]
    assert out["dropped"] == {"language": 2, "form": 0, "off_scene": 2}  # French, Spanish; "Bitch", the kite
    shaped = scene_phrases(texts + ["You are in a kitchen"], ["kitchen"], ["kettle"], "", form=r"^[a-z]+ing\b")
    assert shaped["phrases"] == ["making coffee in the kitchen", "pouring tea from the kettle"]
    assert shaped["dropped"] == {"language": 2, "form": 2, "off_scene": 2}  # "Bitch" and "You are …" lack the form
    none = scene_phrases(["Je mange une pomme", "flying a kite"], "kitchen", ["kettle"], "")
    assert none == {"phrases": [UNKNOWN_ACTIVITY], "dropped": {"language": 1, "form": 0, "off_scene": 1}}
    assert scene_phrases(["flying a kite"], "kitchen", ["kettle"], "", on_scene=False)["phrases"] == ["flying a kite"]
    assert in_language("Je mange une pomme", "fr") and not in_language("Je mange une pomme", "en")


def test_faithfulness_scores():
    facts = [Fact(10.0, "I am tuning the violin.", ("violin",), "What was I tuning?"),
             Fact(70.0, "It costs forty dollars.", ("forty|40",), "How much?")]
    windows = [{"level": 1, "start": 0.0, "end": 58.0, "summary": "I tuned my violin."},
               {"level": 1, "start": 60.0, "end": 120.0, "summary": "I paid for a lamp."},
               {"level": 2, "start": 0.0, "end": 120.0, "summary": "violin, 40 dollars"}]
    answers = [{"answer": "the violin", "grounded": True, "evidence": [{"line": 'heard: "the violin"'}]},
               {"answer": "$40", "grounded": False, "evidence": []}]
    s = score(facts, "I tuned the violins and paid 40 dollars.", windows, answers)
    assert (s["summary_recall"], s["window_recall"], s["answer_acc"], s["evidence_recall"], s["grounded"]) == \
        (1.0, 0.5, 1.0, 0.5, 0.5)
    assert mentions("Tomatoes!", ["tomato"]) and not mentions("automatons", ["tomato"])


def test_facts_file_and_its_bad_lines(tmp_path):
    good = tmp_path / "facts.jsonl"
    good.write_text('{"t": 8, "sentence": "I am baking bread.", "keywords": ["bread"], "question": "What?"}\n\n')
    assert load_facts(good) == [Fact(8.0, "I am baking bread.", ("bread",), "What?")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"t": 9, "sentence": "x", "keywords": "bread", "question": "q"}\n')
    r = socratic_cli("eval", "faithfulness", "--video", good, "--facts", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and f"{bad}:3" in r.stderr and "keywords" in r.stderr


# -- a narrated video, end to end --------------------------------------------------------------------------------

SCENES = [("coffee", 60.0), ("rocket", 60.0), ("chelsea", 60.0), ("astronaut", 60.0)]
FACTS = [Fact(8.0, "My keys are in the pocket of my coat.", ("pocket",), "Where are my keys?"),
         Fact(35.0, "I am tuning the old violin before the concert.", ("violin",), "What instrument was I tuning?"),
         Fact(68.0, "The passport is in my red suitcase.", ("suitcase",), "Where is the passport?"),
         Fact(95.0, "I am watering the tomatoes in the garden.", ("tomato",), "What was I watering?"),
         Fact(128.0, "My sister will arrive on Friday.", ("friday",), "When will my sister arrive?"),
         Fact(155.0, "I am baking bread for dinner tonight.", ("bread",), "What was I baking?"),
         Fact(188.0, "I left my umbrella on the train.", ("train",), "Where did I leave my umbrella?"),
         Fact(215.0, "I am writing a letter to my grandmother.", ("grandmother",), "Who was I writing a letter to?")]
NEVER_SAID = "What did the doctor say about my knee?"
RUN = {"profile": "offline", "random_vlm": True}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One video, one summary run and nine questions, sharing one node cache (the log is computed once)."""
    from socratic import Pipeline

    root = tmp_path_factory.mktemp("faithful")
    video = build(root / "facts.mp4", SCENES, [(f.t, f.sentence) for f in FACTS])
    inputs = {"video": str(video.path), "scene_threshold": SCENE_THRESHOLD}
    opts = {**RUN, "cache_dir": root / "cache"}
    summary = Pipeline.from_yaml(REPO / "pipelines/egocentric_summary.yaml").run(inputs, **opts)
    qa = Pipeline.from_yaml(REPO / "pipelines/video_qa.yaml")
    answers = [qa.run({**inputs, "question": f.question}, **opts) for f in FACTS]
    never = qa.run({**inputs, "question": NEVER_SAID}, **opts)
    scores = score(FACTS, summary["summary"], summary["summaries"], [a.outputs for a in answers])
    return SimpleNamespace(summary=summary, answers=answers, never=never, scores=scores, video=video.path,
                           cache=root / "cache")


@pytest.mark.slow
def test_summaries_keep_the_facts_with_their_times(ran):
    out = ran.summary
    # measured: window and summary recall 1.0; the LM alone kept 5 of 8 facts in its window summaries and 1 in the
    # top one (the rest added back by rule); the margins allow a miss or two
    assert ran.scores["window_recall"] >= 0.85, ran.scores["rows"]
    assert ran.scores["summary_recall"] >= 0.75, out["summary"]
    level1 = [w for w in out["summaries"] if w["level"] == 1]
    assert len(level1) >= 2  # the 135M model's windows are small: the summary is hierarchical
    assert level1[0]["start"] == out["log"][0]["t"] and level1[-1]["end"] == out["log"][-1]["last"]
    for w in level1:
        assert w["summary"].startswith(w["lm"]) and w["kept"] + w["added"] == w["facts"]
        assert w["flagged"] == (w["facts"] > 0 and w["kept"] == 0)
    check = out["check"]
    assert check["window_lm_kept"] >= 0.4 * check["facts"]  # the LM's own words carry many facts
    for f in out["facts"]:  # each fact sits in the window whose time range holds it
        assert f["start"] <= f["t"] <= f["end"]


@pytest.mark.slow
def test_answers_are_right_grounded_or_the_evidence_sentence(ran):
    # measured: answer_acc 1.0, evidence_recall 1.0, grounded 0.38 (the other answers are the evidence sentence)
    assert ran.scores["answer_acc"] >= 0.85, ran.scores["rows"]
    assert ran.scores["evidence_recall"] >= 0.85
    for a in ran.answers:
        if a["grounded"]:
            assert a["note"] == "" and a["answer"].strip()
        else:  # the best-matching sentence, with a note saying why
            assert a["answer"] == a["said"]["text"] and "not grounded" in a["note"]
        assert not a["answer"].startswith(("A:", "Answer:")) and "helpful AI" not in a["answer"]


@pytest.mark.slow
def test_a_question_about_something_never_said_gets_no_evidence(ran):
    assert ran.never["answer"] == NO_EVIDENCE
    assert ran.never["grounded"] is False


@pytest.mark.slow
def test_activity_proposals_are_filtered_and_counted_in_the_trace(ran):
    rec = next(r for r in ran.summary.trace.records if r.node == "world/activity_phrases")
    assert len(rec.outputs["dropped"]) == len(ran.summary["log"])
    for phrases, dropped, entry in zip(rec.outputs["phrases"], rec.outputs["dropped"], ran.summary["log"]):
        if phrases == [UNKNOWN_ACTIVITY]:
            assert entry["activity"] == UNKNOWN_ACTIVITY
        for p in phrases:
            assert p == UNKNOWN_ACTIVITY or in_language(p, "en")
    assert sum(d["language"] + d["off_scene"] for d in rec.outputs["dropped"]) > 0


@pytest.mark.slow
def test_eval_faithfulness_command_scores_the_same_runs(ran, tmp_path):
    facts = tmp_path / "facts.jsonl"
    facts.write_text("".join(json.dumps({"t": f.t, "sentence": f.sentence, "keywords": list(f.keywords),
                                         "question": f.question}) + "\n" for f in FACTS))
    out = tmp_path / "scores.json"
    r = socratic_cli("eval", "faithfulness", "--video", ran.video, "--facts", facts, "--scene-threshold",
                     SCENE_THRESHOLD, "--profile", "offline", "--random-vlm", "--out", out,
                     env={"SOCRATIC_NODE_CACHE": str(ran.cache)})  # the fixture's cache: the same runs
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == last_line(ran.scores)
    assert json.loads(out.read_text())["scores"]["rows"] == json.loads(json.dumps(ran.scores["rows"]))
