"""HTML reports of real runs, opened in a real headless Chromium: what the rendered page shows is checked
against the run's own result JSON (thumbnails, log lines, speech, candidates, PICa prompts), with no console
error and no request leaving the file. SOCRATIC_DOCS_SCREENSHOTS=1 also writes docs/report-*.png."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from socratic.media.keyframe import span_owner
from support.chromium import Browser, chromium_path
from support.report_runs import (PICA_PROMPTS, PICA_SHOTS, caption_run, cli, egocentric_run, magic_run,
                                 pica_run, sounds_run)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None, reason="needs chromium (scripts/setup.sh installs it)")]

REPO = Path(__file__).resolve().parents[1]
RANDOM_WARNING = "RANDOM weights"


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-runs")
    ego_json, ego_html, transcript = egocentric_run(root)
    sounds = sounds_run(root)
    cap_json, cap_html = caption_run(root)
    pica_json, pica_html = pica_run(root)
    magic = magic_run(root)
    return {"ego": (ego_json, ego_html), "transcript": transcript, "caption": (cap_json, cap_html),
            "pica": (pica_json, pica_html), "sounds": sounds, "magic": magic, "root": root}


def _open(browser: Browser, html: Path) -> None:
    browser.open(html)
    assert browser.console_errors() == []


def _offline(browser: Browser, html: Path) -> None:
    """Every request the page made was the file itself or an embedded data: URI."""
    for url in browser.requests():
        assert url == html.resolve().as_uri() or url.startswith("data:"), url


def _warning_visible(browser: Browser) -> None:
    box = browser.js("(() => { const w = document.getElementById('warnings'); const r = w.getBoundingClientRect(); "
                     "return {text: w.innerText, top: r.top, h: r.height, color: getComputedStyle(w).backgroundColor};"
                     " })()")
    assert RANDOM_WARNING in box["text"]
    assert box["h"] > 20 and 0 <= box["top"] < 200  # at the top of the page, not folded away
    assert box["color"] != "rgba(0, 0, 0, 0)"


def _shot(browser: Browser, name: str, selector: str | None, tmp: Path) -> None:
    """One view (or, with no selector, the top of the page: title, warnings, first view)."""
    browser.js("document.querySelector('nav.views').style.position = 'static'; window.scrollTo(0, 0)")
    path = browser.screenshot(tmp / f"report-{name}.png", selector)
    assert path.stat().st_size > 10_000
    if os.environ.get("SOCRATIC_DOCS_SCREENSHOTS"):
        shutil.copy(path, REPO / "docs" / f"report-{name}.png")


def _flat(records: list, prefix: str = "") -> list[tuple[str, dict]]:
    """(full name, record) of every record, included pipelines' records (`nodes`) under `outer/`."""
    out = []
    for r in records:
        out.append((prefix + r["node"], r))
        out += _flat(r.get("nodes") or [], f"{prefix}{r['node']}/")
    return out


def _node(result: dict, type_: str) -> dict:
    return next(r for _, r in _flat(result["trace"]["nodes"]) if r["type"] == type_)


def test_video_report(runs, browser, tmp_path):
    result_path, html = runs["ego"]
    result = json.loads(result_path.read_text())
    frames = _node(result, "video_keyframes")["outputs"]["frames"]
    assert len(frames) >= 4 and all("#kf-" in f for f in frames)  # thumbnails referenced, not embedded inline
    _open(browser, html)
    _offline(browser, html)
    _warning_visible(browser)
    thumbs = browser.js("[...document.querySelectorAll('#view-video .entry img.thumb')].map(i => "
                        "({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth, src: i.src.slice(0, 23)}))")
    assert len(thumbs) == len(frames)  # one per key frame
    assert all(t["ok"] and t["w"] <= 256 and t["src"] == "data:image/jpeg;base64," for t in thumbs)
    lines = browser.js("[...document.querySelectorAll('#view-video .logline')].map(e => e.textContent)")
    assert lines == result["outputs"]["lines"].split("\n")  # every log line, in order
    said = browser.js("[...document.querySelectorAll('#view-video .segment')].map(e => "
                      "({entry: +e.closest('.entry').id.split('-')[1], text: e.lastChild.textContent}))")
    segments = result["outputs"]["segments"]
    assert [s["text"] for s in said] == [s["text"] for s in segments] and len(segments) >= 3
    frames = _node(result, "video_keyframes")["outputs"]
    heard = _node(result, "attach_speech")["outputs"]["heard"]
    for s, seg in zip(said, segments):  # under the key frame whose time range it overlaps most, as in the log
        assert s["entry"] == span_owner(frames["timestamps"], frames["ends"], seg["start"], seg["end"])
        assert seg["text"].strip() in heard[s["entry"]]
    summary = browser.js("document.getElementById('summary').textContent")
    assert summary == result["outputs"]["summary"]
    browser.js("document.querySelector('details.summary-prompt summary').click()")  # the prompt behind it
    shown = browser.js("document.querySelector('details.summary-prompt').innerText")
    final_prompt = _node(result, "hierarchical_summary")["outputs"]["prompt"]
    assert all(line in shown for line in final_prompt.splitlines() if line.strip())
    browser.js("document.querySelector('details.summary-prompt').open = false")
    _shot(browser, "video", None, tmp_path)
    # clicking an entry shows the prompt and the LM candidates behind it
    browser.js("document.querySelector('#entry-1 details summary').click()")
    shown = browser.js("document.querySelector('#entry-1 details').innerText")
    prompt = _node(result, "lm_generate")["inputs"]["prompt"][1]
    candidates = _node(result, "lm_generate")["outputs"]["texts"][1]
    assert prompt.splitlines()[2] in shown and all(c in shown for c in candidates if c.strip())


