"""Engine: wiring, topological execution, concurrency, mapping, batching, cache, trace, YAML round-trip."""

import threading
import time
from typing import Any

import pytest

from socratic import Pipeline, SocraticError, node
from socratic.context import Context

CALLS: dict[str, int] = {}


def _count(name):
    CALLS[name] = CALLS.get(name, 0) + 1


@node("t_upper", outputs={"text": str})
def t_upper(text: str, *, suffix: str = "") -> str:
    _count("t_upper")
    return text.upper() + suffix


@node("t_split", outputs={"words": list[str], "count": int})
def t_split(text: str) -> dict[str, Any]:
    return {"words": text.split(), "count": len(text.split())}


@node("t_len_batched", outputs={"n": int}, batched=True)
def t_len_batched(word: str) -> list[int]:
    CALLS.setdefault("batches", []).append(len(word))
    return [len(w) for w in word]


@node("t_sleep", outputs={"t": float})
def t_sleep(text: str, *, seconds: float = 0.3) -> float:
    time.sleep(seconds)
    return time.perf_counter()


@node("t_warn", outputs={"text": str})
def t_warn(text: str, *, ctx: Context) -> str:
    ctx.warn("careful")
    return text


@node("t_fail", outputs={"text": str})
def t_fail(text: str) -> str:
    raise ValueError("boom")


def _simple() -> Pipeline:
    p = Pipeline("simple")
    p.add_input("text", "text")
    p.add_node("up", "t_upper", params={"suffix": "!"}, inputs={"text": "inputs.text"})
    p.add_node("split", "t_split", inputs={"text": "up.text"})
    p.add_node("lens", "t_len_batched", map="word", inputs={"word": "split.words"})
    p.add_output("words", "split.words")
    p.add_output("lens", "lens.n")
    p.add_output("first", "split.words[0]")
    return p


def test_runs_in_topological_order_with_map_and_batching(tmp_path):
    CALLS.clear()
    res = _simple().run(text="hello big world", cache_dir=tmp_path)
    assert res.outputs["words"] == ["HELLO", "BIG", "WORLD!"]
    assert res.outputs["lens"] == [5, 3, 6]
    assert res.outputs["first"] == "HELLO"
    assert CALLS["batches"] == [3]  # the whole mapped list went to one batched call
    assert [r.node for r in res.trace.records] == ["up", "split", "lens"]


def test_unmapped_batched_node_gets_a_one_item_batch(tmp_path):
    p = Pipeline()
    p.add_input("w", "text").add_node("n", "t_len_batched", inputs={"word": "inputs.w"}).add_output("n", "n.n")
    assert p.run(w="abcd", cache_dir=tmp_path)["n"] == 4


def test_mapped_plain_node_runs_per_item(tmp_path):
    p = Pipeline()
    p.add_input("ws", "texts")
    p.add_node("up", "t_upper", map=["text"], inputs={"text": "inputs.ws"})
    p.add_output("out", "up.text")
    assert p.run(ws=["a", "b"], cache_dir=tmp_path)["out"] == ["A", "B"]


def test_independent_branches_run_concurrently(tmp_path):
    p = Pipeline()
    p.add_input("x", "text")
    for i in range(3):
        p.add_node(f"s{i}", "t_sleep", params={"seconds": 0.4}, inputs={"text": "inputs.x"}, cache=False)
        p.add_output(f"s{i}", f"s{i}.t")
    start = time.perf_counter()
    p.run(x="go", cache_dir=tmp_path)
    assert time.perf_counter() - start < 1.0  # sequential would take ≥ 1.2 s


def test_cache_hit_skips_node_and_is_keyed_by_params(tmp_path):
    CALLS.clear()
    p = _simple()
    first = p.run(text="a b", cache_dir=tmp_path)
    second = p.run(text="a b", cache_dir=tmp_path)
    assert CALLS["t_upper"] == 1
    assert second.outputs == first.outputs
    assert all(r.cached for r in second.trace.records)
    p.nodes["up"].params["suffix"] = "?"
    p.run(text="a b", cache_dir=tmp_path)
    assert CALLS["t_upper"] == 2
    p.run(text="a b", cache_dir=tmp_path, cache=False)
    assert CALLS["t_upper"] == 3


def test_editing_a_node_retires_its_cache_entries(tmp_path):
    # what a user does: run, edit the node's code, run again in a new process with the same disk cache
    import subprocess
    import sys

    module = tmp_path / "my_nodes.py"
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import my_nodes\n"
              "from socratic import Pipeline\n"
              "p = Pipeline().add_input('t', 'text').add_node('e', 't_edition', inputs={'text': 'inputs.t'})\n"
              "r = p.add_output('out', 'e.text').run(t='x', cache_dir=sys.argv[2])\n"
              "print(r['out'], r.trace.records[0].cached)\n")

    def run(edition: str) -> str:
        module.write_text("from socratic import node\n\n\n@node('t_edition', outputs={'text': str})\n"
                          f"def t_edition(text: str) -> str:\n    return text + {edition!r}\n")
        proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(tmp_path / "cache")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert run(" v1") == "x v1 False"
    assert run(" v1") == "x v1 True"
    assert run(" v2") == "x v2 False"  # same name and version string, other code


def test_corrupted_cache_entry_is_recomputed(tmp_path):
    CALLS.clear()
    p = _simple()
    p.run(text="x y", cache_dir=tmp_path)
    for f in tmp_path.rglob("*.pkl"):
        f.write_bytes(f.read_bytes()[:-5] + b"XXXXX")
    res = p.run(text="x y", cache_dir=tmp_path)
    assert CALLS["t_upper"] == 2
    assert res.outputs["words"] == ["X", "Y!"]
    assert not any(r.cached for r in res.trace.records)


