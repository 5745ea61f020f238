"""Every documented route works as written (issue 22): typed --input values, validation that checks files and
vocabularies with file:line, one rule for relative paths, `socratic nodes NAME`, the Python API's inputs apart from
run options, the compact transcript naming the wire an input came by, log time ranges, CLI help, progress lines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socratic import Pipeline, SocraticError, ValidationError
from socratic.cli import app

import test_engine  # noqa: F401  (registers the t_* node types)

REPO = Path(__file__).resolve().parents[1]


def cli(*args, env=None):
    r = CliRunner().invoke(app, [str(a) for a in args], env=env)
    return r.exit_code, r.output


# -- 1: typed --input values ----------------------------------------------------------------------------

TYPED = """\
inputs:
  tags: {type: texts}
  n: {type: integer, default: 1}
  scale: {type: number, default: 1.0}
  loud: {type: bool, default: false}
  extra: {type: json, default: {}}
nodes:
  joined: {type: join, params: {sep: "+"}, inputs: {items: inputs.tags}}
  say:
    type: prompt
    params: {template: "{tags} n={n} scale={scale} loud={loud} extra={extra}"}
    inputs: {tags: joined.text, n: inputs.n, scale: inputs.scale, loud: inputs.loud, extra: inputs.extra}
outputs:
  text: say.text
