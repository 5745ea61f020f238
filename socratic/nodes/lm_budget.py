"""Fitting text into an LM's context: the token budget a template leaves, and lines packed into windows."""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ..errors import SocraticError
from ..models.base import LM

FALLBACK_CONTEXT = 4096  # assumed (with a warning) when a backend cannot tell its context length
MARGIN = 8  # tokens kept free: joins between lines may tokenise differently from the lines alone


def context_of(lm: LM, cap: int | None, warn: Callable[[str], None]) -> int:
    """The context to plan for: the model's, lowered to `cap` when given."""
    size = lm.context_length
    if size is None:
        size = cap or FALLBACK_CONTEXT
        if cap is None:
            warn(f"lm '{lm.model_id}' does not say its context length; assuming {size} tokens "
                 f"(set `context_length:` in its model spec)")
    return min(size, cap) if cap else size


def budget(lm: LM, template_tokens: int, context: int, max_new_tokens: int) -> int:
    """Tokens left for the filled-in text once the template and the answer have their room."""
    left = context - template_tokens - max_new_tokens - MARGIN
    if left < 16:
        raise SocraticError(f"the prompt template alone takes {template_tokens} tokens and the answer "
                            f"{max_new_tokens}: nothing fits in lm '{lm.model_id}''s {context}-token context")
    return left


def shorten(text: str, tokens: int, limit: int) -> str:
    """`text` cut (by characters, proportionally) so that it takes about `limit` tokens, marked with …."""
    keep = max(1, int(len(text) * limit / max(tokens, 1) * 0.9))
    return text[:keep].rstrip() + " …"


def pack(lines: Sequence[str], sizes: Sequence[int], limit: int, sep_tokens: int = 1) -> list[list[int]]:
    """Consecutive lines grouped into windows of at most `limit` tokens (each line's size plus a separator);
    a line alone over `limit` gets a window of its own (callers shorten it first)."""
    windows: list[list[int]] = []
    used = 0
    for i, size in enumerate(sizes):
        cost = size + sep_tokens
        if windows and used + cost <= limit:
            windows[-1].append(i)
            used += cost
        else:
            windows.append([i])
            used = cost
    return windows


# Log tokens per summary window that a model of each size (parameters, up to) summarises without dropping what was
# said; the 135M figure is measured (benchmarks/faithfulness.py), the larger ones are cautious guesses.
FAITHFUL_WINDOW = ((0.5e9, 120), (3e9, 480), (15e9, 1200))
_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*([mb])(?![a-z])", re.IGNORECASE)


def parameters_in(model_id: str) -> float | None:
    """The parameter count a model id states ("SmolLM2-135M" → 1.35e8, "Qwen2.5-7B-Instruct" → 7e9), or None."""
    m = _SIZE.search(str(model_id).replace("_", "-"))
    return float(m.group(1)) * (1e6 if m.group(2).lower() == "m" else 1e9) if m else None


def model_parameters(lm: LM) -> float | None:
    """The LM's parameter count: its `parameters` attribute, else what its id states; None when neither tells."""
    told = getattr(lm, "parameters", None)
    if isinstance(told, (int, float)) and not isinstance(told, bool) and told > 0:
        return float(told)
    return parameters_in(lm.model_id)


def faithful_window(lm: LM, tokens: int | None = None) -> int | None:
    """Most log tokens one summary window holds: `tokens` when given, else FAITHFUL_WINDOW's figure for the LM's
    size; None (the context is the only limit) for a model larger than the table or of unknown size."""
    if tokens is not None:
        if tokens < 16:
            raise SocraticError(f"window_tokens must be at least 16, got {tokens}", field="window_tokens")
        return int(tokens)
    return window_for_size(model_parameters(lm))


def window_for_size(parameters: float | None) -> int | None:
    return next((t for most, t in FAITHFUL_WINDOW if parameters is not None and parameters <= most), None)
