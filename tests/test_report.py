"""Reports from any result file: the trace's media table, older or foreign results, truncated JSON, missing
thumbnails, nested sub-pipeline records, dataset JSONL; bad input is one line, never a traceback. Fast: no
models (real pipelines of `prompt` nodes run through the real CLI)."""

from __future__ import annotations

import io
import json
import pickle
import re
import subprocess
import sys

import pytest
from PIL import Image

from socratic import Pipeline
from socratic.engine.trace import THUMB_SIDE, NodeRecord, Trace, summarise
from socratic.media.keyframe import KeyFrame
from socratic.report import report_html
from socratic.report.load import load

PIPE = """inputs:
  name: {type: text}
nodes:
  hello:
    type: prompt
    params: {template: 'Hello {name}, welcome.'}
    inputs: {name: inputs.name}
  shout:
    type: prompt
    params: {template: '{g}!'}
    inputs: {g: hello.text}
outputs:
  greeting: shout.text
"""


def _record(name: str, outputs: dict, **kw) -> NodeRecord:
    return NodeRecord(node=name, type=kw.pop("type", "t"), inputs=kw.pop("inputs", {}), outputs=outputs, params={},
                      models={}, seconds=0.01, cached=False, **kw)


def test_media_table_holds_small_thumbnails_once_each():
    big = Image.new("RGB", (1280, 720), (200, 30, 30))
    kf = KeyFrame.from_image(Image.new("RGB", (640, 480), (0, 90, 200)), 4.0)
    recs = [_record("a", summarise({"frames": [kf, kf], "image": big})),
            _record("b", summarise({"again": [kf]}), inputs=summarise({"image": big}))]
    d = Trace("p", recs).to_dict()
    assert d["schema_version"] == 2
    assert sorted(e["kind"] for e in d["media"].values()) == ["image", "keyframe"]  # deduplicated
    for ref, entry in d["media"].items():
        import base64

        with Image.open(io.BytesIO(base64.b64decode(entry["data"]))) as im:
            assert im.format == "JPEG" and max(im.size) <= THUMB_SIDE == max(entry["width"], entry["height"])
    text = json.dumps(d["nodes"])
    assert all(text.count(f"#{ref}>") >= 2 for ref in d["media"])  # values point at the table
    kf_entry = next(e for e in d["media"].values() if e["kind"] == "keyframe")
    assert (kf_entry["t"], kf_entry["frames"]) == (4.0, 1)
    # media descriptions still compare as before, and survive pickling (e.g. to a Ray worker) with their thumbnail
    assert summarise(big) == "<image 1280x720 RGB>"
    again = Trace("p", pickle.loads(pickle.dumps(recs))).to_dict()
    assert again["media"].keys() == d["media"].keys()