"""


@pytest.fixture
def typed(tmp_path):
    f = tmp_path / "typed.yaml"
    f.write_text(TYPED)
    return f


def test_list_number_bool_and_json_inputs_from_the_command_line(typed, tmp_path):
    code, out = cli("run", typed, "--input", 'tags=["a","b","c"]', "-i", "n=3", "-i", "scale=0.5", "-i", "loud=true",
                    "-i", 'extra={"k": [1, 2]}', "--no-progress")
    assert code == 0, out
    assert json.loads(out)["outputs"]["text"] == "a+b+c n=3 scale=0.5 loud=True extra={'k': [1, 2]}"
    long = tmp_path / "tags.json"
    long.write_text(json.dumps([f"tag{i}" for i in range(50)]))
    code, out = cli("run", typed, "--input", f"tags=@{long}", "--no-progress")
    assert code == 0, out
    assert json.loads(out)["outputs"]["text"].startswith("tag0+tag1+") and "tag49 n=1" in out


@pytest.mark.parametrize("arg,needle", [
    ("tags=a,b", "field 'inputs.tags': expected texts as JSON"),
    ('tags=["a", 2]', "field 'inputs.tags': expected texts, got an element that is a number (2)"),
    ('tags="a"', "field 'inputs.tags': expected texts, got text 'a'"),
    ("n=three", "field 'inputs.n': expected an integer, got 'three'"),
    ("n=2.5", "field 'inputs.n': expected an integer, got '2.5'"),
    ("loud=maybe", "field 'inputs.loud': expected true or false, got 'maybe'"),
    ("extra={oops", "field 'inputs.extra': expected JSON"),
    ("tags=@/no/such/file.json", "field '--input tags': cannot read /no/such/file.json"),
])
def test_a_value_that_does_not_fit_its_input_is_one_line(typed, arg, needle):
    code, out = cli("run", typed, "--input", 'tags=["x"]', "--input", arg, "--no-progress")
    assert code == 2 and needle in out and len(out.strip().splitlines()) == 1, out


def test_python_api_gets_the_same_type_checks():
    p = Pipeline.from_yaml(TYPED)
    assert p.run(tags=["a", "b"], n="2")["text"].startswith("a+b n=2 ")  # text for a number: parsed
    with pytest.raises(SocraticError, match="field 'inputs.tags': expected texts"):
        p.run(tags="ab")  # once split into characters, silently


# -- 3: validation checks files, memories and vocabularies, relative to the YAML file ----------------------

def _problems(path: Path) -> str:
    with pytest.raises(ValidationError) as e:
        Pipeline.from_yaml(path).validate()
    return str(e.value)


def test_unknown_vocabulary_and_missing_memory_fail_validation_with_file_and_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("models:\n  clip: {family: vlm, backend: open_clip, name: ViT-B-32, pretrained: openai}\n"
                 "  lm: {family: lm, backend: transformers, id: x/y}\n"
                 "inputs: {image: image, question: text}\n"
                 "nodes:\n"
                 "  places: {type: clip_classify, params: {vlm: clip, vocab: objectz}, inputs: {image: inputs.image}}\n"
                 "  select:\n"
                 "    type: pica_select\n"
                 "    params: {vlm: clip, memory: no_memory.jsonl}\n"
                 "    inputs: {question: inputs.question, image: inputs.image}\n"
                 "outputs: {p: places.labels, s: select.examples}\n")
    text = _problems(f)
    assert f"{f}:6: node 'places': field 'vocab': unknown vocabulary 'objectz'" in text and "places365" in text
    assert f"{f}:9: node 'select': field 'memory': file not found: no_memory.jsonl (relative to {tmp_path})" in text


def test_relative_paths_resolve_against_the_yaml_file_not_the_working_dir(tmp_path, monkeypatch):
    sub = tmp_path / "project"
    sub.mkdir()
    (sub / "labels.txt").write_text("kettle\nmug\n")
    (sub / "train.jsonl").write_text("".join(json.dumps({"question_id": i}) + "\n" for i in range(4)))
    (sub / "ask.txt").write_text("Say {x}")
    f = sub / "p.yaml"
    f.write_text("models:\n  clip: {family: vlm, backend: open_clip, name: ViT-B-32, pretrained: openai}\n"
                 "inputs: {image: image, question: text}\n"
                 "nodes:\n"
                 "  objs: {type: clip_classify, params: {vlm: clip, vocab: labels.txt},\n"
                 "         inputs: {image: inputs.image}}\n"
                 "  select:\n"
                 "    type: pica_select\n"
                 "    params: {vlm: clip, memory: train.jsonl, n_shot: 2, n_ensemble: 2}\n"
                 "    inputs: {question: inputs.question, image: inputs.image}\n"
                 "  say: {type: prompt, params: {template: {file: ask.txt}}, inputs: {x: inputs.question}}\n"
                 "outputs: {o: objs.labels, s: select.examples, t: say.text}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = Pipeline.from_yaml(f).validate()
    assert plan.params["objs"]["vocab"] == str(sub / "labels.txt")
    assert plan.params["select"]["memory"] == str(sub / "train.jsonl")
    assert plan.params["say"]["template"] == "Say {x}"
    # a file only in the working dir is not the pipeline's file
    (elsewhere / "only_here.jsonl").write_text("{}\n")
    f.write_text(f.read_text().replace("memory: train.jsonl", "memory: only_here.jsonl"))
    assert "file not found: only_here.jsonl" in _problems(f)
    # too small a memory for n·m ranked examples is known before any model loads
    f.write_text(f.read_text().replace("memory: only_here.jsonl", "memory: train.jsonl").replace("n_shot: 2",
                                                                                               "n_shot: 3"))
    assert "holds 4 examples, fewer than n_shot·n_ensemble = 3·2 = 6" in _problems(f)


def test_shipped_pica_pipeline_says_its_memory_is_missing():
    # the one shipped pipeline naming a data file: validation says it is missing instead of a run failing later
    text = _problems(REPO / "pipelines" / "pica_okvqa.yaml")
    assert "field 'memory': file not found: data/okvqa/pica_train.jsonl" in text and len(text.splitlines()) == 1
    code, out = cli("graph", REPO / "pipelines" / "pica_okvqa.yaml")  # the DAG needs no data file
    assert code == 0 and "select" in out


# -- 4 and 5: the video Q&A example as the README shows it --------------------------------------------

from support.media_videos import narrated_video  # noqa: E402,F401


@pytest.mark.slow
def test_video_qa_example_keeps_scenes_apart_and_says_clip_is_random(narrated_video, tmp_path):
    import subprocess

    r = subprocess.run([sys.executable, "examples/video_qa.py", str(narrated_video.path), "What is taking off?",
                        "--offline", "--show-log"], capture_output=True, text=True, cwd=REPO, timeout=900,
                       env={**os.environ, "SOCRATIC_NODE_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "warning: vlm" in r.stderr and "RANDOM weights" in r.stderr  # the stand-in says so
    log = r.stdout.split("World-state log:\n")[1].split("\n\n")[0].splitlines()
    assert len(log) == 3, log  # coffee, cat, rocket: three scenes, not one merged entry
    assert "rocket" in log[2].lower() and "coffee" in log[0].lower()
    evidence = r.stdout.split("A: ")[1].splitlines()[1:]
    assert any("by speech" in e and "rocket" in e.lower() for e in evidence), r.stdout


# -- 6: socratic nodes NAME ----------------------------------------------------------------------------

def test_nodes_name_prints_ports_params_models_and_the_whole_docstring():
    from socratic.registry import get_node_type

    code, out = cli("nodes", "lm_generate")
    assert code == 0, out
    assert out.startswith("lm_generate(prompt: text) -> texts: texts, text: text")
    assert "  lm: lm model" in out and "  max_new_tokens: integer = 64" in out and "  stop: texts | null = None" in out
    assert get_node_type("lm_generate").doc in out  # every paragraph of it
    code, out = cli("nodes", "pica_select")
    assert "  memory: path (relative to the YAML file) (required)" in out and "  n_shot: integer = 16" in out
    code, out = cli("nodes", "lm_genrate")
    assert code == 2 and "unknown node type 'lm_genrate' (did you mean 'lm_generate'?)" in out
    code, out = cli("nodes", "pipeline")
    assert code == 0 and "file: path" in out


def test_nodes_listing_shows_whole_first_sentences():
    code, out = cli("nodes")
    assert code == 0
    described = [ln.strip() for ln in out.splitlines() if ln.startswith("    ")]
    assert described and all(d.endswith((".", ")", "…", "...")) for d in described), described
    assert "at a time; consecutive frames whose embeddings" in out  # video_keyframes: was cut after "at"


# -- 7: Python API ---------------------------------------------------------------------------------------

def test_add_model_takes_a_name_option_and_inputs_named_like_run_options():
    p = Pipeline("api").add_model("clip", "vlm", "open_clip", name="ViT-B-32", pretrained="openai")
    assert p.models["clip"] == {"family": "vlm", "backend": "open_clip", "name": "ViT-B-32", "pretrained": "openai"}
    p = Pipeline("seeded").add_input("seed", "text").add_input("text", "text")
    p.add_node("say", "prompt", params={"template": "{seed}/{text}"}, inputs={"seed": "inputs.seed",
                                                                               "text": "inputs.text"})
    p.add_output("out", "say.text")
    assert p.run({"seed": "sunflower"}, text="x", seed=7)["out"] == "sunflower/x"  # `seed=` stays the option
    with pytest.raises(SocraticError, match="given twice"):
        p.run({"text": "a", "seed": "s"}, text="b")


# -- 8: the compact transcript -------------------------------------------------------------------------

def test_transcript_names_the_wire_an_input_came_by_and_shows_numbers():
    p = Pipeline.from_yaml("""\
