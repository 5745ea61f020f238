"""What travels and what identifies results: the pipeline as plain data with its includes and prompt texts inline
(a worker needs none of the driver's files), and the digest of what decides its results."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..node import NodeType
from ..types import Prompt
from .compose import inlined
from .spec import PipelineSpec

# Model options that change where or how fast a model runs, not what it answers.
TRANSPORT_OPTIONS = {"device", "batch_size", "base_url", "timeout", "max_retries", "concurrency", "api_key_env"}


def portable_spec(spec: PipelineSpec, flat: PipelineSpec, types: dict[str, NodeType],
                  params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`spec` as a dict with prompt texts (from the checked `params` of the expanded `flat`) and includes inline."""
    prompts = {name: {k: params[name][k] for k in flat.nodes[name].params if k in nt.params
                      and nt.params[k].type is Prompt} for name, nt in types.items()}
    return inlined(spec, prompts, flat.groups)


def payload_digest(payload: dict[str, Any]) -> str:
    """sha256 of what decides the results: the pipeline with its prompts, models without transport options."""
    spec = json.loads(json.dumps(payload, default=str))
    spec.pop("name", None), spec.pop("description", None)
    for m in (spec.get("models") or {}).values():
        for key in TRANSPORT_OPTIONS:
            m.pop(key, None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