def test_sound_events_under_their_time(runs, browser):
    result_path, html = runs["sounds"]
    result = json.loads(result_path.read_text())
    events = _node(result, "sound_events")["outputs"]["events"]
    stamps = _node(result, "video_keyframes")["outputs"]["timestamps"]
    _open(browser, html)
    _offline(browser, html)
    warnings = browser.js("document.getElementById('warnings').innerText")
    assert "clap" in warnings and "open_clip" in warnings  # both stand-ins named at the top
    shown = browser.js("[...document.querySelectorAll('#view-video .sound')].map(e => "
                       "({entry: +e.closest('.entry').id.split('-')[1], text: e.textContent}))")
    assert len(shown) == len(events) > 5  # every 2 s window, in order
    for s, ev in zip(shown, events):
        assert ev["labels"][0] in s["text"]
        assert s["entry"] == max([0] + [i for i, t in enumerate(stamps) if t <= ev["start"]])
    lines = browser.js("[...document.querySelectorAll('#view-video .logline')].map(e => e.textContent)")
    assert lines == result["outputs"]["lines"].split("\n") and all("sounds:" in x for x in lines)


def test_dag_view(runs, browser, tmp_path):
    result_path, html = runs["ego"]
    flat = _flat(json.loads(result_path.read_text())["trace"]["nodes"])
    _open(browser, html)
    svg_nodes = browser.js("[...document.querySelectorAll('#view-dag svg g.node title')].map(t => t.textContent)")
    groups = {name for name, r in flat if r.get("nodes")}  # included pipelines: clusters of their nodes
    assert {name for name, _ in flat} - groups | {"inputs.video", "inputs.scene_threshold"} == set(svg_nodes)
    clusters = browser.js("[...document.querySelectorAll('#view-dag svg g.cluster title')].map(t => t.textContent)")
    assert len(clusters) == len(groups)
    edges = browser.js("document.querySelectorAll('#view-dag svg g.edge').length")
    assert edges == sum(len(r.get("sources", {})) for _, r in flat)
    rows = browser.js("[...document.querySelectorAll('#view-dag table.nodes tbody tr')].map(r => "
                      "[...r.cells].map(c => c.innerText))")
    assert [r[0].strip() for r in rows] == [r["node"] for _, r in flat]
    for row, (_, r) in zip(rows, flat):  # time, cache and model ids as recorded
        assert row[3] == ("hit" if r["cached"] else "no")
        assert all(m in row[5] for m in r["models"].values())
    _offline(browser, html)
    _shot(browser, "dag", "#view-dag", tmp_path)


def test_dag_without_graphviz_is_a_list(runs, browser, tmp_path):
    result_path, _ = runs["caption"]
    html = tmp_path / "nodot.html"
    env_path = ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "dot").exists())
    proc = cli("report", result_path, "-o", html, check=False, env={"PATH": env_path})
    assert proc.returncode == 0, proc.stderr
    _open(browser, html)
    items = browser.js("[...document.querySelectorAll('#view-dag ol.dag-list > li')].map(li => li.innerText)")
    flat = _flat(json.loads(result_path.read_text())["trace"]["nodes"])
    assert [i.split(" [")[0] for i in items] == [name for name, _ in flat]
    assert browser.js("document.querySelector('#view-dag svg')") is None
    lm = next(name for name, r in flat if r["type"] == "lm_generate")
    fill = next(name for name, r in flat if r["type"] == "prompt")
    assert f"{fill} (text → prompt)" in next(i for i in items if i.startswith(f"{lm} ["))


