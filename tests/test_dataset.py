"""Dataset mode: rows, owned outputs, resume and retries, batching across items, cache faults, kill -9."""

import codecs
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socratic import Pipeline, SocraticError, node
from socratic.engine.datasets.output import latest_records
from socratic.engine.datasets.output import header_path

import test_engine  # noqa: F401  (t_* node types)
from test_engine import CALLS

TESTS = Path(__file__).resolve().parent
BATCHES: list[list[str]] = []


@node("d_batch", outputs={"text": str}, batched=True)
def d_batch(text: str, *, fail_on: str = "", log_dir: str = "", seconds: float = 0.0) -> list[str]:
    """Upper-cases a whole batch in one call; fails the call when `fail_on` is in it; logs each call's items."""
    BATCHES.append(list(text))
    if log_dir:
        Path(log_dir, f"{time.time_ns()}.{os.getpid()}").write_text("\n".join(text))
    time.sleep(seconds)
    if fail_on and fail_on in text:
        raise ValueError(f"cannot take {fail_on!r}")
    return [t.upper() for t in text]


@node("d_outage", outputs={"text": str}, cacheable=False)
def d_outage(text: str, *, flag: str) -> str:
    """Fails while the file `flag` exists (a server outage)."""
    if Path(flag).exists():
        raise ConnectionError("service unavailable")
    return text + "!"


def _pipe():
    p = Pipeline("texts")
    p.add_input("text", "text").add_input("path", "image", required=False)
    p.add_node("up", "t_upper", inputs={"text": "inputs.text"}).add_output("up", "up.text")
    return p


def _batch_pipe(**params):
    p = Pipeline("batched").add_input("text", "text")
    p.add_node("b", "d_batch", params=params, inputs={"text": "inputs.text"})
    p.add_node("w", "t_warn", inputs={"text": "b.text"})
    p.add_node("s", "t_split", inputs={"text": "w.text"})
    p.add_node("l", "t_len_batched", map="word", inputs={"word": "s.words"})
    return p.add_output("up", "b.text").add_output("lens", "l.n")


def _lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in out.read_text().splitlines()]


