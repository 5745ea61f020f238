"""Sub-pipelines: a node of type `pipeline` includes another pipeline file (or object), inlined as namespaced nodes."""

import json
import textwrap

import pytest

from socratic import Pipeline, SocraticError, ValidationError, node
from socratic.context import Context
from socratic.engine.spec import PipelineSpec
from socratic.models.base import LM

import test_engine  # noqa: F401  (registers the t_* node types)
from test_engine import CALLS

DRAWS: list[str] = []


@node("c_draw", outputs={"text": str})
def c_draw(text: str, *, ctx: Context) -> str:
    """Stands in for a sampling node: its output depends on the node's seed."""
    DRAWS.append(ctx.node)
    return f"{text}#{ctx.node_seed() % 1000}"


@node("c_gen", outputs={"text": str}, batched=True)
def c_gen(prompt: str, *, lm: LM) -> list[str]:  # its model is only validated here
    return [p + "!" for p in prompt]


SHOUT = """\
name: shout
inputs:
  text: {type: text}
  suffix: {type: text, default: "?"}
nodes:
  up:
    type: t_upper
    inputs: {text: inputs.text}
  split:
    type: t_split
    inputs: {text: up.text}
  draw:
    type: c_draw
    inputs: {text: up.text}
  lens:
    type: t_len_batched
    map: [word]
    inputs: {word: split.words}
outputs:
  loud: up.text
  words: split.words
  first: split.words[0]
  drawn: draw.text
  lens: lens.n
"""