def test_caption_report(runs, browser, tmp_path):
    result_path, html = runs["caption"]
    result = json.loads(result_path.read_text())
    rerank = _node(result, "clip_rerank")
    _open(browser, html)
    _offline(browser, html)
    _warning_visible(browser)
    assert browser.js("(() => { const i = document.querySelector('#view-caption img.hero'); "
                      "return i.complete && i.naturalWidth > 0; })()")
    cands = browser.js("[...document.querySelectorAll('#view-caption li.candidate')].map(li => "
                       "({text: li.querySelector('.text').textContent, score: +li.querySelector('.score').textContent,"
                       " win: li.classList.contains('winner')}))")
    assert [c["text"] for c in cands] == rerank["outputs"]["ranked"]
    assert [c["score"] for c in cands] == pytest.approx(rerank["outputs"]["scores"], abs=1e-4)
    winners = [c for c in cands if c["win"]]
    assert len(winners) == 1 and winners[0]["text"] == result["outputs"]["caption"]
    prompt = browser.js("document.querySelector('#view-caption pre.prompt').textContent")
    assert prompt == result["outputs"]["prompt"]
    labels = browser.js("document.querySelector('#view-caption table.labels').innerText")
    for _, n in _flat(result["trace"]["nodes"]):
        if n["type"] == "clip_classify":
            assert all(lab in labels for lab in n["outputs"]["labels"])
    _shot(browser, "caption", "#view-caption", tmp_path)


def test_magic_report(runs, browser):
    result_path, html = runs["magic"]
    result = json.loads(result_path.read_text())
    _open(browser, html)
    _offline(browser, html)
    _warning_visible(browser)
    assert browser.js("document.querySelector('#view-caption img.hero').naturalWidth") > 0
    shown = browser.js("document.querySelector('#view-caption .magic-caption').textContent")
    assert shown == result["outputs"]["caption"]
    params = _node(result, "magic_caption")["params"]
    heading = browser.js("document.querySelector('#view-caption h3').textContent")
    assert f"k={params['k']}" in heading and f"alpha={params['alpha']}" in heading


def test_pica_report(runs, browser, tmp_path):
    result_path, html = runs["pica"]
    result = json.loads(result_path.read_text())
    _open(browser, html)
    _offline(browser, html)
    _warning_visible(browser)
    assert browser.js("[...document.querySelectorAll('nav.views a')].map(a => a.textContent)")[:2] == \
        ["PICa", "Caption"]
    blocks = browser.js("[...document.querySelectorAll('#view-pica .pica-prompt')].map(b => ({"
                        "examples: [...b.querySelectorAll('.prompt-example')].map(e => e.innerText),"
                        "answer: b.querySelector('.pica-answer').innerText,"
                        "win: b.querySelector('.pica-answer').classList.contains('winner')}))")
    examples = _node(result, "pica_select")["outputs"]["examples"]
    sims = _node(result, "pica_select")["outputs"]["similarities"]
    cands = result["outputs"]["candidates"]
    assert len(blocks) == PICA_PROMPTS == len(cands) == len(sims)
    for block, group, group_sims, cand in zip(blocks, examples, sims, cands):
        assert len(block["examples"]) == PICA_SHOTS == len(group_sims)
        for shown, (caption, question, answer), sim in zip(block["examples"], group, group_sims):
            assert caption in shown and question in shown and answer in shown
            assert shown.startswith(f"sim {sim:.3f}")
        assert f"{cand['score']:.3f}" in block["answer"]
    scores = [c["score"] for c in cands]
    assert [b["win"] for b in blocks] == [i == scores.index(max(scores)) for i in range(len(scores))]
    final = browser.js("document.getElementById('pica-final').innerText")
    assert final.startswith(result["outputs"]["answer"])
    assert result["outputs"]["context"] in browser.js("document.getElementById('view-pica').innerText")
    _shot(browser, "pica", "#view-pica", tmp_path)


