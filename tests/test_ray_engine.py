"""Dataset mode on Ray: same records as local mode, worker deaths lose nothing, killed drivers resume."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from socratic import Pipeline, SocraticError
from socratic.engine.jsonl import finished_ids
from socratic.engine.datasets.output import latest_records as finished_records
from socratic.engine.datasets.ray import (NODE_RESOURCES, _check_reachable, actor_resources, declare_resources,
                                          worker_code)

import ray_nodes
import test_engine  # noqa: F401  (t_* node types)

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(300)
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_cluster():
    """One local 2-CPU cluster for the session; yields its address for drivers in other processes."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _records(path: Path) -> dict[str, dict]:
    lines = path.read_text().splitlines()
    recs = {}
    for line in lines:
        rec = json.loads(line)
        assert rec["id"] not in recs, f"item {rec['id']} written twice"
        recs[rec["id"]] = rec
    return recs


def _complete_ids(path: Path) -> set[str]:
    """Ids of the lines written so far, read while a driver may be appending."""
    ids = set()
    for line in path.read_text().splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except ValueError:
            pass
    return ids


def _write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _mark_pipeline(log_dir: Path, seconds: float) -> Pipeline:
    p = Pipeline("marks").add_input("text", "text")
    p.add_node("mark", "r_mark", params={"seconds": seconds, "log_dir": str(log_dir)}, inputs={"text": "inputs.text"})
    return p.add_output("up", "mark.text")


