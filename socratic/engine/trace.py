"""The run's record: every node's inputs and outputs (text in full, tensors summarised), timings, models."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|(?i:api[_-]?key)['\"]?\s*[:=]\s*['\"]?[^'\"\s,}]+)")


def redact(text: str) -> str:
    """Hide anything that looks like an API key."""
    return _SECRET.sub("<redacted>", text)


def summarise(value: Any, depth: int = 0) -> Any:
    """JSON-safe view of a value: text in full, media and tensors as short descriptions."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, Image.Image):
        return f"<image {value.width}x{value.height} {value.mode}>"
    if isinstance(value, torch.Tensor):
        return f"<tensor {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')} {value.device}>"
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>"
    if hasattr(value, "trace_summary"):  # e.g. a KeyFrame: its time range, not its bytes
        return f"<{value.trace_summary()}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): summarise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [summarise(v, depth + 1) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return summarise(asdict(value), depth + 1)
    return f"<{type(value).__name__}>"


@dataclass
class NodeRecord:
    node: str
    type: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    params: dict[str, Any]
    models: dict[str, str]
    seconds: float
    cached: bool
    items: int | None = None  # set for mapped nodes
    warnings: list[str] = field(default_factory=list)


@dataclass
class Trace:
    pipeline: str
    records: list[NodeRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "warnings": list(self.warnings),
                "nodes": [asdict(r) for r in self.records]}

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def transcript(self) -> list[dict[str, str]]:
        """The language messages in the order they were produced: node, direction, port, text."""
        msgs: list[dict[str, str]] = []
        for r in self.records:
            for direction, values in (("in", r.inputs), ("out", r.outputs)):
                for port, val in values.items():
                    for text in _texts(val):
                        msgs.append({"node": r.node, "type": r.type, "dir": direction, "port": port, "text": text})
        return msgs

    def transcript_text(self) -> str:
        """The Socratic transcript, readable: each node's language in and out."""
        lines: list[str] = []
        for r in self.records:
            ins = [(p, t) for p, v in r.inputs.items() for t in _texts(v)]
            outs = [(p, t) for p, v in r.outputs.items() for t in _texts(v)]
            if not outs:
                continue
            model = f" ({', '.join(r.models.values())})" if r.models else ""
            lines.append(f"── {r.node} [{r.type}]{model}{' (cached)' if r.cached else ''}")
            for arrow, pairs in (("  ←", ins), ("  →", outs)):
                for port, text in pairs:
                    body = text if "\n" not in text else "\n" + _indent(text, "      ")
                    lines.append(f"{arrow} {port}: {body}")
        return "\n".join(lines)


_MEDIA = ("<image ", "<tensor ", "<array ", "<keyframe ")


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _texts(value: Any) -> list[str]:
    """The language inside a summarised value (media descriptions excluded)."""
    if isinstance(value, str):
        return [] if value.startswith(_MEDIA) else [value]
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            texts = [v for v in value if not v.startswith(_MEDIA)]
            return [" | ".join(texts)] if texts and all("\n" not in t for t in texts) else texts
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        return [f"{k}: {t}" for k, v in value.items() for t in _texts(v)]
    return []