def _rows(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- rows -------------------------------------------------------------------------------------------------


def test_jsonl_dataset_writes_one_line_per_item_with_row_errors(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y", "path": "missing.png"}\n'
                    '{"id": "c", "text": "z"}\n')
    out = tmp_path / "out.jsonl"
    counts = _pipe().run_dataset(data, out, cache_dir=tmp_path / "c")
    assert counts == {"done": 2, "skipped": 0, "failed": 1, "retried": 0}
    recs = _lines(out)
    assert [r["id"] for r in recs] == ["a", "b", "c"]
    assert recs[0]["outputs"]["up"] == "X"
    assert recs[1]["error"].startswith(f"{data}:2: field 'path': file not found") and "missing.png" in recs[1]["error"]
    again = _pipe().run_dataset(data, out)  # the failed row is retried, and fails the same way: no new line
    assert again == {"done": 0, "skipped": 2, "failed": 1, "retried": 1}
    assert len(_lines(out)) == 3


def test_malformed_line_is_that_rows_error_and_the_rest_runs(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": \n[1, 2]\n{"id": "c", "text": "z"}\n')
    out = tmp_path / "out.jsonl"
    assert _pipe().run_dataset(data, out)["done"] == 2
    recs = latest_records(out)
    assert recs["2"]["error"].startswith(f"{data}:2: invalid JSON")
    assert recs["3"]["error"] == f"{data}:3: each line must be a JSON object"
    assert recs["c"]["outputs"]["up"] == "Z"


def test_duplicate_and_colliding_ids_are_listed_before_any_work(tmp_path):
    data = tmp_path / "d.jsonl"
    # the second row has no id: it is known by its line number, 2, which the third row also claims
    data.write_text('{"id": "a", "text": "x"}\n{"text": "y"}\n{"id": 2, "text": "z"}\n{"id": "a", "text": "w"}\n')
    out = tmp_path / "out.jsonl"
    CALLS.clear()
    with pytest.raises(SocraticError) as e:
        _pipe().run_dataset(data, out)
    msg = str(e.value)
    assert "'2' (line 2, line 3)" in msg and "'a' (line 1, line 4)" in msg and "\n" not in msg
    assert not out.exists() and "t_upper" not in CALLS


def test_csv_with_bom_json_array_and_folder(tmp_path):
    csvf = tmp_path / "d.csv"
    csvf.write_bytes(codecs.BOM_UTF8 + "id,text\nk1,héllo\nk2,yo\n".encode())
    out = tmp_path / "o.jsonl"
    assert _pipe().run_dataset(csvf, out)["done"] == 2
    assert {k: r["outputs"]["up"] for k, r in latest_records(out).items()} == {"k1": "HÉLLO", "k2": "YO"}
    arr = tmp_path / "d.json"
    arr.write_text(json.dumps([{"id": "x", "text": "a"}, {"text": "b"}], indent=2))
    assert _pipe().run_dataset(arr, tmp_path / "a.jsonl")["done"] == 2
    assert {k: r["outputs"]["up"] for k, r in latest_records(tmp_path / "a.jsonl").items()} == {"x": "A", "1": "B"}
    folder = tmp_path / "texts"
    folder.mkdir()
    for n in ("b.txt", "a.txt"):
        (folder / n).write_text("ignored")
    p = Pipeline().add_input("text", "text")
    p.add_node("up", "t_upper", inputs={"text": "inputs.text"}).add_output("up", "up.text")
    p.run_dataset(folder, tmp_path / "o2.jsonl")
    assert [r["id"] for r in _lines(tmp_path / "o2.jsonl")] == ["a.txt", "b.txt"]


def test_non_utf8_dataset_is_an_error_naming_file_and_line(tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes("id,text\n1,ok\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(SocraticError, match=r"d.csv:3: not UTF-8 text \(byte 0xe9\)"):
        _pipe().run_dataset(data, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_values_are_checked_against_input_types_naming_row_and_field(tmp_path):
    p = Pipeline().add_input("text", "text").add_input("k", "integer", default=1)
    p.add_node("up", "t_upper", inputs={"text": "inputs.text"}).add_output("up", "up.text")
    data = _rows(tmp_path / "d.jsonl", [{"id": "a", "text": "x", "k": "3"}, {"id": "b", "text": ["x"]},
                                        {"id": "c", "text": "y", "k": "many"}, {"id": "d", "k": 2}])
    CALLS.clear()
    counts = p.run_dataset(data, tmp_path / "o.jsonl", cache=False)
    assert counts["done"] == 1 and counts["failed"] == 3 and CALLS["t_upper"] == 1
    recs = latest_records(tmp_path / "o.jsonl")
    assert recs["b"]["error"] == f"{data}:2: field 'text': expected text, got a list"
    assert recs["c"]["error"] == f"{data}:3: field 'k': expected a number, got 'many'"
    assert recs["d"]["error"] == f"{data}:4: field 'text': missing input 'text' (text)"


# -- owned outputs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,content", [
    ("notes.txt", "my notes\nline two\n"),
    ("result.json", json.dumps({"outputs": {"up": "X"}, "warnings": []}, indent=2)),
    ("old.jsonl", '{"id": "a", "outputs": {}}\nnot json\n{"id": "b", "outputs": {}}\n'),
])
def test_foreign_out_file_is_refused_untouched_before_any_work(tmp_path, name, content):
    out = tmp_path / name
    out.write_text(content)
    data = _rows(tmp_path / "d.jsonl", [{"id": "a", "text": "x"}])
    CALLS.clear()
    with pytest.raises(SocraticError, match="not a socratic dataset output.*nothing was changed"):
        _pipe().run_dataset(data, out)
    assert out.read_text() == content and not header_path(out).exists() and "t_upper" not in CALLS


def test_out_equal_to_the_dataset_is_refused(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("id,text\n1,hi\n")
    with pytest.raises(SocraticError, match="--out is the dataset itself"):
        _pipe().run_dataset(data, data)
    assert data.read_text() == "id,text\n1,hi\n"


def test_out_folder_is_checked_before_any_work(tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": "a", "text": "x"}])
    CALLS.clear()
    with pytest.raises(SocraticError, match="--out is a folder"):
        _pipe().run_dataset(data, tmp_path)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SocraticError, match="cannot be created"):
        _pipe().run_dataset(data, tmp_path / "afile" / "sub" / "o.jsonl")
    assert "t_upper" not in CALLS


def test_only_a_torn_final_line_is_repaired(tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": k, "text": k} for k in "abc"])
    out = tmp_path / "o.jsonl"
    _pipe().run_dataset(data, out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1].rstrip("\n"))  # complete but for its newline: kept
    assert _pipe().run_dataset(data, out) == {"done": 1, "skipped": 2, "failed": 0, "retried": 0}
    assert [r["id"] for r in _lines(out)] == ["a", "b", "c"]
    out.write_text("".join(lines[:2]) + '{"id": "c", "outp')  # a write cut short: only it goes
    assert _pipe().run_dataset(data, out)["done"] == 1
    assert [r["id"] for r in _lines(out)] == ["a", "b", "c"]
    damaged = lines[0] + "garbage\n" + lines[1]  # a damaged line elsewhere: refused, nothing cut
    out.write_text(damaged)
    with pytest.raises(SocraticError, match=r"o.jsonl:2: this line is not a record"):
        _pipe().run_dataset(data, out)
    assert out.read_text() == damaged


def test_edited_pipeline_or_other_options_need_resume_anyway_or_restart(tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}])
    out = tmp_path / "o.jsonl"
    _pipe().run_dataset(data, out)
    edited = _pipe()
    edited.nodes["up"].params["suffix"] = "?"
    with pytest.raises(SocraticError, match="pipeline changed.*--resume-anyway.*--restart"):
        edited.run_dataset(data, out)
    with pytest.raises(SocraticError, match="option seed: 0 → 5"):
        _pipe().run_dataset(data, out, seed=5)
    assert len(_lines(out)) == 2
    assert _pipe().run_dataset(data, out, cache=False, batch_size=3)["skipped"] == 2  # no effect on results: fine
    data2 = _rows(tmp_path / "d2.jsonl", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "c", "text": "z"}])
    assert edited.run_dataset(data2, out, resume_anyway=True)["done"] == 1
    head = json.loads(header_path(out).read_text())
    assert len(head["history"]) == 1 and latest_records(out)["c"]["outputs"]["up"] == "Z?"
    edited.run_dataset(data2, out)  # the header now records the edited pipeline
    assert edited.run_dataset(data2, out, seed=2, restart=True)["done"] == 3
    assert [r["outputs"]["up"] for r in _lines(out)] == ["X?", "Y?", "Z?"]


