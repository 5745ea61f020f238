"""What a running node may ask of the engine."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .paths import cache_dir
from .trace_schema import SEP


@dataclass
class Context:
    node: str = "<direct>"
    seed: int = 0
    progress_enabled: bool = False
    warnings: list[str] = field(default_factory=list)
    cache: Any = None  # the run's NodeCache (None with --no-cache): nodes may keep per-frame results in it

    def warn(self, message: str) -> None:
        """Record a warning: it lands in the trace and in the run's output."""
        if message not in self.warnings:
            self.warnings.append(message)

    def node_seed(self, *salt: Any) -> int:
        """A seed derived from the run seed, this node's name and `salt` (stable across runs). A node of an
        included pipeline (`caption/captions`) draws by its own name, as when its file runs alone."""
        h = hashlib.sha256(repr((self.seed, self.node.rsplit(SEP, 1)[-1], salt)).encode()).digest()
        return int.from_bytes(h[:4], "little")

    def cache_dir(self, *parts: str) -> Path:
        return cache_dir(*parts)

    def progress(self, items: Iterable[Any], desc: str | None = None, total: int | None = None):
        if not self.progress_enabled:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc or self.node, total=total, leave=False)
