"""The compiled Plan: one frozen value from YAML to every runner, compiled once."""

import dataclasses
import re
from pathlib import Path

import pytest

from socratic import Pipeline, ValidationError
from socratic.engine.compile import compile
from socratic.engine.runner import run_batch
from socratic.engine.spec import PipelineSpec

import test_engine  # noqa: F401  (registers the t_* node types)
from test_compose import OUTER, SHOUT, write

REPO = Path(__file__).resolve().parents[1]


def test_plan_is_frozen_and_carries_its_problems():
    p = Pipeline().add_input("text", "text")
    p.add_node("up", "t_upper", inputs={"text": "inputs.nope"})
    p.add_output("up", "up.text")
    plan = compile(p, raise_on_error=False)
    assert len(plan.problems) == 1 and "unknown pipeline input 'nope'" in str(plan.problems[0])
    assert plan.payload is None and plan.digest is None  # nothing to ship from a broken pipeline
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.problems = ()  # type: ignore[misc]
    with pytest.raises(ValidationError, match="nope"):
        compile(p)


def test_model_options_are_resolved_once_into_the_plan():
    p = Pipeline.from_yaml(REPO / "pipelines" / "egocentric_summary.yaml")
    written = compile(p)
    offline = compile(p, profile="offline", random_vlm=True, models={"lm": {"device": "cpu"}})
    assert written.specs == written.models  # no options: what runs is what was written
    assert offline.models == written.models
    assert offline.specs["lm"].backend == "hybrid" and offline.specs["lm"].options["device"] == "cpu"
    assert offline.specs["clip"].options["random_init"] is True
    assert offline.options["profile"] == "offline" and offline.options["random_vlm"] is True
    assert offline.digest == written.digest  # the digest is the pipeline's; the options are recorded beside it


def test_includes_are_read_once_and_the_payload_needs_no_files(tmp_path, monkeypatch):
    write(tmp_path, "shout.yaml", SHOUT)
    outer = write(tmp_path, "outer.yaml", OUTER)
    spec = PipelineSpec.from_yaml(outer)
    reads: list[str] = []
    real = PipelineSpec.from_yaml.__func__

    def counting(cls, path, *a, **kw):
        reads.append(Path(path).name)
        return real(cls, path, *a, **kw)

    monkeypatch.setattr(PipelineSpec, "from_yaml", classmethod(counting))
    plan = compile(spec)
    assert reads == ["shout.yaml"]  # expansion read the include; the payload and digest reused it
    inner = plan.payload["nodes"]["s"]["params"]["pipeline"]
    assert inner["name"] == "shout" and "file" not in plan.payload["nodes"]["s"]["params"]
    assert re.fullmatch(r"[0-9a-f]{64}", plan.digest)


def test_run_batch_runs_the_plan_it_is_given(tmp_path):
    p = Pipeline().add_input("text", "text")
    p.add_node("up", "t_upper", inputs={"text": "inputs.text"})
    p.add_output("up", "up.text")
    plan = compile(p)
    p.nodes["up"].inputs["text"] = "inputs.missing"  # editing the spec afterwards does not change the plan
    (a, b) = run_batch(plan, [{"text": "ab"}, {"text": "cd"}], cache=False)
    assert (a.outputs["up"], b.outputs["up"]) == ("AB", "CD")


def test_nothing_below_pipeline_validates_again():
    found = []
    for folder in ("engine", "pica"):
        for path in (REPO / "socratic" / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if ".validate()" in line and not line.lstrip().startswith("#"):
                    found.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)


def test_random_vlm_arch_keeps_the_architecture_and_warns():
    from socratic.errors import SocraticError
    from socratic.models.loader import load_model

    p = Pipeline.from_yaml(REPO / "pipelines" / "egocentric_summary.yaml")
    spec = compile(p, random_vlm="arch", models={"clip": {"name": "ViT-B-32", "batch_size": 8}}).specs["clip"]
    # weights dropped, how to run kept (the pipeline's cpu_bf16: auto included: the cost is the real one)
    assert spec.options == {"name": "ViT-B-32", "cpu_bf16": "auto", "batch_size": 8, "random_init": True}
    tiny = compile(p, random_vlm=True).specs["clip"]
    assert "config" in tiny.options and "name" not in tiny.options and "cpu_bf16" not in tiny.options
    vlm = load_model(spec)
    assert vlm.model.visual.transformer.width == 768 and len(vlm.model.visual.transformer.resblocks) == 12
    assert any("ViT-B-32" in w and "RANDOM weights" in w for w in vlm.warnings)
    with pytest.raises(SocraticError, match="random_vlm"):
        compile(p, random_vlm="big")
