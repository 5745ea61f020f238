"""Forward-call arguments that differ between transformers 5.x releases."""

from __future__ import annotations

import inspect
from typing import Any


def accepts(model: Any, name: str) -> bool:
    """Whether `model.forward` takes the keyword `name`."""
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def cache_arg(model: Any) -> str:
    """The keyword of the key/value cache: `cache` in newer 5.x releases, `past_key_values` before."""
    return "cache" if accepts(model, "cache") else "past_key_values"