def test_result_with_sources_draws_its_wiring(tmp_path, run_cli):
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE)
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    proc = run_cli("run", pipe, "-i", "name=Ada", "--out", out, "--report", html, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    nodes = json.loads(out.read_text())["trace"]["nodes"]
    assert [n["sources"] for n in nodes] == [{"name": "inputs.name"}, {"g": "hello.text"}]
    page = html.read_text()
    assert "Hello Ada, welcome.!" in page and "Edges inferred" not in page
    assert "text → g" in page  # the edge label, in the SVG or the fallback list


def test_older_result_is_reported_with_what_is_missing(tmp_path, run_cli):
    """A schema-1 result (no schema_version, media, sources; bare `<image …>` values) still gives a report."""
    result = {"outputs": {"caption": "a cat"}, "warnings": ["vlm 'x' has RANDOM weights: its visual labels are "
                                                            "meaningless"],
              "trace": {"pipeline": "old", "warnings": [], "nodes": [
                  {"node": "cls", "type": "clip_classify", "inputs": {"image": "<image 64x64 RGB>"},
                   "outputs": {"labels": ["cat", "dog"], "scores": [0.7, 0.3]}, "params": {}, "models": {"vlm": "x"},
                   "seconds": 0.1, "cached": False, "items": None, "warnings": []},
                  {"node": "gen", "type": "lm_generate", "inputs": {"prompt": "cat, dog"},
                   "outputs": {"texts": ["a cat", "a dog"], "text": "a cat"}, "params": {}, "models": {"lm": "m"},
                   "seconds": 1.0, "cached": True, "items": None, "warnings": []},
                  {"node": "rr", "type": "clip_rerank", "inputs": {"image": "<image 64x64 RGB>",
                                                                     "texts": ["a cat", "a dog"]},
                   "outputs": {"best": "a cat", "ranked": ["a cat", "a dog"], "scores": [0.3, 0.2]}, "params": {},
                   "models": {"vlm": "x"}, "seconds": 0.1, "cached": False, "items": None, "warnings": []}]}}
    src, html = tmp_path / "old.json", tmp_path / "old.html"
    src.write_text(json.dumps(result))
    proc = run_cli("report", src, "-o", html)
    assert proc.returncode == 0, proc.stderr
    page = html.read_text()
    assert "no schema_version" in page and "without a thumbnail" in page
    assert "Edges inferred from equal values" in page
    assert re.search(r'class="candidate winner">.*?a cat', page)
    assert "RANDOM weights" in page.split('id="warnings"')[1][:400]


@pytest.mark.parametrize("content, message", [
    ('{"outputs": {"x": 1}, "trace": {"nodes": [', "not valid JSON (truncated?)"),
    ('[1, 2]', "a result JSON is an object"),
    ('{"hello": "world"}', "not a socratic result or trace"),
    ("", "empty file"),
])
def test_bad_files_are_one_line(tmp_path, run_cli, content, message):
    src = tmp_path / "bad.json"
    src.write_text(content)
    proc = run_cli("report", src, "-o", tmp_path / "r.html")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert str(src) in proc.stderr and message in proc.stderr
    assert not (tmp_path / "r.html").exists()


def test_never_overwrites_a_file_it_did_not_write(tmp_path, run_cli):
    src = tmp_path / "r.json"
    src.write_text(json.dumps({"outputs": {"a": "b"}}))
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    proc = run_cli("report", src, "-o", mine)
    assert proc.returncode == 2 and "not overwritten" in proc.stderr
    assert mine.read_text() == "<p>my notes</p>"
    assert run_cli("report", src, "-o", tmp_path / "x.txt").returncode == 2
    ok = tmp_path / "ok.html"
    assert run_cli("report", src, "-o", ok).returncode == 0
    assert run_cli("report", src, "-o", ok).returncode == 0  # an earlier report is ours to replace
    assert "written without its trace" in ok.read_text()


def test_nested_records_are_shown(tmp_path):
    """Sub-pipeline records, as `nodes` inside a record or as `outer/inner` names, appear in the DAG table."""
    inner = {"node": "ask", "type": "prompt", "inputs": {"q": "why?"}, "outputs": {"text": "Q: why?"},
             "seconds": 0.2, "cached": False, "sources": {"q": "inputs.q"}}
    doc = {"outputs": {}, "trace": {"schema_version": 2, "pipeline": "outer", "nodes": [
        {"node": "sub", "type": "pipeline", "inputs": {}, "outputs": {"answer": "because"}, "seconds": 1.0,
         "cached": False, "nodes": {"ask": inner, "answer": {**inner, "node": "answer", "type": "lm_generate",
                                                             "sources": {"prompt": "ask.text"}}}},
        {**inner, "node": "other/ask"}, "not a record"]}}
    src = tmp_path / "nested.json"
    src.write_text(json.dumps(doc))
    run = load(src)
    assert [n.name for n in run.nodes] == ["sub", "sub/ask", "sub/answer", "other/ask", "#2"]
    assert [n.depth for n in run.nodes][:4] == [0, 1, 1, 1]
    page = report_html(src)
    assert "record 2 is not an object" in page
    assert 'href="#node-sub_answer"' in page and 'id="node-sub_answer"' in page


def test_dataset_jsonl_with_a_torn_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "1", "outputs": {"caption": "a cat"}, "warnings": []}\n'
                   '{"id": "2", "error": "image: no such file"}\n'
                   '{"id": "1", "outputs": {"caption": "a black cat"}, "warnings": []}\n{"id": "3", "outp')
    page = report_html(out)
    assert "line 4: not JSON" in page
    rows = re.findall(r'<tr class="(ok|error)" data-status', page)
    assert rows == ["ok", "error"]  # the latest record of item 1 wins, in its first place
    assert "a black cat" in page and "a cat<" not in page