inputs: {names: texts}
nodes:
  many:
    type: prompt
    map: [who]
    params: {template: "A long sentence about {who}, long enough to be named rather than repeated."}
    inputs: {who: inputs.names}
  best: {type: pick, params: {index: 1}, inputs: {items: many.text}}
  q: {type: prompt, params: {template: "Q: {c}"}, inputs: {c: best.item}}
  count: {type: t_len_batched, inputs: {word: q.text}}
outputs: {q: q.text, n: count.n}
""")
    res = p.run(names=["ada", "alan"])
    text = res.trace.transcript_text()
    q_record = next(r for r in res.trace.records if r.node == "q")
    assert q_record.sources == {"c": "best.item"}
    assert "← c: = best.item" in text and "many.text[1]" not in text.split("── q [prompt]")[1]
    assert "── count [t_len_batched]" in text and f"→ n: {res['n']}" in text


# -- 10: log time ranges and speech by overlap --------------------------------------------------------

def test_speech_goes_to_the_entry_it_overlaps_most_and_entries_span_to_the_next():
    from socratic.socratic_models.egocentric import attach_speech, world_state_log

    starts, ends = [0.0, 12.0, 20.0], [12.0, 20.0, 26.0]  # video_keyframes' ends: the next entry's start
    segs = [{"start": 8.5, "end": 11.6, "text": "an astronaut waves."},
            {"start": 10.5, "end": 14.2, "text": "Now I am watching a rocket launch on television."}]
    heard = attach_speech(starts, segs, ends)
    assert heard == ["an astronaut waves.", "Now I am watching a rocket launch on television.", ""]
    assert attach_speech(starts, segs) == heard  # without ends: each entry runs to the next one's start
    log = world_state_log(starts, ["a", "b", "c"], [["x"]] * 3, ["w"] * 3, heard=heard, ends=ends)
    assert [ln.split(" place")[0] for ln in log["lines"].splitlines()] == ["[00:00–00:12]", "[00:12–00:20]",
                                                                           "[00:20–00:26]"]


def test_keyframe_ends_reach_the_next_key_frame():
    import numpy as np

    from socratic.context import Context
    from socratic.models.loader import ModelSpec, load_model
    from socratic.models.vlm_open_clip import STAND_IN_CONFIG
    from socratic.media.sample import build_sample_video, sample_images
    from socratic.nodes.video import video_keyframes

    import tempfile

    imgs = sample_images()
    with tempfile.TemporaryDirectory() as d:
        video = build_sample_video(Path(d) / "v.mp4", [(imgs["coffee"], None, 5.0), (imgs["rocket"], None, 5.0)],
                                   fps=5, size=(96, 64), audio=False)
        vlm = load_model(ModelSpec("clip", "vlm", "open_clip", {"config": STAND_IN_CONFIG, "random_init": True}))
        out = video_keyframes(str(video), 0.99, vlm=vlm, ctx=Context())
    t, ends = out["timestamps"], out["ends"]
    assert len(t) >= 2 and ends[:-1] == t[1:] and np.isclose(ends[-1], out["coverage"]["duration"])


# -- 11: CLI help ----------------------------------------------------------------------------------------

def test_help_version_and_short_help(monkeypatch):
    from socratic import __version__

    monkeypatch.setenv("COLUMNS", "250")  # help text on one line each
    code, out = cli("--version")
    assert code == 0 and out.strip() == f"socratic {__version__}"
    code, out = cli("-h")
    assert code == 0 and "caption metrics" in out and "video-text retrieval" in out and "(VQA accuracy)" not in out
    code, out = cli("graph", "-h")
    assert code == 0 and "Pipeline YAML file" in out
    code, out = cli("models", "-h")
    assert code == 0 and "offline" in out.split("--profile")[1]
    code, out = cli("okvqa", "answer", "-h")
    for flag in ("--n-shot", "--n-ensemble", "--seed", "--trace", "--report", "--restart", "--resume-anyway",
                 "--skip-failed"):
        assert flag in out, flag
    assert "tests only" not in out and "tests only" not in cli("okvqa", "build-memory", "-h")[1]


# -- 12: a progress line per node on a terminal ---------------------------------------------------------

def _on_a_terminal(*args) -> tuple[str, str]:
    """The CLI with stderr on a pseudo-terminal: (stdout, what the terminal showed)."""
    import pty
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "socratic", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=follower, cwd=REPO, text=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    proc.wait(timeout=300)
    os.close(leader)
    return out, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_single_run_on_a_terminal_prints_a_line_per_node_and_model_loads(tmp_path, run_cli):
    from socratic.media.sample import sample_images

    image = tmp_path / "cat.png"
    sample_images()["chelsea"].resize((64, 64)).save(image)
    f = tmp_path / "p.yaml"
    f.write_text("models:\n  clip: {family: vlm, backend: open_clip, name: ViT-B-32, pretrained: openai}\n"
                 "inputs: {image: image}\n"
                 "nodes:\n"
                 "  places: {type: clip_classify, params: {vlm: clip, vocab: [kitchen, beach]}, "
                 "inputs: {image: inputs.image}}\n"
                 "  say: {type: prompt, params: {template: 'At the {p}'}, inputs: {p: places.labels}}\n"
                 "outputs: {text: say.text}\n")
    args = ("run", f, "--input", f"image={image}", "--random-vlm", "--no-cache")
    out, shown = _on_a_terminal(*args)
    assert json.loads(out)["outputs"]["text"].startswith("At the ")
    assert "loading model 'clip'" in shown and "model 'clip' loaded in" in shown
    assert "[1/2] places [clip_classify]" in shown and "[2/2] say [prompt]" in shown
    assert shown.index("loading model 'clip'") < shown.index("[1/2] places")
    piped = run_cli(*args)  # not a terminal: no progress lines
    assert piped.returncode == 0 and "[1/2]" not in piped.stderr and "loading model" not in piped.stderr


def test_dataset_mode_refuses_trace_and_transcript_instead_of_ignoring_them(typed, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"id": "a", "tags": ["x", "y"]}\n')
    out = tmp_path / "out.jsonl"
    for flag in (["--trace", tmp_path / "t.json"], ["--transcript"]):
        code, text = cli("run", typed, "--dataset", data, "--out", out, "--no-progress", *flag)
        assert code == 2 and flag[0] in text and "run it alone" in text, text
        assert not out.exists() and not (tmp_path / "t.json").exists()
    code, text = cli("run", typed, "--dataset", data, "--out", out, "--no-progress")
    assert code == 0, text
    rec = json.loads(out.read_text().splitlines()[0])
    assert rec["outputs"]["text"].startswith("x+y")