def test_dataset_report_filters_and_links(browser, tmp_path):
    pipe = tmp_path / "greet.yaml"
    pipe.write_text("inputs:\n  name: {type: text}\nnodes:\n  hello:\n    type: prompt\n"
                    "    params: {template: 'Hello {name}, welcome.'}\n    inputs: {name: inputs.name}\n"
                    "outputs:\n  greeting: hello.text\n")
    data = tmp_path / "people.jsonl"
    data.write_text('{"id": "a", "name": "Ada"}\n{"id": "b", "name": "Grace"}\n{"id": "c", "nom": "x"}\n'
                    '{"id": "d", "name": "Edsger"}\n')
    out, html = tmp_path / "out.jsonl", tmp_path / "items.html"
    proc = cli("run", pipe, "--dataset", data, "--out", out, "--report", html, "--no-progress", check=False)
    assert proc.returncode == 3, proc.stderr  # one item failed
    records = [json.loads(x) for x in out.read_text().splitlines()]
    _open(browser, html)
    _offline(browser, html)
    rows = browser.js("[...document.querySelectorAll('#items tbody tr')].map(r => r.innerText)")
    assert len(rows) == len(records) == 4
    for row, rec in zip(rows, records):
        assert rec["id"] in row
        assert (rec["outputs"]["greeting"] in row) if "outputs" in rec else ("name" in row)
    visible = "[...document.querySelectorAll('#items tbody tr')].filter(r => r.offsetParent !== null).length"
    browser.js("(() => { const q = document.getElementById('filter-text'); q.value = 'grace'; "
               "q.dispatchEvent(new Event('input')); })()")
    assert browser.js(visible) == 1
    browser.js("(() => { const q = document.getElementById('filter-text'); q.value = ''; "
               "q.dispatchEvent(new Event('input')); const s = document.getElementById('filter-status'); "
               "s.value = 'error'; s.dispatchEvent(new Event('change')); })()")
    assert browser.js(visible) == 1
    assert "c" in browser.js("[...document.querySelectorAll('#items tbody tr')].find(r => r.offsetParent).innerText")
    targets = browser.js("[...document.querySelectorAll('#items tbody a')].map(a => "
                         "document.getElementById(a.getAttribute('href').slice(1)).innerText)")
    assert all(rec["id"] in t for t, rec in zip(targets, records))
    assert browser.console_errors() == []
    browser.js("(() => { const s = document.getElementById('filter-status'); s.value = 'all'; "
               "s.dispatchEvent(new Event('change')); })()")
    assert browser.js(visible) == 4
    _shot(browser, "dataset", "#view-dataset", tmp_path)


def test_compact_transcript(runs):
    from socratic.engine.trace import NodeRecord, Trace

    text = runs["transcript"].split("\n\n{")[0]  # stdout: the transcript, then the outputs JSON
    result = json.loads(runs["ego"][0].read_text())
    prompts = _node(result, "prompt")["outputs"]["text"]
    for i, p in enumerate(prompts):  # each mapped value once per item; the LM's input names where it came from
        assert text.count(p.splitlines()[2]) == 1
        assert re.search(rf"\[{i}\] ← prompt: = \S*activity_prompt\.text\[{i}\]", text)
    leaves = [NodeRecord(**{k: v for k, v in r.items() if k in NodeRecord.__dataclass_fields__})
              for _, r in _flat(result["trace"]["nodes"]) if not r.get("nodes")]
    full = Trace("ego", leaves).transcript_full()
    # an input an earlier node produced is named, never repeated: only the video path (first use) and empty values
    # are shown as is. (The summary's own language, a prompt per window and the facts, appears once in both
    # transcripts, so the whole-transcript size ratio no longer measures the compaction; the inputs do.)
    inputs = [ln.strip() for ln in text.splitlines() if "← " in ln]
    shown = [ln for ln in inputs if ": = " not in ln and not ln.endswith(":")]
    assert [ln.split("← ")[1] for ln in shown] == [f"audio: {runs['ego'][0].parent / 'day.mp4'}"]
    for port, source in (("log", "log.log"), ("activities", "world/activity.best"),
                         ("segments", "world/speech.segments"), ("heard", "world/heard.heard")):
        assert f"← {port}: = {source}" in text
    full_inputs = [ln for ln in full.splitlines() if ln.startswith("  ← ")]
    assert len(full_inputs) > 1.5 * len(inputs)  # the full transcript repeats them: log, segments, heard, …
    assert len(text.splitlines()) < len(full.splitlines()) and len(text) < len(full)


def test_report_of_a_trace_with_missing_thumbnails(runs, browser, tmp_path):
    result = json.loads(runs["ego"][0].read_text())
    media = result["trace"]["media"]
    dropped = sorted(media)[:2]
    for key in dropped:
        del media[key]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(result))
    html = tmp_path / "broken.html"
    cli("report", broken, "-o", html)
    _open(browser, html)
    problems = browser.js("document.getElementById('problems').innerText")
    assert "2 thumbnail(s) referenced but missing" in problems
    assert browser.js("document.querySelectorAll('#view-video .entry .nothumb').length") == \
        sum(1 for f in _node(result, "video_keyframes")["outputs"]["frames"] if f.split("#")[1][:-1] in dropped)
    lines = browser.js("[...document.querySelectorAll('#view-video .logline')].map(e => e.textContent)")
    assert lines == result["outputs"]["lines"].split("\n")  # the rest still shown