def test_pipeline_api_trace_json_is_a_report_source(tmp_path):
    p = Pipeline("api").add_input("name", "text")
    p.add_node("hello", "prompt", params={"template": "Hi {name}"}, inputs={"name": "inputs.name"})
    p.add_output("greeting", "hello.text")
    trace = tmp_path / "trace.json"
    trace.write_text(p.run({"name": "Kay"}, cache=False).trace.to_json())
    page = report_html(trace)
    assert "Hi Kay" in page and "Run of api" in page


def test_outputs_find_their_thumbnails_in_the_trace(tmp_path):
    """A schema-2 result's outputs hold bare media descriptions; the report finds them in the media table."""
    from socratic.engine.runner import RunResult

    kfs = [KeyFrame.from_image(Image.new("RGB", (320, 240), c), t) for c, t in (("red", 0.0), ("blue", 4.0))]
    trace = Trace("frames", [_record("frames", summarise({"frames": kfs}), type="video_keyframes")])
    doc = RunResult({"frames": kfs}, trace).to_dict()
    assert "#" not in json.dumps(doc["outputs"])
    src = tmp_path / "r.json"
    src.write_text(json.dumps(doc))
    page = report_html(src)
    assert "without a thumbnail" not in page and "missing" not in page
    outputs = page.split('id="view-outputs"')[1].split("</section>")[0]
    assert outputs.count('class="chip m-kf-') == 2


def test_hierarchical_summaries_every_level(tmp_path):
    windows = [{"level": 1, "start": 0.0, "end": 60.0, "entries": 12, "summary": "I cooked."},
               {"level": 1, "start": 60.0, "end": 125.0, "entries": 9, "summary": "I ate.",
                "prompt": "Summarise 01:00-02:05: <eating>"},
               {"level": 2, "start": 0.0, "end": 125.0, "entries": 2, "summary": "I cooked and ate."}]
    doc = {"outputs": {}, "trace": {"schema_version": 2, "pipeline": "long", "nodes": [
        {"node": "log", "type": "world_state_log", "outputs": {"log": [{"t": 0.0, "place": "kitchen"}],
                                                               "lines": "[00:00] place: kitchen"}},
        {"node": "summary", "type": "hierarchical_summary",
         "outputs": {"summary": "A day of food.", "windows": windows, "levels": 3}}]}}
    src = tmp_path / "long.json"
    src.write_text(json.dumps(doc))
    page = report_html(src)
    video = page.split('id="view-video"')[1].split("</section>")[0]
    assert video.index("A day of food.") < video.index("Level 2") < video.index("I cooked and ate.") \
        < video.index("Level 1") < video.index("I cooked.") < video.index("I ate.")
    assert "[01:00–02:05]" in video and "no key frame recorded" in video
    # the recorded prompt is shown (escaped) under its window; older results without prompts show none
    assert video.count('class="summary-prompt"') == 1 and "Summarise 01:00-02:05: &lt;eating&gt;" in video


def test_compact_transcript_repeats_short_values_and_points_back_for_long_ones():
    long = "I walk into the kitchen and start making a cup of coffee for the two of us."
    records = [_record("a", {"labels": ["kitchen"], "text": long}),
               _record("b", {"labels": ["kitchen"], "text": long}),
               _record("c", {"out": "done"}, inputs={"text": long})]
    text = Trace("p", records).transcript_text()
    assert text.count("labels: kitchen") == 2  # short: shown again, not "= a.labels"
    assert "→ text: = a.text" in text and text.count(long) == 1  # long: once, then named
    assert "← text: = a.text" in text  # an input always names where it came from


def test_the_report_needs_no_torch():
    code = ("import sys, socratic.report, socratic.cli; from socratic import node, Context; "
            "print(sorted(m for m in ('torch', 'transformers', 'open_clip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
