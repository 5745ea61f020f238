"""Hostile or odd input never stops a run, hangs it, or overwrites a user's file: lone surrogates in rows and LM
replies, YAML alias bombs, single-run outputs over foreign files, foreign files named as includes, graph names,
argument ranges, special files as media, NaN in outputs, a full disk, okvqa arguments (issue 23)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.inproc_cli import socratic_cli
from test_lm_openai import completion_json, scripted_server

SURROGATE = "\ud83d"  # half of an emoji: valid in JSON ("\ud83d"), not encodable as UTF-8

HELLO = """name: hello
inputs:
  name: text
nodes:
  hello:
    type: prompt
    params: {template: "Hello {name}!"}
    inputs: {name: inputs.name}
outputs:
  greeting: hello.text
"""


def ask_yaml(url: str) -> str:
    """A one-node pipeline asking an OpenAI-compatible server at `url` about input `name`."""
    return f"""models:
  lm: {{family: lm, backend: openai, base_url: "{url}", model: fake, max_retries: 0}}
inputs:
  name: text
nodes:
  ask:
    type: lm_generate
    params: {{lm: lm, max_new_tokens: 8}}
    inputs: {{prompt: inputs.name}}
outputs:
  reply: ask.text
"""


def _strict_json(text: str):
    """JSON as other tools read it: NaN / Infinity tokens are errors."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def _records(out: Path) -> dict[str, dict]:
    raw = out.read_bytes()
    raw.decode("utf-8")  # the file is valid UTF-8
    recs = [_strict_json(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    return {r["id"]: r for r in recs}


# -- 1. lone surrogates ---------------------------------------------------------------------------------------


def test_a_row_with_a_lone_surrogate_neither_stops_the_run_nor_resume(tmp_path):
    pipe = tmp_path / "hello.yaml"
    pipe.write_text(HELLO)
    data = tmp_path / "rows.jsonl"
    rows = [{"id": "a", "name": "Ann"}, {"id": "b" + SURROGATE, "name": "Bo" + SURROGATE + "b"},
            {"id": "c", "name": "Cy"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))  # ensure_ascii: the file holds "\ud83d"
    out = tmp_path / "out.jsonl"
    first = socratic_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
    assert first.returncode == 0, first.stderr
    recs = _records(out)
    assert set(recs) == {"a", "b" + SURROGATE, "c"}  # the id reads back as it was written in the rows
    assert recs["b" + SURROGATE]["outputs"]["greeting"] == "Hello Bo" + SURROGATE + "b!"
    assert recs["c"]["outputs"]["greeting"] == "Hello Cy!"
    again = socratic_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "0 done, 3 skipped, 0 failed" in again.stderr


def test_an_lm_reply_with_a_lone_surrogate_is_carried_escaped(tmp_path):
    def respond(n, body):
        text = "odd " + SURROGATE if "Bo" in body["prompt"] else "fine"
        return 200, completion_json(text), 0

    with scripted_server(respond) as (url, seen):
        pipe = tmp_path / "ask.yaml"
        pipe.write_text(ask_yaml(url))
        data = tmp_path / "rows.jsonl"
        data.write_text('{"id": "a", "name": "Ann"}\n{"id": "b", "name": "Bo"}\n{"id": "c", "name": "Cy"}\n')
        out = tmp_path / "out.jsonl"
        done = socratic_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
        assert done.returncode == 0, done.stderr
        recs = _records(out)
        assert recs["b"]["outputs"]["reply"] == "odd \\ud83d"  # escaped: six plain characters
        assert recs["a"]["outputs"]["reply"] == recs["c"]["outputs"]["reply"] == "fine"
        again = socratic_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
        assert again.returncode == 0 and "3 skipped" in again.stderr
    assert len(seen) == 3


# -- 3. YAML alias bombs --------------------------------------------------------------------------------------


def _bomb(levels: int = 7) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, levels):
        lines.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]")
    return "\n".join(lines)


def test_a_yaml_alias_bomb_is_refused_at_once_with_file_and_line(run_cli, tmp_path):  # a process: a bomb may hang
    bomb = "\n".join("      " + x for x in _bomb().splitlines())
    pipe = tmp_path / "bomb.yaml"
    pipe.write_text(HELLO.replace("inputs:\n  name: text", f"inputs:\n  name:\n    type: text\n    default:\n{bomb}"))
    over = 1 + next(k for k, x in enumerate(pipe.read_text().splitlines()) if x.strip().startswith("l4:"))
    checked = run_cli("validate", pipe, timeout=60)  # at once: a bomb took minutes and gigabytes before
    ran = run_cli("run", pipe, "--no-progress", timeout=60)
    for proc in (checked, ran):
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"{pipe}:{over}:" in proc.stderr and "alias" in proc.stderr  # the alias that went over the bound
        assert len(proc.stderr.strip().splitlines()) == 1


# -- 4. single-run outputs -------------------------------------------------------------------------------------


