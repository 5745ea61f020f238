"""Dataset mode: JSONL/CSV/folder inputs, one line per item, per-item errors, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time

from socratic import Pipeline
from socratic.dataset import finished_ids

import test_engine  # noqa: F401

SLOW = """\
inputs:
  text: {type: text}
  delay: {type: number, default: 0.0}
nodes:
  wait: {type: t_sleep, params: {seconds: 0.5}, inputs: {text: inputs.text}, cache: false}
  up: {type: t_upper, inputs: {text: inputs.text}}
outputs:
  up: up.text
"""


def _pipe():
    p = Pipeline()
    p.add_input("text", "text").add_input("path", "image", required=False)
    p.add_node("up", "t_upper", inputs={"text": "inputs.text"}).add_output("up", "up.text")
    return p


def test_jsonl_dataset_writes_one_line_per_item_and_records_errors(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y", "path": "missing.png"}\n'
                    '{"id": "c", "text": "z"}\n')
    out = tmp_path / "out.jsonl"
    counts = _pipe().run_dataset(data, out, cache_dir=tmp_path / "c")
    assert counts == {"done": 2, "skipped": 0, "failed": 1}
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == ["a", "b", "c"]
    assert recs[0]["outputs"]["up"] == "X" and "missing.png" in recs[1]["error"]
    assert _pipe().run_dataset(data, out) == {"done": 0, "skipped": 3, "failed": 0}


def test_csv_and_folder_datasets(tmp_path):
    csvf = tmp_path / "d.csv"
    csvf.write_text("id,text\n1,hi\n2,yo\n")
    out = tmp_path / "o.jsonl"
    assert _pipe().run_dataset(csvf, out)["done"] == 2
    folder = tmp_path / "texts"
    folder.mkdir()
    for n in ("b.txt", "a.txt"):
        (folder / n).write_text("ignored")
    p = Pipeline().add_input("text", "text")
    p.add_node("up", "t_upper", inputs={"text": "inputs.text"}).add_output("up", "up.text")
    out2 = tmp_path / "o2.jsonl"
    p.run_dataset(folder, out2)
    assert [json.loads(l)["id"] for l in out2.read_text().splitlines()] == ["a.txt", "b.txt"]


def test_torn_last_line_is_cut_and_recomputed(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "a", "outputs": {}}\n{"id": "b", "outp')
    assert finished_ids(out) == {"a"}
    assert out.read_text() == '{"id": "a", "outputs": {}}\n'


def test_killed_run_resumes_without_recomputing(tmp_path, repo):
    pipe = tmp_path / "slow.yaml"
    pipe.write_text(SLOW)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"t{i}"}) + "\n" for i in range(8)))
    out = tmp_path / "out.jsonl"
    script = (f"import sys; sys.path.insert(0, {str(repo / 'tests')!r}); import test_engine; "
              f"from socratic import Pipeline; "
              f"print(Pipeline.from_yaml({str(pipe)!r}).run_dataset({str(data)!r}, {str(out)!r}))")
    env = {**os.environ, "SOCRATIC_NODE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = [json.loads(l)["id"] for l in out.read_text().splitlines()]
    assert 3 <= len(first) < 8
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"'skipped': {len(first)}" in done.stdout
    ids = [json.loads(l)["id"] for l in out.read_text().splitlines()]
    assert sorted(ids, key=int) == [str(i) for i in range(8)] and len(ids) == 8