OUTER = """\
name: outer
inputs:
  text: {type: text}
nodes:
  s:
    type: pipeline
    params: {file: shout.yaml}
    inputs: {text: inputs.text}
  again:
    type: t_upper
    inputs: {text: s.first}
outputs:
  loud: s.loud
  lens: s.lens
  again: again.text
  second: s.words[1]
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def files(tmp_path):
    write(tmp_path, "shout.yaml", SHOUT)
    return write(tmp_path, "outer.yaml", OUTER)


def test_outputs_equal_the_flattened_pipeline(files, tmp_path):
    composed = Pipeline.from_yaml(files).run(text="hi big world", cache_dir=tmp_path / "c")
    flat = Pipeline("outer")  # the same graph written out by hand
    flat.add_input("text", "text")
    flat.add_node("up", "t_upper", inputs={"text": "inputs.text"})
    flat.add_node("split", "t_split", inputs={"text": "up.text"})
    flat.add_node("lens", "t_len_batched", map="word", inputs={"word": "split.words"})
    flat.add_node("again", "t_upper", inputs={"text": "split.words[0]"})
    for name, ref in {"loud": "up.text", "lens": "lens.n", "again": "again.text", "second": "split.words[1]"}.items():
        flat.add_output(name, ref)
    assert composed.outputs == flat.run(text="hi big world", cache_dir=tmp_path / "f").outputs
    assert composed.outputs == {"loud": "HI BIG WORLD", "lens": [2, 3, 5], "again": "HI", "second": "BIG"}


def test_included_nodes_draw_the_numbers_they_draw_alone(files, tmp_path):
    alone = Pipeline.from_yaml(tmp_path / "shout.yaml").run(text="x y", cache_dir=tmp_path / "a", seed=3)
    plan = Pipeline.from_yaml(files).validate()
    assert "s/draw" in plan.order  # namespaced in the including pipeline
    p = Pipeline.from_yaml(files)
    p.add_output("drawn", "s.drawn")
    inside = p.run(text="x y", cache_dir=tmp_path / "b", seed=3)
    assert inside["drawn"] == alone["drawn"] != Pipeline.from_yaml(tmp_path / "shout.yaml").run(
        text="x y", cache_dir=tmp_path / "a", seed=4)["drawn"]


def test_trace_nests_the_included_nodes_and_the_transcript_indents_them(files, tmp_path):
    res = Pipeline.from_yaml(files).run(text="a b", cache_dir=tmp_path)
    assert [r.node for r in res.trace.records][:2] == ["s/up", "s/split"]
    doc = json.loads(res.trace.to_json())
    top = {n["node"]: n for n in doc["nodes"]}
    assert set(top) == {"s", "again"}
    s = top["s"]
    assert s["type"] == "pipeline" and s["file"].endswith("shout.yaml") and s["pipeline"] == "shout"
    assert [n["node"] for n in s["nodes"]] == ["up", "split", "draw", "lens"]
    assert s["inputs"] == {"text": "a b", "suffix": "?"} and s["outputs"]["words"] == ["A", "B"]
    assert s["seconds"] == pytest.approx(sum(n["seconds"] for n in s["nodes"]), abs=1e-3)
    text = res.trace.transcript_text()
    assert "── s [pipeline]" in text
    inner = [ln for ln in text.splitlines() if "s/up [t_upper]" in ln]
    assert inner and inner[0].startswith("  ──")  # indented under its pipeline
    assert any(ln.startswith("── again [t_upper]") for ln in text.splitlines())


def test_cache_hits_on_inner_nodes_across_runs(files, tmp_path):
    CALLS.clear()
    p = Pipeline.from_yaml(files)
    first = p.run(text="a b", cache_dir=tmp_path)
    again = Pipeline.from_yaml(files).run(text="a b", cache_dir=tmp_path)
    assert again.outputs == first.outputs and CALLS["t_upper"] == 2  # s/up and again, once each
    assert all(r.cached for r in again.trace.records)
    assert json.loads(again.trace.to_json())["nodes"][0]["cached"] is True
    # the included file run alone shares the entries: same node code, params, inputs and seed
    alone = Pipeline.from_yaml(tmp_path / "shout.yaml").run(text="a b", cache_dir=tmp_path)
    assert all(r.cached for r in alone.trace.records)


def test_inner_validation_errors_name_the_inner_file_and_line(tmp_path):
    write(tmp_path, "shout.yaml", SHOUT.replace("type: t_split", "type: t_splt").replace(
        "inputs: {text: inputs.text}\n  split", "inputs: {text: inputs.text}\n    params: {colour: red}\n  split"))
    outer = write(tmp_path, "outer.yaml", OUTER)
    with pytest.raises(ValidationError) as e:
        Pipeline.from_yaml(outer).validate()
    msgs = [p.format() for p in e.value.problems]
    inner = str(tmp_path / "shout.yaml")
    bad_type = [m for m in msgs if "unknown node type 't_splt'" in m]
    assert bad_type and bad_type[0].startswith(f"{inner}:10: node 's/split'")
    assert bad_type[0].endswith(f"(included by node 's' at {outer}:5)")
    bad_param = [m for m in msgs if "unknown param 'colour'" in m]
    assert bad_param and bad_param[0].startswith(f"{inner}:9: node 's/up': field 'colour'")


def test_wiring_problems_are_the_including_file_s(tmp_path):
    write(tmp_path, "shout.yaml", SHOUT)
    outer = write(tmp_path, "outer.yaml", """\
        inputs:
          n: {type: number}
        nodes:
          s:
            type: pipeline
            params: {file: shout.yaml, colour: red}
            inputs: {text: inputs.n, nope: inputs.n}
          t:
            type: pipeline
            params: {file: missing.yaml}
        outputs:
          a: s.nothing
          b: t.x
        """)
    with pytest.raises(ValidationError) as e:
        Pipeline.from_yaml(outer).validate()
    text = "\n".join(p.format() for p in e.value.problems)
    f = str(outer)
    assert f"{f}:6: node 's': field 'colour': unknown param 'colour'" in text
    assert f"{f}:7: node 's': field 'nope': unknown input 'nope' for the included pipeline" in text
    assert f"{f}:7: node 's/up': field 'text': type mismatch" in text  # the wiring's line, not the inner file's
    assert f"{f}:10: node 't': field 'file': pipeline file not found: missing.yaml" in text
    assert f"{f}:12: field 'outputs.a': the included pipeline 's' has no output 'nothing'" in text
    assert "t.x" not in text  # a failed include is reported once
    assert len(e.value.problems) == 5


def test_include_cycles_are_rejected_with_the_chain(tmp_path):
    write(tmp_path, "a.yaml", """\
        inputs: {text: text}
        nodes:
          b: {type: pipeline, params: {file: b.yaml}, inputs: {text: inputs.text}}
        outputs: {out: b.out}
        """)
    write(tmp_path, "b.yaml", """\
        inputs: {text: text}
        nodes:
          a: {type: pipeline, params: {file: a.yaml}, inputs: {text: inputs.text}}
        outputs: {out: a.out}
        """)
    with pytest.raises(ValidationError, match=r"include cycle: a\.yaml -> b\.yaml -> a\.yaml"):
        Pipeline.from_yaml(tmp_path / "a.yaml").validate()
    p = Pipeline().add_input("text", "text")
    p.add_pipeline("me", p, inputs={"text": "inputs.text"}).add_output("out", "me.out")
    with pytest.raises(ValidationError, match="include cycle"):
        p.validate()


def test_python_built_composition_round_trips_to_yaml(tmp_path, monkeypatch):
    shout = Pipeline.from_yaml(write(tmp_path, "shout.yaml", SHOUT))
    inline = Pipeline("tail").add_input("w", "text").add_node("u", "t_upper", inputs={"text": "inputs.w"})
    inline.add_output("u", "u.text")
    p = Pipeline("built").add_input("text", "text")
    p.add_pipeline("s", shout, inputs={"text": "inputs.text"})
    p.add_pipeline("t", inline, inputs={"w": "s.first"})
    p.add_output("loud", "s.loud").add_output("tail", "t.u")
    first = p.run(text="ab cd", cache_dir=tmp_path / "c")
    assert first.outputs == {"loud": "AB CD", "tail": "AB"}
    (tmp_path / "sub").mkdir()
    p.save(tmp_path / "sub" / "built.yaml")
    saved = (tmp_path / "sub" / "built.yaml").read_text()
    assert "file: ../shout.yaml" in saved and "pipeline:" in saved  # a file by path, an object inline
    back = Pipeline.from_yaml(tmp_path / "sub" / "built.yaml")
    assert back.to_yaml() == saved
    monkeypatch.setenv("SOCRATIC_ALLOW_READ", str(tmp_path))  # the file includes ../shout.yaml (docs/trust.md)
    assert back.run(text="ab cd", cache_dir=tmp_path / "c").outputs == first.outputs
    assert Pipeline.from_yaml(p.to_yaml()).to_dict() == p.to_dict()  # no source: an absolute path


def test_an_include_by_path_still_names_its_file_when_saved_elsewhere(tmp_path, monkeypatch):
    write(tmp_path, "shout.yaml", SHOUT)
    monkeypatch.chdir(tmp_path)
    p = Pipeline("by_path").add_input("text", "text")
    p.add_pipeline("s", "shout.yaml", inputs={"text": "inputs.text"}).add_output("loud", "s.loud")
    assert p.to_dict()["nodes"]["s"]["params"] == {"file": "shout.yaml"}  # relative to the working dir
    (tmp_path / "deep").mkdir()
    p.save(tmp_path / "deep" / "p.yaml")
    back = Pipeline.from_yaml(tmp_path / "deep" / "p.yaml")
    assert back.nodes["s"].params == {"file": "../shout.yaml"}
    monkeypatch.chdir(tmp_path / "deep")
    monkeypatch.setenv("SOCRATIC_ALLOW_READ", str(tmp_path))  # the file includes ../shout.yaml (docs/trust.md)
    assert back.run(text="ok", cache_dir=tmp_path / "c")["loud"] == "OK"
    assert back.to_yaml() == (tmp_path / "deep" / "p.yaml").read_text()


def test_map_over_a_sub_pipeline_batches_down_to_its_nodes(tmp_path):
    write(tmp_path, "per.yaml", """\
        inputs:
          word: {type: text}
          tag: {type: text}
        nodes:
          up: {type: t_upper, inputs: {text: inputs.word}}
          n: {type: t_len_batched, inputs: {word: up.text}}
          label: {type: t_upper, inputs: {text: inputs.tag}}
        outputs: {n: n.n, up: up.text, label: label.text}
        """)
    outer = write(tmp_path, "outer.yaml", """\
        inputs:
          words: {type: texts}
        nodes:
          each:
            type: pipeline
            map: [word]
            params: {file: per.yaml}
            inputs: {word: inputs.words, tag: "inputs.words[0]"}
        outputs: {n: each.n, up: each.up, label: each.label}
        """)
    CALLS.clear()
    res = Pipeline.from_yaml(outer).run(words=["a", "bb", "ccc"], cache_dir=tmp_path / "c")
    assert res.outputs == {"n": [1, 2, 3], "up": ["A", "BB", "CCC"], "label": "A"}
    assert CALLS["batches"] == [3]  # the batched node got every item in one call
    assert CALLS["t_upper"] == 4  # `up` per item, `label` (not depending on the map) once
    doc = json.loads(res.trace.to_json())["nodes"][0]
    assert doc["items"] == 3 and {n["node"]: n["items"] for n in doc["nodes"]} == {"up": 3, "n": 3, "label": None}


def test_map_over_a_sub_pipeline_that_maps_itself_is_one_clear_error(tmp_path):
    write(tmp_path, "shout.yaml", SHOUT)
    outer = write(tmp_path, "outer.yaml", """\
        inputs: {texts: texts}
        nodes:
          s: {type: pipeline, map: [text], params: {file: shout.yaml}, inputs: {text: inputs.texts}}
        outputs: {lens: s.lens}
        """)
    with pytest.raises(ValidationError) as e:
        Pipeline.from_yaml(outer).validate()
    assert any("its node 'lens' maps over word itself (nested maps are not supported)" in p.message
               for p in e.value.problems)


def test_models_are_shared_by_name_overridden_renamed_and_conflicts_named(tmp_path):
    def gen_file(name, model_id):
        return write(tmp_path, name, f"""\
            models:
              lm: {{family: lm, backend: transformers, id: {model_id}}}
            inputs: {{p: text}}
            nodes:
              g: {{type: c_gen, params: {{lm: lm}}, inputs: {{prompt: inputs.p}}}}
            outputs: {{text: g.text}}
            """)

    gen_file("one.yaml", "org/one")
    gen_file("two.yaml", "org/two")
    both = """\
        inputs: {p: text}
        nodes:
          a: {type: pipeline, params: {file: one.yaml}, inputs: {p: inputs.p}}
          b: {type: pipeline, params: {file: two.yaml%s}, inputs: {p: inputs.p}}
        outputs: {a: a.text, b: b.text}
        """
    with pytest.raises(ValidationError) as e:
        Pipeline.from_yaml(write(tmp_path, "clash.yaml", both % "")).validate()
    assert "model 'lm' is defined differently in" in str(e.value)
    assert str(tmp_path / "one.yaml") in str(e.value) and str(tmp_path / "two.yaml") in str(e.value)
    plan = Pipeline.from_yaml(write(tmp_path, "renamed.yaml", both % ", models: {lm: lm2}")).validate()
    assert plan.params["a/g"]["lm"] == "lm" and plan.params["b/g"]["lm"] == "lm2"
    assert plan.models["lm"].options["id"] == "org/one" and plan.models["lm2"].options["id"] == "org/two"
    outer = write(tmp_path, "wins.yaml", "models:\n  lm: {family: lm, backend: transformers, id: org/mine}\n"
                  + textwrap.dedent(both % ""))
    plan = Pipeline.from_yaml(outer).validate()
    assert plan.models["lm"].options["id"] == "org/mine"  # the including file's spec wins


def test_unwired_inner_inputs_keep_their_defaults_and_required_ones_are_named(tmp_path):
    write(tmp_path, "shout.yaml", SHOUT)
    p = Pipeline.from_yaml(write(tmp_path, "o.yaml", OUTER))
    flat = p.expanded()
    assert flat.inputs["s/suffix"].default == "?" and not flat.inputs["s/suffix"].required
    assert flat.nodes["again"].inputs == {"text": "s/split.words[0]"}
    bad = write(tmp_path, "bad.yaml", OUTER.replace("    inputs: {text: inputs.text}\n  again", "  again"))
    with pytest.raises(ValidationError, match="node 's': field 'text': required input 'text' of the included"):
        Pipeline.from_yaml(bad).validate()


def test_workers_get_the_includes_inline(files, tmp_path):
    p = Pipeline.from_yaml(files)
    plan = p.validate()
    spec, digest = plan.payload, plan.digest
    assert "pipeline" in spec["nodes"]["s"]["params"] and "file" not in spec["nodes"]["s"]["params"]
    (tmp_path / "shout.yaml").unlink()  # a worker without the driver's files
    again = Pipeline.from_dict(json.loads(json.dumps(spec)), source=str(files))
    assert again.run(text="q r", cache_dir=tmp_path).outputs["again"] == "Q"
    assert again.validate().digest == digest


def test_prompt_templates_take_list_elements():
    from socratic.nodes.text import fill

    values = {"places": ["inn", "lake"], "objects": ["a", "b"]}
    assert fill("At {places[0]|a}, near {places[-1]}; {objects}.", values) == "At an inn, near lake; a, b."
    with pytest.raises(SocraticError, match=r"'\{places\[2\]\}': index 2 out of range \(2 items\)"):
        fill("{places[2]}", {"places": ["inn", "lake"]})
    p = Pipeline().add_input("ps", "texts")
    p.add_node("f", "prompt", params={"template": "{ps[1]|a} and {ps[0]}"}, inputs={"ps": "inputs.ps"})
    assert p.add_output("t", "f.text").run(ps=["owl", "egg"], cache=False)["t"] == "an egg and owl"


def test_bad_include_params_are_one_line_each(tmp_path):
    p = Pipeline().add_input("t", "text")
    p.add_node("x", "pipeline", params={"pipeline": 3}, inputs={"t": "inputs.t"})
    p.add_node("y", "pipeline", params={})
    p.add_output("o", "inputs.t")
    with pytest.raises(ValidationError) as e:
        p.validate()
    text = str(e.value)
    assert "node 'x': field 'pipeline': 'pipeline' must be a mapping" in text
    assert "node 'y': field 'file': a pipeline node needs 'file'" in text
    assert all("\n" not in pr.format() for pr in e.value.problems)


def test_a_spec_without_includes_expands_to_itself():
    p = Pipeline().add_input("t", "text").add_node("u", "t_upper", inputs={"text": "inputs.t"})
    assert p.expanded() is p and isinstance(Pipeline.from_yaml(OUTER.replace("shout.yaml", "x")), PipelineSpec)


def test_an_included_file_s_prompt_files_are_found_beside_it(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "ask.txt").write_text("Q: {text}")
    write(tmp_path / "lib", "ask.yaml", """\
        inputs: {text: text}
        nodes:
          q: {type: prompt, params: {template: {file: ask.txt}}, inputs: {text: inputs.text}}
        outputs: {text: q.text}
        """)
    outer = write(tmp_path, "outer.yaml", """\
        inputs: {text: text}
        nodes:
          a: {type: pipeline, params: {file: lib/ask.yaml}, inputs: {text: inputs.text}}
        outputs: {text: a.text}
        """)
    assert Pipeline.from_yaml(outer).run(text="why?", cache=False)["text"] == "Q: why?"
