"""Dataset mode against a real OpenAI-compatible server (llama.cpp on loopback) that stops mid-run: the re-run,
on a restarted server, completes exactly the items that failed."""

import importlib.util
import json
import threading
import time

import pytest

from socratic import Pipeline, node
from socratic.models.base import LM
from socratic.engine.datasets.output import latest_records
from support.llama_server import PACKAGED_LM, SERVER_MODEL_ALIAS, start_llama_server

import test_engine  # noqa: F401  (t_sleep)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")


@node("d_ask", outputs={"text": str}, batched=True)
def d_ask(prompt: str, *, lm: LM) -> list[str]:
    """One greedy completion per prompt, the whole batch in one call."""
    return [row[0].text for row in lm.generate(list(prompt), max_new_tokens=4, temperature=0.0)]


def _pipeline(base_url: str) -> Pipeline:
    p = Pipeline("served")
    p.add_model("lm", "lm", "openai", base_url=base_url, model=SERVER_MODEL_ALIAS, max_retries=0, timeout=30)
    p.add_input("text", "text")
    p.add_node("pace", "t_sleep", params={"seconds": 0.3}, inputs={"text": "inputs.text"}, cache=False)
    p.add_node("q", "prompt", params={"template": "Repeat the word: {text}"}, inputs={"text": "inputs.text"})
    p.add_node("a", "d_ask", params={"lm": "lm"}, inputs={"prompt": "q.text"})
    return p.add_output("answer", "a.text")


def test_server_stopped_mid_run_then_rerun_completes_exactly_the_failed_items(tmp_path):
    from socratic.models.packaged import resolve_packaged

    gguf = resolve_packaged(PACKAGED_LM)
    words = ["apple", "river", "stone", "cloud", "green", "house", "light", "music", "paper", "table"]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": w, "text": w}) + "\n" for w in words))
    out = tmp_path / "out.jsonl"
    first: dict = {}
    with start_llama_server(gguf) as url:
        run = threading.Thread(target=lambda: first.update(
            _pipeline(url).run_dataset(data, out, batch_size=1, cache=False)))
        run.start()
        t0 = time.time()
        while not out.exists() or out.read_text().count("\n") < 3:
            assert time.time() - t0 < 120 and run.is_alive()
            time.sleep(0.02)
    run.join(timeout=120)  # the server is gone: the rest fail
    after_first = latest_records(out)
    failed = {k for k, r in after_first.items() if "error" in r}
    ok = set(words) - failed
    assert first == {"done": len(ok), "skipped": 0, "failed": len(failed), "retried": 0}
    assert len(ok) >= 3 and failed, first
    assert all("\n" not in after_first[k]["error"] for k in failed)
    n_lines = len(out.read_text().splitlines())
    with start_llama_server(gguf) as url:  # a new server, on another port: the same results
        second = _pipeline(url).run_dataset(data, out, batch_size=4, cache=False)
    assert second == {"done": len(failed), "skipped": len(ok), "failed": 0, "retried": len(failed)}
    new_ids = [json.loads(x)["id"] for x in out.read_text().splitlines()[n_lines:]]
    assert sorted(new_ids) == sorted(failed)  # exactly the failed items, each once
    final = latest_records(out)
    assert set(final) == set(words) and all(isinstance(r["outputs"]["answer"], str) for r in final.values())
    assert all(final[k] == after_first[k] for k in ok)
