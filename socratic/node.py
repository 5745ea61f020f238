"""Nodes are plain functions with typed inputs (positional) and params (keyword-only).

    @node("clip_classify", outputs={"labels": list[str], "scores": list[float]}, batched=True)
    def clip_classify(image: Image, *, vlm: VLM, vocab: str, top_k: int = 3, ctx: Context): ...

- Parameters before `*` are inputs, wired to other nodes' outputs; their annotations are port types.
- Keyword-only parameters are params, set in YAML `params:`. A param annotated with a model interface
  (VLM, LM, ALM, AudioText, TextEmbedder, Captioner, OCR) names an entry of `models:` and receives the loaded model.
- A keyword-only `ctx` receives the run Context (seed, warnings, cache).
- `batched=True`: every input arrives as a list of items and every output must be a list of the
  same length; the engine then hands a whole mapped list to one call.
- Returning a non-dict is allowed when there is exactly one output.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import SocraticError


@dataclass(frozen=True)
class Port:
    name: str
    type: Any
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class Param:
    name: str
    type: Any
    required: bool
    default: Any = None
    model_family: str | None = None  # a models.base.MODEL_FAMILIES key when the param names a model


@dataclass
class NodeType:
    name: str
    fn: Callable[..., Any]
    inputs: dict[str, Port]
    params: dict[str, Param]
    outputs: dict[str, Any]
    batched: bool = False
    cacheable: bool = True
    version: str = "1"
    takes_ctx: bool = False
    doc: str = ""
    dynamic_inputs: bool = False  # a `**fields` parameter accepts any wired input name
    check: Callable[[dict[str, Any], set[str]], list[str]] | None = None  # extra validation of params/ports
    extra: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def code(self) -> str:
        """A digest of the function's source: part of every cache key, so editing a node retires its entries."""
        try:
            text = inspect.getsource(self.fn).encode()
        except (OSError, TypeError):  # no source file (e.g. defined in a REPL)
            c = self.fn.__code__
            text = repr((c.co_code, c.co_consts, c.co_names)).encode()
        return hashlib.sha256(text).hexdigest()[:16]

    @property
    def model_params(self) -> dict[str, Param]:
        return {k: p for k, p in self.params.items() if p.model_family}


def _model_family(annotation: Any) -> str | None:
    from .models.base import MODEL_FAMILIES

    for fam, cls in MODEL_FAMILIES.items():
        if annotation is cls or (isinstance(annotation, type) and issubclass(annotation, cls)):
            return fam
    return None


def make_node_type(name: str, fn: Callable[..., Any], outputs: dict[str, Any], *, batched: bool = False,
                   cacheable: bool = True, version: str = "1", check: Callable | None = None) -> NodeType:
    hints = typing.get_type_hints(fn)
    inputs: dict[str, Port] = {}
    params: dict[str, Param] = {}
    takes_ctx = dynamic = False
    for p in inspect.signature(fn).parameters.values():
        ann = hints.get(p.name, Any)
        has_default = p.default is not inspect.Parameter.empty
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            inputs[p.name] = Port(p.name, ann, not has_default, p.default if has_default else None)
        elif p.kind == p.KEYWORD_ONLY:
            if p.name == "ctx":
                takes_ctx = True
                continue
            params[p.name] = Param(p.name, ann, not has_default, p.default if has_default else None,
                                   _model_family(ann))
        elif p.kind == p.VAR_KEYWORD:
            dynamic = True
        else:
            raise TypeError(f"node '{name}': *args is not supported")
    return NodeType(name, fn, inputs, params, dict(outputs), batched, cacheable, version, takes_ctx,
                    inspect.getdoc(fn) or "", dynamic, check)


def node(name: str, *, outputs: dict[str, Any], batched: bool = False, cacheable: bool = True,
         version: str = "1", check: Callable | None = None):
    """Register a function as a node type (see module docstring)."""

    def wrap(fn):
        from .registry import register

        register(make_node_type(name, fn, outputs, batched=batched, cacheable=cacheable, version=version,
                                check=check))
        return fn

    return wrap


def port_type(nt: NodeType, port: str) -> Any | None:
    """The declared type of an input port (Any for a dynamic port), None when the port does not exist."""
    if port in nt.inputs:
        return nt.inputs[port].type
    return Any if nt.dynamic_inputs else None


def normalise_outputs(nt: NodeType, result: Any, node_name: str) -> dict[str, Any]:
    if isinstance(result, dict) and set(result) == set(nt.outputs):
        return result
    if len(nt.outputs) == 1 and not (isinstance(result, dict) and set(result) == set(nt.outputs)):
        return {next(iter(nt.outputs)): result}
    got = sorted(result) if isinstance(result, dict) else type(result).__name__
    raise SocraticError(f"returned {got}, expected outputs {sorted(nt.outputs)}", node=node_name)