def test_run_out_and_trace_never_overwrite_a_foreign_file_and_are_checked_first(tmp_path):
    with scripted_server(lambda n, b: (200, completion_json("hi"), 0)) as (url, seen):
        pipe = tmp_path / "ask.yaml"
        pipe.write_text(ask_yaml(url))
        yaml_before = pipe.read_bytes()
        notes = tmp_path / "notes.txt"
        notes.write_text("my notes\n")
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        attempts = [("--out", notes), ("--trace", pipe), ("--out", photo), ("--trace", tmp_path / "f" / "x.json")]
        (tmp_path / "f").write_text("a file where a folder would be")
        for flag, target in attempts:
            proc = socratic_cli("run", pipe, "-i", "name=x", flag, target, "--no-progress")
            assert proc.returncode == 2 and flag in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1
        same = socratic_cli("run", pipe, "-i", "name=x", "--out", tmp_path / "r.json", "--trace", tmp_path / "r.json")
        assert same.returncode == 2 and "same file" in same.stderr
        assert seen == []  # refused before any work: the LM was never asked
        assert notes.read_text() == "my notes\n" and pipe.read_bytes() == yaml_before
        assert photo.read_bytes().startswith(b"\xff\xd8")
        result, trace = tmp_path / "result.json", tmp_path / "trace.json"
        for _ in range(2):  # a new file, then our own earlier result and trace: written over
            ok = socratic_cli("run", pipe, "-i", "name=x", "--out", result, "--trace", trace, "--no-progress",
                         "--no-cache")
            assert ok.returncode == 0, ok.stderr
        assert json.loads(result.read_text())["outputs"]["reply"] == "hi"
        assert json.loads(trace.read_text())["nodes"][0]["node"] == "ask"
        assert len(seen) == 2


# -- 5. errors never echo a foreign file -----------------------------------------------------------------------


def test_including_a_file_that_is_no_pipeline_does_not_echo_it(tmp_path):
    secret = tmp_path / "shadow"
    lines = ["root:$6$Xy$ROOTHASHsecret:19000:0:99999:7:::"] + [f"u{i}:$6$s{i}$HASH{i}secret:19000:0:99999:7:::"
                                                                 for i in range(24)]
    secret.write_text("\n".join(lines) + "\n")
    notes = tmp_path / "notes.yaml"
    notes.write_text("password: hunter2secret\nbank: 1234secret\n")
    for target in (secret, notes):
        pipe = tmp_path / "inc.yaml"
        pipe.write_text(f"inputs: {{x: text}}\nnodes:\n  inc: {{type: pipeline, params: {{file: {target.name}}}}}\n"
                        "outputs: {o: inc}\n")
        proc = socratic_cli("validate", pipe)
        assert proc.returncode == 2
        assert "secret" not in proc.stderr and "HASH" not in proc.stderr and "hunter2" not in proc.stderr
        assert f"{target}" in proc.stderr and "not a pipeline" in proc.stderr


# -- 6. graph exports escape names -----------------------------------------------------------------------------


def test_graph_dot_and_mermaid_escape_hostile_names(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("graphviz dot is not installed")
    evil = 'x"; evil [URL="javascript:alert(1)", label="pwned"]; "'
    pipe = tmp_path / "evil.yaml"
    pipe.write_text(HELLO.replace("name: hello", f"name: {json.dumps(evil)}")
                    .replace("  hello:\n", f"  {json.dumps(evil)}:\n")
                    .replace("greeting: hello.text", f"greeting: {json.dumps(evil + '.text')}"))
    dot = socratic_cli("graph", pipe, "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.stdout, capture_output=True, text=True)
    assert svg.returncode == 0, svg.stderr
    assert "href" not in svg.stdout and "<a " not in svg.stdout  # no link, so no javascript: URL
    assert svg.stdout.count('<g id="node') == 3 and svg.stdout.count('<g id="edge') == 2  # nothing added
    mermaid = socratic_cli("graph", pipe, "--format", "mermaid")
    assert mermaid.returncode == 0
    import re

    box = r'"[^"]*"'
    line = re.compile(rf'^  n\d+(\(\[{box}\]\)|\[{box}\]|\[/{box}/\])$|^  n\d+ -->(\|{box}\|)? n\d+$')
    body = mermaid.stdout.strip().splitlines()
    assert body[0] == "flowchart TD" and all(line.match(x) for x in body[1:]), body


# -- 7-9. argument ranges, key redaction, special files --------------------------------------------------------


def test_absent_rank_below_one_is_refused(tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "v1", "outputs": {"video_id": "v1", "ranking": ["v2"]}}) + "\n")
    for bad in ("0", "-3"):
        proc = socratic_cli("eval", "retrieval", "--predictions", preds, "--absent-rank", bad)
        assert proc.returncode == 2 and "--absent-rank" in proc.stderr and "R@1" not in proc.stdout
    ok = socratic_cli("eval", "retrieval", "--predictions", preds, "--absent-rank", "100")
    assert ok.returncode == 0, ok.stderr


