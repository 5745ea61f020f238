"""Validation reports every problem at once, each with file, line and node."""

import pytest

from socratic import Pipeline, ValidationError
from socratic.errors import SocraticError

import test_engine  # noqa: F401  (registers the t_* node types)

BAD = """\
name: bad
models:
  lm: {family: lm, backend: nope}
inputs:
  text: {type: text}
nodes:
  a:
    type: t_upper
    inputs: {text: c.text}
  b:
    type: no_such_type
    inputs: {text: inputs.text}
  c:
    type: t_upper
    inputs: {text: a.text}
  d:
    type: t_split
  e:
    type: t_len_batched
    inputs: {word: inputs.text}
    params: {colour: red}
  f:
    type: t_upper
    inputs: {text: d.words}
  g:
    type: t_upper
    inputs: {text: inputs.missing}
outputs:
  out: a.text
"""


def _problems(text, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(ValidationError) as e:
        Pipeline.from_yaml(f).validate()
    return e.value.problems, str(f)


def test_every_problem_is_reported_with_file_line_and_node(tmp_path):
    problems, file = _problems(BAD, tmp_path)
    text = "\n".join(p.format() for p in problems)
    assert all(p.file == file for p in problems)
    assert "unknown lm backend 'nope'" in text and f"{file}:3" in text
    assert "node 'b'" in text and "unknown node type 'no_such_type'" in text and f"{file}:10" in text
    assert "cycle" in text
    assert "node 'd'" in text and "required input 'text' is not connected" in text
    assert "unknown param 'colour'" in text and f"{file}:21" in text
    assert "type mismatch" in text and "node 'f'" in text
    assert "unknown pipeline input 'missing'" in text and f"{file}:27" in text
    assert len(problems) >= 7


def test_duplicate_names_and_malformed_yaml(tmp_path):
    problems, _ = _problems("inputs: {t: text}\nnodes:\n  a: {type: t_upper, inputs: {text: inputs.t}}\n"
                            "  a: {type: t_upper, inputs: {text: inputs.t}}\noutputs: {o: a.text}\n", tmp_path)
    assert any("duplicate name 'a'" in p.message and p.line == 4 for p in problems)
    f = tmp_path / "broken.yaml"
    f.write_text("nodes:\n  a: [unclosed\n")
    with pytest.raises(SocraticError) as e:
        Pipeline.from_yaml(f)
    assert str(f) in str(e.value) and "invalid YAML" in str(e.value)


def test_unknown_model_reference_and_prompt_file(tmp_path):
    problems, _ = _problems(
        "inputs: {t: text}\nnodes:\n"
        "  p: {type: prompt, params: {template: {file: prompts/nope.txt}}, inputs: {t: inputs.t}}\n"
        "  g: {type: lm_generate, params: {lm: missing}, inputs: {prompt: p.text}}\noutputs: {o: g.text}\n",
        tmp_path)
    text = "\n".join(p.format() for p in problems)
    assert "prompt file not found" in text and "unknown model reference 'missing'" in text


def test_prompt_placeholders_must_match_inputs(tmp_path):
    problems, _ = _problems(
        "inputs: {t: text}\nnodes:\n"
        "  p: {type: prompt, params: {template: 'Hi {name} and {other}'}, inputs: {name: inputs.t, extra: inputs.t}}\n"
        "outputs: {o: p.text}\n", tmp_path)
    text = "\n".join(p.message for p in problems)
    assert "'{other}' has no input wired" in text and "'extra' is not used" in text


def test_yaml_never_constructs_objects(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("nodes: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SocraticError, match="invalid YAML"):
        Pipeline.from_yaml(f)


def test_shipped_pipelines_validate(repo, tmp_path):
    memory = tmp_path / "train.jsonl"  # PICa's training memory is the user's file (validation checks it)
    memory.write_text("{}\n" * 80)
    for f in sorted((repo / "pipelines").glob("*.yaml")):
        p = Pipeline.from_yaml(f)
        for ns in p.nodes.values():
            if ns.type == "pica_select":
                ns.params["memory"] = str(memory)
        p.validate()


def test_misspelt_node_type_suggests_the_close_name():
    text = "inputs: {text: text}\nnodes:\n  a: {type: t_uper, inputs: {text: inputs.text}}\noutputs: {o: a.text}\n"
    with pytest.raises(ValidationError) as err:
        Pipeline.from_yaml(text).validate()
    assert "unknown node type 't_uper' (did you mean 't_upper'?)" in str(err.value)
    with pytest.raises(ValidationError) as err:
        Pipeline.from_yaml(text.replace("t_uper", "zzzzqq")).validate()
    assert "did you mean" not in str(err.value) and "socratic nodes" in str(err.value)
