"""Summaries of a log of any length: hierarchical when the log does not fit the LM's context.

Level 1 splits the log into consecutive time windows that fit (the budget is the model's context length minus
the template and the answer's tokens), and summarises each window with its time range. The window summaries
are then summarised in turn, in windows again if they still do not fit, until one prompt holds them all.
A log that fits at once gets a single summary from `template`, as a short video always did.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import clock
from ..models.base import LM
from ..node import node
from ..nodes.lm_budget import budget, context_of, pack, shorten
from ..nodes.text import fill, use_chat
from ..types import Prompt
from .egocentric import format_line


def _span(entries: list[dict[str, Any]]) -> tuple[float, float]:
    return float(entries[0]["start"]), float(entries[-1]["end"])


def _range(start: float, end: float) -> str:
    return f"[{clock(start)}–{clock(end)}]"


class _Summariser:
    def __init__(self, lm: LM, context: int, chat: bool, max_new_tokens: int, stop: list[str], ctx: Context):
        self.lm, self.context, self.chat, self.max_new_tokens, self.stop, self.ctx = \
            lm, context, chat, max_new_tokens, stop, ctx

    def tokens(self, text: str) -> int:
        return self.lm.count_tokens(text, chat=self.chat)

    def limit(self, template: str, **values: str) -> int:
        empty = fill(template, {**values, "lines": ""})
        return budget(self.lm, self.tokens(empty), self.context, self.max_new_tokens)

    def fitted(self, lines: list[str], limit: int, per_line: int, what: str) -> tuple[list[str], list[int]]:
        """Lines shortened to at most `per_line` tokens each (with a warning), and their sizes."""
        out, sizes = [], []
        for line in lines:
            size = self.lm.count_tokens(line, chat=False)
            if size > per_line:
                self.ctx.warn(f"{what} {line[:24]!r}… takes {size} tokens, more than the {per_line} that fit "
                              f"in lm '{self.lm.model_id}''s context; it was truncated")
                line = shorten(line, size, per_line)
                size = self.lm.count_tokens(line, chat=False)
            out.append(line)
            sizes.append(size)
        return out, sizes

    def generate(self, prompts: list[str]) -> list[str]:
        outs = self.lm.generate(prompts, max_new_tokens=self.max_new_tokens, temperature=0.0, stop=self.stop,
                                seed=self.ctx.node_seed(), chat=self.chat)
        texts = [" ".join(row[0].text.split()) for row in outs]
        empty = sum(not t for t in texts)
        if empty:
            self.ctx.warn(f"node '{self.ctx.node}': lm '{self.lm.model_id}' gave an empty summary for {empty} of "
                          f"{len(texts)} prompt(s)")
        return texts


@node("hierarchical_summary", outputs={"summary": str, "windows": list[Any], "levels": int, "prompt": str})
def hierarchical_summary(log: list[Any], *, lm: LM, template: Prompt, window_template: Prompt,
                         merge_template: Prompt, max_new_tokens: int = 96, stop: list[str] | None = None,
                         chat: str | bool = "auto", context_length: int | None = None, ctx: Context) -> dict:
    """A summary of the whole log that never overflows the LM's context.

    `template` ({lines}) summarises a log that fits at once. Otherwise `window_template` ({start}, {end},
    {lines}) summarises each window of consecutive entries and `merge_template` ({lines}: one
    `[start–end] summary` line per window) summarises the summaries, recursively if needed. Outputs: the final
    `summary`, every intermediate summary in `windows` ({level, start, end, entries, summary, prompt}, level 1 =
    parts of the log), the number of `levels` (1: the log fitted at once) and the final `prompt`. `context_length` lowers the model's own
    context (e.g. for an API whose limit the backend cannot know). An entry too long for any window alone is
    truncated, with a warning."""
    if not log:
        raise SocraticError("the log is empty: nothing to summarise", field="log")
    s = _Summariser(lm, context_of(lm, context_length, ctx.warn), use_chat(chat, lm), max_new_tokens,
                    list(stop or []), ctx)
    lines = [format_line(e) for e in log]
    items = [{"start": float(e["t"]), "end": float(e.get("last", e["t"])), "line": line}
             for e, line in zip(log, lines)]

    whole = s.limit(template)
    fitted, sizes = s.fitted(lines, whole, whole, "log entry")
    if sum(sizes) + len(sizes) <= whole:
        prompt = fill(template, {"lines": "\n".join(fitted)})
        return {"summary": s.generate([prompt])[0], "windows": [], "levels": 1, "prompt": prompt}

    windows: list[dict[str, Any]] = []
    level, current, tmpl = 1, items, window_template
    while True:
        # the time range in the window template takes a few tokens: plan with the longest one
        limit = s.limit(tmpl, start=clock(current[-1]["end"]), end=clock(current[-1]["end"]))
        per_line = limit if level == 1 else limit // 2  # merge windows hold at least two summaries
        texts, sizes = s.fitted([c["line"] for c in current], limit, per_line,
                                "log entry" if level == 1 else "summary")
        groups = pack(texts, sizes, limit)
        prompts = []
        for g in groups:
            start, end = _span([current[i] for i in g])
            body = "\n".join(texts[i] for i in g)
            prompts.append(fill(tmpl, {"start": clock(start), "end": clock(end), "lines": body}))
        summaries = s.generate(prompts)
        made = []
        for g, text, prompt in zip(groups, summaries, prompts):
            start, end = _span([current[i] for i in g])
            made.append({"level": level, "start": start, "end": end, "entries": len(g), "summary": text,
                         "prompt": prompt, "line": f"{_range(start, end)} {text}"})
        windows += [{k: v for k, v in w.items() if k != "line"} for w in made]
        merged = s.limit(merge_template)
        texts, sizes = s.fitted([w["line"] for w in made], merged, merged // 2, "summary")
        if sum(sizes) + len(sizes) <= merged or len(made) == 1:
            prompt = fill(merge_template, {"lines": "\n".join(texts)})
            return {"summary": s.generate([prompt])[0], "windows": windows, "levels": level + 1, "prompt": prompt}
        level, current, tmpl = level + 1, made, merge_template
