"""Fitting text into an LM's context: the token budget a template leaves, and lines packed into windows."""

from __future__ import annotations

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