def test_api_key_is_hidden_before_the_message_is_cut(monkeypatch):
    from socratic.errors import SocraticError
    from socratic.models.lm_openai import OpenAILM

    key = "sk-test-SECRET-4f1c9a7e"
    monkeypatch.setenv("SOCRATIC_TEST_API_KEY", key)
    for pad in range(200, 300, 4):  # somewhere here the key sits across the 300-character cut
        message = "x" * pad + " key " + key + " was refused"
        with scripted_server(lambda n, b: (400, {"error": {"message": message}}, 0)) as (url, seen):
            lm = OpenAILM(model="m", base_url=url, api_key_env="SOCRATIC_TEST_API_KEY", max_retries=0)
            with pytest.raises(SocraticError) as err:
                lm.generate(["hi"])
        assert seen[0]["auth"] == f"Bearer {key}"
        assert "sk-test" not in str(err.value) and "SECRET" not in str(err.value), str(err.value)


@pytest.mark.parametrize("kind", ["video", "image"])
def test_special_files_are_refused_as_media_inputs(run_cli, tmp_path, kind):
    pipe = tmp_path / "media.yaml"
    pipe.write_text(f"""inputs:
  media: {kind}
nodes:
  hello:
    type: prompt
    params: {{template: "Hello"}}
outputs:
  media: inputs.media
  hello: hello.text
""")
    if kind == "video":
        source = "/dev/zero"  # endless: the cache key's digest of the file would never finish
    else:
        source = tmp_path / "pipe.jpg"  # a FIFO nobody writes: opening it would block for ever
        os.mkfifo(source)
    proc = run_cli("run", pipe, "-i", f"media={source}", "--no-progress", timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "not a regular file" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- 11. minor: NaN, a full disk, okvqa arguments -------------------------------------------------------------

PICK = """inputs:
  xs: numbers
nodes:
  second:
    type: pick
    params: {index: 1}
    inputs: {items: inputs.xs}
outputs:
  x: second.item
"""


def test_nan_is_never_written_into_json_outputs(tmp_path):
    pipe = tmp_path / "pick.yaml"
    pipe.write_text(PICK)
    data = tmp_path / "rows.jsonl"
    data.write_text('{"id": "a", "xs": [1, NaN]}\n{"id": "b", "xs": [1, Infinity]}\n{"id": "c", "xs": [1, 2]}\n')
    out = tmp_path / "out.jsonl"
    proc = socratic_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    recs = _records(out)  # strict JSON: no NaN / Infinity tokens
    assert recs["a"]["outputs"]["x"] is None and recs["b"]["outputs"]["x"] is None
    assert any("NaN" in w for w in recs["a"]["warnings"]) and recs["c"]["outputs"]["x"] == 2
    result, trace = tmp_path / "r.json", tmp_path / "t.json"
    one = socratic_cli("run", pipe, "-i", "xs=[1, NaN]", "--out", result, "--trace", trace, "--no-progress")
    assert one.returncode == 0, one.stderr
    assert _strict_json(result.read_text())["outputs"]["x"] is None and "NaN" in one.stderr
    _strict_json(trace.read_text())


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs, filled up (root and mount only; skipped elsewhere)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a full disk")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={mnt / 'filler'}", "bs=4k"], capture_output=True)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_full_disk_error_names_the_file(tmp_path, tiny_disk):
    pipe = tmp_path / "hello.yaml"
    pipe.write_text(HELLO)
    result = tiny_disk / "result.json"
    proc = socratic_cli("run", pipe, "-i", "name=Ann", "--out", result, "--no-progress")
    assert proc.returncode == 2 and str(result) in proc.stderr and "No space left" in proc.stderr, proc.stderr
    data = tmp_path / "rows.jsonl"
    data.write_text('{"id": "a", "name": "Ann"}\n')
    out = tiny_disk / "out.jsonl"
    proc = socratic_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
    assert proc.returncode == 2 and str(out) in proc.stderr and "No space left" in proc.stderr, proc.stderr


def test_okvqa_bad_image_pattern_and_missing_image_folder_are_one_line_errors(tmp_path):
    qs = tmp_path / "q.json"
    qs.write_text(json.dumps({"questions": [{"question_id": 1, "image_id": 7, "question": "What is it?"}]}))
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"annotations": [{"question_id": 1, "image_id": 7, "answers": [{"answer": "cat"}]}]}))
    caps = tmp_path / "c.json"
    caps.write_text(json.dumps({"annotations": [{"image_id": 7, "caption": "a cat"}]}))
    (tmp_path / "imgs").mkdir()
    built = socratic_cli("okvqa", "build-memory", "--questions", qs, "--annotations", ann, "--captions", caps,
                    "--out", tmp_path / "mem", "--images", tmp_path / "imgs", "--image-pattern", "{0}",
                    "--random-vlm")
    assert built.returncode == 2 and "--image-pattern" in built.stderr, built.stderr
    assert len(built.stderr.strip().splitlines()) == 1 and not (tmp_path / "mem").exists()
    out = tmp_path / "questions.jsonl"
    asked = socratic_cli("okvqa", "questions", "--questions", qs, "--out", out, "--images", tmp_path / "nodir")
    assert asked.returncode == 2 and "nodir" in asked.stderr and not out.exists(), asked.stderr