def _wait_for_lines(path: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


# -- no cluster needed ----------------------------------------------------------------------------------


def test_ray_not_imported_by_local_mode_and_missing_ray_is_a_one_line_error(tmp_path):
    script = ("import sys; sys.path.insert(0, %r); import test_engine, socratic.cli\n"
              "from socratic import Pipeline, SocraticError\n"
              "p = Pipeline().add_input('text', 'text').add_node('u', 't_upper', inputs={'text': 'inputs.text'})\n"
              "p.add_output('u', 'u.text')\n"
              "print(p.run_dataset([{'text': 'a'}], %r))\n"
              "assert 'ray' not in sys.modules, 'local mode imported ray'\n"
              "sys.modules['ray'] = None  # as if Ray were not installed\n"
              "try:\n    p.run_dataset([{'text': 'a'}], %r, engine='ray')\n"
              "except SocraticError as e:\n    print('ERR', e)\n"
              ) % (str(TESTS), str(tmp_path / "local.jsonl"), str(tmp_path / "ray.jsonl"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "'done': 1" in done.stdout
    assert "ERR" in done.stdout and "pip install 'socratic[ray]'" in done.stdout, done.stdout + done.stderr


def test_ray_actor_resources_follow_models_node_table_and_overrides():
    p = Pipeline().add_input("q", "text")
    p.add_model("local", "lm", "transformers", id="some/model", device="cuda")
    p.add_model("api", "lm", "openai", id="gpt-x")
    p.add_model("auto", "lm", "transformers", id="some/model")
    p.add_node("a", "lm_generate", params={"lm": "api"}, inputs={"prompt": "inputs.q"})
    p.add_output("a", "a.text")
    plan = p.validate()
    cpu_cluster, gpu_cluster = {"CPU": 8.0}, {"CPU": 8.0, "GPU": 2.0}
    assert actor_resources(plan, gpu_cluster) == {"num_cpus": 1.0, "num_gpus": 0.0}  # API model: no GPU
    p.nodes["a"].params["lm"] = "auto"
    plan = p.validate()
    assert actor_resources(plan, cpu_cluster)["num_gpus"] == 0.0  # device auto, no GPU in the cluster
    assert actor_resources(plan, gpu_cluster)["num_gpus"] == 1.0  # one model copy per actor on a GPU
    assert actor_resources(plan, gpu_cluster, {"num_gpus": 0.25})["num_gpus"] == 0.25  # fractional
    p.nodes["a"].params["lm"] = "local"
    plan = p.validate()
    assert actor_resources(plan, cpu_cluster)["num_gpus"] == 1.0
    declare_resources("lm_generate", num_cpus=3)
    try:
        assert actor_resources(plan, cpu_cluster)["num_cpus"] == 3
    finally:
        NODE_RESOURCES.pop("lm_generate")
    with pytest.raises(SocraticError, match="unknown resource"):
        actor_resources(plan, cpu_cluster, {"gpus": 1})


def test_ray_workers_get_inlined_prompts_and_the_node_modules(tmp_path):
    (tmp_path / "q.txt").write_text("Q: {text}\nA:")
    (tmp_path / "p.yaml").write_text(
        "inputs: {text: text}\nnodes:\n"
        "  q: {type: prompt, params: {template: {file: q.txt}}, inputs: {text: inputs.text}}\n"
        "  up: {type: r_fail, inputs: {text: q.text}}\noutputs: {up: up.text}\n")
    p = Pipeline.from_yaml(tmp_path / "p.yaml")
    plan = p.validate()
    spec = plan.payload
    assert spec["nodes"]["q"]["params"]["template"] == "Q: {text}\nA:"
    modules, by_value, backends = worker_code(plan)
    assert ("ray_nodes", str(TESTS)) in modules and not by_value and not backends


def test_ray_unreachable_address_fails_fast_with_one_line():
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        with pytest.raises(SocraticError, match="cannot reach the Ray cluster at .*127.0.0.1:1"):
            _check_reachable(address)
    _check_reachable("auto")  # left to Ray


# -- on a local 2-CPU Ray cluster -----------------------------------------------------------------------


def test_ray_results_equal_local_item_for_item(ray_cluster, tmp_path):
    (tmp_path / "q.txt").write_text("say {text}")
    (tmp_path / "p.yaml").write_text(
        "inputs: {text: text}\nnodes:\n"
        "  q: {type: prompt, params: {template: {file: q.txt}}, inputs: {text: inputs.text}}\n"
        "  check: {type: r_fail, inputs: {text: inputs.text}}\n"
        "  up: {type: t_upper, params: {suffix: '!'}, inputs: {text: q.text}}\n"
        "  split: {type: t_split, inputs: {text: up.text}}\n"
        "  lens: {type: t_len_batched, map: [word], inputs: {word: split.words}}\n"
        "  warn: {type: t_warn, inputs: {text: check.text}}\n"
        "outputs: {words: split.words, lens: lens.n, first: 'split.words[0]', checked: warn.text}\n")
    p = Pipeline.from_yaml(tmp_path / "p.yaml")
    rows = [{"id": f"i{i}", "text": f"item number {i}"} for i in range(9)]
    rows += [{"id": "bad", "text": "bad"}, {"id": "no-text", "other": 1}]
    data = _write_rows(tmp_path / "d.jsonl", rows)
    local_counts = p.run_dataset(data, tmp_path / "local.jsonl")
    ray_counts = p.run_dataset(data, tmp_path / "ray.jsonl", engine="ray", batch_size=2)
    assert ray_counts == local_counts == {"done": 9, "skipped": 0, "failed": 2, "retried": 0}
    local, remote = _records(tmp_path / "local.jsonl"), _records(tmp_path / "ray.jsonl")
    assert remote == local
    assert remote["i3"]["outputs"]["words"] == ["SAY", "ITEM", "NUMBER", "3!"]
    assert remote["i3"]["warnings"] == ["careful"]
    assert "bad item" in remote["bad"]["error"] and "missing input 'text'" in remote["no-text"]["error"]


def test_ray_worker_killed_mid_run_loses_nothing(ray_cluster, tmp_path):
    log = tmp_path / "calls"
    log.mkdir()
    out = tmp_path / "out.jsonl"
    data = _write_rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"t{i}"} for i in range(12)])
    killed: list[int] = []

    def kill_the_running_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            written = _complete_ids(out)
            running = [ps[-1] for text, ps in ray_nodes.calls(log).items()
                       if text[1:] not in written and ps[-1] not in killed]
            if running:  # mid-item
                os.kill(running[0], signal.SIGKILL)
                killed.append(running[0])
                return
            time.sleep(0.01)

    def killer():  # one worker: everything after a kill runs on its replacement
        _wait_for_lines(out, 2)
        kill_the_running_worker()
        _wait_for_lines(out, 5)
        kill_the_running_worker()

    t = threading.Thread(target=killer)
    t.start()
    counts = _mark_pipeline(log, 0.3).run_dataset(data, out, engine="ray", cache=False, workers=1)
    t.join()
    assert counts == {"done": 12, "skipped": 0, "failed": 0, "retried": 0}
    recs = _records(out)
    assert {k: r["outputs"]["up"] for k, r in recs.items()} == {str(i): f"T{i}" for i in range(12)}
    calls = ray_nodes.calls(log)
    pids = {pid for ps in calls.values() for pid in ps}
    assert len(killed) == 2 and len(pids) == 3  # two replacements
    for pid in killed:  # the item each dead worker was running ran again on its replacement
        assert any(pid in ps[:-1] for ps in calls.values())