def test_warnings_reach_trace_and_result_even_from_cache(tmp_path):
    p = Pipeline().add_input("t", "text").add_node("w", "t_warn", inputs={"text": "inputs.t"})
    p.add_output("t", "w.text")
    assert p.run(t="x", cache_dir=tmp_path).warnings == ["careful"]
    again = p.run(t="x", cache_dir=tmp_path)
    assert again.trace.records[0].cached and again.warnings == ["careful"]


def test_node_failure_names_the_node(tmp_path):
    p = Pipeline().add_input("t", "text").add_node("bad", "t_fail", inputs={"text": "inputs.t"})
    p.add_output("t", "bad.text")
    with pytest.raises(SocraticError) as e:
        p.run(t="x", cache_dir=tmp_path)
    assert "node 'bad'" in str(e.value) and "boom" in str(e.value) and "\n" not in str(e.value)


def test_missing_and_unknown_run_inputs(tmp_path):
    p = _simple()
    with pytest.raises(SocraticError, match="missing input 'text'"):
        p.run(cache_dir=tmp_path)
    with pytest.raises(SocraticError, match="unknown input"):
        p.run(text="a", nope=1, cache_dir=tmp_path)


def test_yaml_round_trip_is_identical():
    p = _simple()
    text = p.to_yaml()
    q = Pipeline.from_yaml(text)
    assert q.to_dict() == p.to_dict()
    assert q.to_yaml() == text


def test_trace_records_text_in_full_and_summarises_media(tmp_path):
    from PIL import Image

    from socratic.engine.trace import summarise

    res = _simple().run(text="one two", cache_dir=tmp_path)
    rec = res.trace.records[0]
    assert rec.inputs == {"text": "one two"} and rec.outputs == {"text": "ONE TWO!"}
    assert summarise(Image.new("RGB", (4, 3))) == "<image 4x3 RGB>"
    assert "ONE TWO!" in res.trace.transcript_text()
    assert any(m["text"] == "one two" and m["dir"] == "in" for m in res.trace.transcript())


def test_trace_never_holds_api_keys():
    from socratic.engine.trace import redact

    assert "sk-abcdefghijkl" not in redact("key sk-abcdefghijkl used")
    assert "s3cret" not in redact('{"api_key": "s3cret"}')


def test_models_load_once_per_process():
    from socratic.models.loader import ModelSpec, _BACKENDS, backend, load_model
    from socratic.models.base import LM

    loads = []

    @backend("lm", "t_echo")
    def _load(spec):
        loads.append(spec)

        class Echo(LM):
            model_id = "echo"

            def generate(self, prompts, **kw):
                raise NotImplementedError

            def score(self, prompts, continuations):
                raise NotImplementedError

        return Echo()

    try:
        a = load_model(ModelSpec.from_dict("a", {"family": "lm", "backend": "t_echo", "x": 1}))
        b = load_model(ModelSpec.from_dict("b", {"family": "lm", "backend": "t_echo", "x": 1}))
        assert a is b and len(loads) == 1
    finally:
        _BACKENDS.pop(("lm", "t_echo"))


def test_thread_safety_of_concurrent_runs(tmp_path):
    p = _simple()
    out = []
    threads = [threading.Thread(target=lambda i=i: out.append(p.run(text=f"w{i} x", cache_dir=tmp_path)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.outputs["words"][0] for r in out) == ["W0", "W1", "W2", "W3"]


@node("t_pixels", outputs={"n": int})
def t_pixels(image: Any) -> int:
    return len(image.tobytes())


def test_lazily_opened_image_is_safe_for_parallel_branches(tmp_path):
    from PIL import Image

    path = tmp_path / "x.png"
    Image.new("RGB", (64, 48), (1, 2, 3)).save(path)
    p = Pipeline().add_input("image", "image")
    for i in range(4):
        p.add_node(f"b{i}", "t_pixels", inputs={"image": "inputs.image"}, cache=False).add_output(f"b{i}", f"b{i}.n")
    for _ in range(5):
        out = p.run(image=Image.open(path), cache_dir=tmp_path).outputs  # not loaded yet: PIL reads lazily
        assert set(out.values()) == {64 * 48 * 3}


def test_run_batch_calls_batched_nodes_once_and_equals_single_runs(tmp_path):
    from socratic.engine.runner import run_batch

    p = _simple()
    texts = ["a bb", "ccc", "dd ee ff"]
    CALLS.clear()
    results = run_batch(p.validate(), [{"text": t} for t in texts], cache=False)
    assert CALLS["batches"] == [6]  # the mapped batched node: every word of every item in one call
    assert CALLS["t_upper"] == 3  # a plain node: once per item
    for t, res in zip(texts, results):
        single = p.run(text=t, cache=False)
        assert res.outputs == single.outputs
        assert [r.node for r in res.trace.records] == [r.node for r in single.trace.records]
        assert res.trace.records[2].items == len(t.split())


def test_run_batch_item_errors_stay_with_their_item(tmp_path):
    from socratic.engine.runner import run_batch

    p = Pipeline().add_input("text", "text").add_input("k", "integer", default=0)
    p.add_node("s", "t_split", inputs={"text": "inputs.text"})
    p.add_output("first", "s.words[0]")
    res = run_batch(p.validate(), [{"text": "a b"}, {"text": ""}, {"text": "c", "k": "x"}, {"text": "d"}],
                    cache=False)
    assert res[0].outputs["first"] == "a" and res[3].outputs["first"] == "d"
    assert isinstance(res[1], SocraticError) and "index 0 out of range" in str(res[1])
    assert isinstance(res[2], SocraticError) and "expected an integer, got 'x'" in str(res[2])