def test_failed_items_are_retried_latest_record_wins_and_skip_failed_keeps_them(tmp_path):
    flag = tmp_path / "outage"
    flag.touch()
    p = Pipeline().add_input("text", "text").add_node("o", "d_outage", params={"flag": str(flag)},
                                                      inputs={"text": "inputs.text"}).add_output("t", "o.text")
    data = _rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"t{i}"} for i in range(5)])
    out = tmp_path / "o.jsonl"
    assert p.run_dataset(data, out) == {"done": 0, "skipped": 0, "failed": 5, "retried": 0}
    assert "service unavailable" in latest_records(out)["0"]["error"]
    flag.unlink()
    assert p.run_dataset(data, out, skip_failed=True) == {"done": 0, "skipped": 5, "failed": 5, "retried": 0}
    assert p.run_dataset(data, out) == {"done": 5, "skipped": 0, "failed": 0, "retried": 5}
    assert {k: r["outputs"]["t"] for k, r in latest_records(out).items()} == {str(i): f"t{i}!" for i in range(5)}
    assert len(_lines(out)) == 10  # the history stays; the latest record wins
    assert p.run_dataset(data, out) == {"done": 0, "skipped": 5, "failed": 0, "retried": 0}


# -- batching ---------------------------------------------------------------------------------------------


def test_batches_reach_model_nodes_whole_and_equal_one_at_a_time(tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"item {i} " + "w" * i} for i in range(7)])
    BATCHES.clear()
    one = _batch_pipe().run_dataset(data, tmp_path / "one.jsonl", batch_size=1, cache=False)
    assert [len(b) for b in BATCHES] == [1] * 7
    BATCHES.clear()
    CALLS.pop("batches", None)
    many = _batch_pipe().run_dataset(data, tmp_path / "many.jsonl", batch_size=3, cache=False)
    assert [len(b) for b in BATCHES] == [3, 3, 1]
    assert CALLS["batches"] == [8, 9, 3]  # the mapped batched node: every word of the batch's items in one call
    assert one == many == {"done": 7, "skipped": 0, "failed": 0, "retried": 0}
    assert _lines(tmp_path / "one.jsonl") == _lines(tmp_path / "many.jsonl")
    rec = latest_records(tmp_path / "many.jsonl")["4"]
    assert rec["outputs"] == {"up": "ITEM 4 WWWW", "lens": [4, 1, 4]} and rec["warnings"] == ["careful"]


def test_default_batch_size_follows_the_pipeline(tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"t{i}"} for i in range(10)])
    BATCHES.clear()
    _batch_pipe().run_dataset(data, tmp_path / "o.jsonl", cache=False)
    assert [len(b) for b in BATCHES] == [8, 2]