def test_ray_item_that_kills_its_worker_gets_an_error_record(ray_cluster, tmp_path):
    p = Pipeline().add_input("text", "text").add_node("c", "r_crash", inputs={"text": "inputs.text"})
    p.add_output("t", "c.text")
    out = tmp_path / "out.jsonl"
    rows = [{"id": t, "text": t} for t in ("a", "b", "crash", "c", "d", "e")]
    counts = p.run_dataset(rows, out, engine="ray", batch_size=2, max_attempts=2)
    assert counts == {"done": 5, "skipped": 0, "failed": 1, "retried": 0}
    recs = _records(out)
    assert "worker died 2 times" in recs["crash"]["error"]
    assert all(recs[t]["outputs"]["t"] == t for t in "abcde")


def test_ray_killed_driver_resumes_without_recomputing(ray_cluster, tmp_path):
    log = tmp_path / "calls"
    log.mkdir()
    pipe = tmp_path / "p.yaml"
    _mark_pipeline(log, 0.4).save(pipe)
    data = _write_rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"t{i}"} for i in range(10)])
    out = tmp_path / "out.jsonl"
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import ray_nodes; from socratic.cli import main; "
              f"main(['run', {str(pipe)!r}, '--dataset', {str(data)!r}, '--out', {str(out)!r}, '--engine', 'ray', "
              f"'--address', {ray_cluster!r}, '--no-progress'])")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_for_lines(out, 3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = sorted(finished_ids(out))  # what the next run will find (a torn last line is cut)
    assert 3 <= len(first) < 10
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"{10 - len(first)} done, {len(first)} skipped, 0 failed, 0 retried" in done.stderr
    recs = _records(out)
    assert {k: r["outputs"]["up"] for k, r in recs.items()} == {str(i): f"T{i}" for i in range(10)}
    calls = ray_nodes.calls(log)
    assert all(len(calls[f"t{i}"]) == 1 for i in first)  # finished items never ran again


def test_ray_node_types_defined_in_a_script_travel_by_value(ray_cluster, tmp_path):
    script = ("from socratic import Pipeline, node\n"
              "@node('r_script_twice', outputs={'text': str})\n"
              "def twice(text: str) -> str:\n    return text * 2\n"
              "p = Pipeline().add_input('text', 'text')\n"
              "p.add_node('d', 'r_script_twice', inputs={'text': 'inputs.text'})\n"
              "p.add_output('d', 'd.text')\n"
              f"print(p.run_dataset([{{'text': 'ab'}}, {{'text': 'c'}}], {str(tmp_path / 'o.jsonl')!r}, engine='ray',"
              f" address={ray_cluster!r}, workers=1, progress=False))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    recs = _records(tmp_path / "o.jsonl")
    assert {k: r["outputs"]["d"] for k, r in recs.items()} == {"0": "abab", "1": "cc"}


def test_ray_batches_whole_retries_failed_items_and_respects_the_lock(ray_cluster, tmp_path):
    log, flag = tmp_path / "calls", tmp_path / "outage"
    log.mkdir()
    flag.touch()
    p = Pipeline("batches").add_input("text", "text")
    p.add_node("b", "r_batch", params={"log_dir": str(log), "flag": str(flag)}, inputs={"text": "inputs.text"})
    p.add_output("up", "b.text")
    data = _write_rows(tmp_path / "d.jsonl", [{"id": str(i), "text": f"t{i}"} for i in range(7)])
    out = tmp_path / "out.jsonl"
    counts = p.run_dataset(data, out, engine="ray", batch_size=3, workers=1)
    assert counts == {"done": 0, "skipped": 0, "failed": 7, "retried": 0}
    assert ray_nodes.batch_sizes(log) == [1] * 7 + [3, 3]  # each failing batch of 3, then its items alone
    flag.unlink()
    for f in log.iterdir():
        f.unlink()
    assert p.run_dataset(data, out, engine="ray", batch_size=3, workers=1, skip_failed=True)["failed"] == 7
    counts = p.run_dataset(data, out, engine="ray", batch_size=3, workers=1)
    assert counts == {"done": 7, "skipped": 0, "failed": 0, "retried": 7}
    assert ray_nodes.batch_sizes(log) == [1, 3, 3]  # one call per batch on the worker
    assert {k: r["outputs"]["up"] for k, r in finished_records(out).items()} == {str(i): f"T{i}" for i in range(7)}
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(%r, os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)") % str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SocraticError, match=f"another run \\(pid {holder.pid}\\) is writing this output"):
            p.run_dataset(data, out, engine="ray", restart=True)
    finally:
        holder.kill()
        holder.wait()
    assert len(finished_records(out)) == 7  # --restart was refused: nothing lost