def test_an_item_failing_inside_a_batch_is_retried_alone(tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": t, "text": t} for t in ("a", "b", "bad", "c")])
    BATCHES.clear()
    counts = _batch_pipe(fail_on="bad").run_dataset(data, tmp_path / "o.jsonl", batch_size=4, cache=False)
    assert counts == {"done": 3, "skipped": 0, "failed": 1, "retried": 0}
    assert BATCHES == [["a", "b", "bad", "c"], ["a"], ["b"], ["bad"], ["c"]]
    recs = latest_records(tmp_path / "o.jsonl")
    assert "cannot take 'bad'" in recs["bad"]["error"] and "node 'b'" in recs["bad"]["error"]
    assert recs["c"]["outputs"]["up"] == "C"


# -- cache faults -----------------------------------------------------------------------------------------


def test_damaged_or_unusable_cache_degrades_with_one_warning(tmp_path, capfd):
    import socratic.engine.cache as cache_mod

    data = _rows(tmp_path / "d.jsonl", [{"id": k, "text": k} for k in "abc"])
    cache = tmp_path / "cache"
    _pipe().run_dataset(data, tmp_path / "o1.jsonl", cache_dir=cache)
    for f in cache.rglob("*.pkl"):  # every entry replaced by a folder
        f.unlink()
        f.mkdir()
    cache_mod._REPORTED.clear()
    capfd.readouterr()
    assert _pipe().run_dataset(data, tmp_path / "o2.jsonl", cache_dir=cache)["done"] == 3
    err = capfd.readouterr().err
    assert err.count("warning:") == 1 and str(cache) in err and "--no-cache" in err
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    cache_mod._REPORTED.clear()
    assert _pipe().run_dataset(data, tmp_path / "o3.jsonl", cache_dir=blocker / "cache")["done"] == 3
    err = capfd.readouterr().err
    assert err.count("warning:") == 1 and str(blocker / "cache") in err
    assert latest_records(tmp_path / "o3.jsonl")["a"]["outputs"]["up"] == "A"


# -- kill -9 ----------------------------------------------------------------------------------------------


def test_killed_mid_batch_resumes_without_loss_or_recomputation(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    data = _rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"t{i}"} for i in range(12)])
    out = tmp_path / "out.jsonl"
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_dataset as t; "
              f"print(t._batch_pipe(log_dir={str(log)!r}, seconds=0.4).run_dataset({str(data)!r}, {str(out)!r}, "
              f"batch_size=3, cache=False))")
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 3):
        time.sleep(0.02)
    time.sleep(0.2)  # inside the next batch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r["id"] for r in _lines(out)}
    assert len(first) % 3 == 0 and 3 <= len(first) < 12
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"'skipped': {len(first)}" in done.stdout
    ids = [r["id"] for r in _lines(out)]
    assert sorted(ids, key=int) == [str(i) for i in range(12)]  # none lost, no duplicate line
    second = {t[1:] for f in log.iterdir() if not f.name.endswith(f".{proc.pid}") for t in f.read_text().split("\n")}
    assert second == {str(i) for i in range(12)} - first  # finished items never ran again


def test_real_models_give_the_same_records_batched_as_one_at_a_time(tmp_path):
    from socratic.media.sample import sample_images

    stills = list(sample_images().values())
    rows = []
    for i in range(6):
        stills[i % 4].rotate(40 * i).resize((64, 64)).save(tmp_path / f"{i}.png")
        rows.append({"id": str(i), "image": f"{i}.png"})
    data = _rows(tmp_path / "d.jsonl", rows)
    p = Pipeline("clip_lm").add_input("image", "image")
    p.models["clip"] = {"family": "vlm", "backend": "open_clip", "random_init": True, "config": {
        "embed_dim": 64, "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}}
    p.models["lm"] = {"family": "lm", "backend": "transformers", "packaged": "smollm2-135m-instruct"}
    p.add_node("labels", "clip_classify", params={"vlm": "clip", "vocab": ["cat", "cup", "rocket", "person", "sky"],
                                                 "top_k": 2}, inputs={"image": "inputs.image"})
    p.add_node("objects", "join", inputs={"items": "labels.labels"})
    p.add_node("q", "prompt", params={"template": "Objects: {objects}. Caption:"}, inputs={"objects": "objects.text"})
    p.add_node("cap", "lm_generate", params={"lm": "lm", "max_new_tokens": 5}, inputs={"prompt": "q.text"})
    p.add_output("caption", "cap.text").add_output("labels", "labels.labels")
    one = p.run_dataset(data, tmp_path / "one.jsonl", batch_size=1, cache=False)
    from socratic.models.loader import _POOL

    for model in _POOL.values():  # CLIP must encode the images again, batched this time
        getattr(model, "_image_memo", {}).clear()
    many = p.run_dataset(data, tmp_path / "many.jsonl", batch_size=4, cache=False)
    assert one == many == {"done": 6, "skipped": 0, "failed": 0, "retried": 0}
    assert latest_records(tmp_path / "one.jsonl") == latest_records(tmp_path / "many.jsonl")
