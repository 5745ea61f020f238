"""Summaries of a log of any length that keep what was said and read: windows, then the windows' summaries merged.

Level 1 splits the log into consecutive time windows of at most `faithful_window` log tokens (a per-model default
from its size: what it summarises without dropping facts; never more than its context leaves) and summarises each
with its time range; what was said and read in the window is quoted in the prompt (`{said}`) rather than left
inside the log lines. The window summaries are merged in turn, in windows again if they do not fit at once.

Every LM summary is checked against its window by rule (wording.py):
- cleaning: role labels, assistant self-descriptions and sentences that only echo the prompt are removed, and so is
  a sentence not *supported* by the window (under 60% of its content words occur in the lines and quotes given);
- facts: each quoted sentence with at least two content words (one for scene text) is a fact; a summary keeps it
  when it *covers* it (half of its content words, two at least). A window summary that keeps none is redone once with
  `retry_template` (the quotes alone) and flagged when the redo keeps none either;
- completion (extractive, stated in the output): a fact that a window summary dropped is added to it as a quote
  (`[02:00–03:10] I said: "…."`), and a fact that the top summary dropped is added to it as the window-summary sentence
  that keeps it, else its quote, with its time, in time order (at most `max_added`, spread over the video).
A log that fits one window gets a single summary from `template`, checked and completed the same way.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import clock
from ..models.base import LM
from ..node import node
from ..nodes.lm_budget import budget, context_of, faithful_window, pack, shorten
from ..nodes.text import fill, placeholders, use_chat
from ..types import Prompt
from .egocentric import format_line, when
from .quotes import entry_quotes, quote_line, quote_sentence
from .wording import RULES, clean_reply, content_words, covers, sentences, supported

NOTHING_SAID = "(nothing was said or read)"


def _range(start: float, end: float) -> str:
    return f"[{clock(start)}–{clock(end)}]"


class _Summariser:
    def __init__(self, lm: LM, context: int, chat: bool, max_new_tokens: int, stop: list[str], ctx: Context):
        self.lm, self.context, self.chat, self.max_new_tokens, self.stop, self.ctx = \
            lm, context, chat, max_new_tokens, stop, ctx
        self.removed = 0

    def tokens(self, text: str) -> int:
        return self.lm.count_tokens(text, chat=False)

    def limit(self, template: str, **values: str) -> int:
        empty = fill(template, {"start": "", "end": "", "said": "", "lines": "", **values})
        return budget(self.lm, self.lm.count_tokens(empty, chat=self.chat), self.context, self.max_new_tokens)

    def fit(self, text: str, per: int, what: str) -> str:
        size = self.tokens(text)
        if size <= per:
            return text
        self.ctx.warn(f"{what} {text[:24]!r}… takes {size} tokens, more than the {per} that fit in a window of lm "
                      f"'{self.lm.model_id}'; it was truncated")
        return shorten(text, size, per)

    def generate(self, prompts: list[str], echo: list[set[str]], material: list[set[str]]) -> list[str]:
        """The LM's summaries, cleaned (clean_reply) and without unsupported sentences."""
        if not prompts:
            return []
        outs = self.lm.generate(prompts, max_new_tokens=self.max_new_tokens, temperature=0.0, stop=self.stop,
                                seed=self.ctx.node_seed(), chat=self.chat)
        texts = []
        for row, e, m in zip(outs, echo, material):
            text, removed = clean_reply(row[0].text, e)
            keep = [s for s in sentences(text) if supported(s, m)]
            self.removed += len(removed) + len(sentences(text)) - len(keep)
            texts.append(" ".join(keep))
        empty = sum(not t for t in texts)
        if empty:
            self.ctx.warn(f"node '{self.ctx.node}': lm '{self.lm.model_id}' gave no usable summary for {empty} of "
                          f"{len(texts)} prompt(s)")
        return texts


def _echo(template: str) -> set[str]:
    return set(content_words(fill(template, {k: "" for k in placeholders(template)})))




def _units(entry: dict[str, Any], quoted: bool, limit: int, s: _Summariser,
           segments: list[Any] | None) -> list[dict[str, Any]]:
    """An entry as packing units: its line with as many of its quotes as fit `limit` tokens; speech too long for
    one window continues in further units (the line repeated), and a single sentence too long is truncated."""
    line = s.fit(format_line({**entry, "heard": "", "text": ""} if quoted else entry), max(8, limit // 2),
                 "log entry")
    base = {"start": float(entry["t"]), "end": float(entry.get("last", entry["t"])), "line": line}
    room = max(8, limit - s.tokens(line) - 1)
    units, chunk, used = [], [], 0
    for q in entry_quotes(entry, segments) if quoted else []:
        size = s.tokens(quote_line(q)) + 1
        if size > room:
            q = {**q, "text": s.fit(q["text"], max(4, room - 12), f"what was {q['verb']} at {clock(q['t'])}:")}
            size = s.tokens(quote_line(q)) + 1
        if chunk and used + size > room:
            units.append({**base, "quotes": chunk, "size": s.tokens(line) + used})
            chunk, used = [], 0
        chunk.append(q)
        used += size
    units.append({**base, "quotes": chunk, "size": s.tokens(line) + used})
    return units


def _facts(w: dict[str, Any]) -> list[dict[str, Any]]:
    return [q for q in w["quotes"] if q["fact"]]


def _kept(text: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    have = content_words(text)
    return [q for q in facts if covers(have, q["text"])]


def _spread(items: list[Any], most: int) -> list[Any]:
    """At most `most` of `items`, evenly spaced, first and last included."""
    if len(items) <= most:
        return items
    if most <= 1:
        return items[:most]
    step = (len(items) - 1) / (most - 1)
    return [items[round(k * step)] for k in range(most)]


class _Windows:
    """Builds, generates, checks and completes summary windows."""

    def __init__(self, s: _Summariser, retry_template: str):
        self.s, self.retry = s, retry_template

    def level1(self, units: list[dict[str, Any]], template: str) -> dict[str, Any]:
        start, end = units[0]["start"], max(u["end"] for u in units)
        quotes = [q for u in units for q in u["quotes"]]
        said = "\n".join(quote_line(q) for q in quotes) or NOTHING_SAID
        lines = "\n".join(dict.fromkeys(u["line"] for u in units))
        return {"level": 1, "start": start, "end": end, "entries": len({(u["start"], u["line"]) for u in units}),
                "prompt": fill(template, {"start": clock(start), "end": clock(end), "lines": lines, "said": said}),
                "quotes": quotes, "material": set(content_words(lines + "\n" + said)), "echo": _echo(template)}

    def merge(self, children: list[dict[str, Any]], lines: list[str], template: str, level: int) -> dict[str, Any]:
        body = "\n".join(lines)
        return {"level": level, "start": children[0]["start"], "end": children[-1]["end"], "entries": len(children),
                "prompt": fill(template, {"lines": body}), "quotes": [q for c in children for q in c["quotes"]],
                "material": set(content_words(body)), "echo": _echo(template)}

    def run(self, made: list[dict[str, Any]], complete: bool) -> None:
        """Each window's LM summary, checked: redone when it keeps no fact (level 1, with a retry template), flagged
        when it still keeps none; `complete`: the facts it dropped are added as quotes."""
        texts = self.s.generate([w["prompt"] for w in made], [w["echo"] for w in made], [w["material"] for w in made])
        for w, text in zip(made, texts):
            w.update(lm=text, redone=False)
        if self.retry and complete:
            again = [w for w in made if _facts(w) and not _kept(w["lm"], _facts(w))]
            prompts = [fill(self.retry, {"start": clock(w["start"]), "end": clock(w["end"]),
                                         "said": "\n".join(quote_line(q) for q in w["quotes"])}) for w in again]
            redo = self.s.generate(prompts, [_echo(self.retry)] * len(again), [w["material"] for w in again])
            for w, text, prompt in zip(again, redo, prompts):
                w["redone"] = True
                if _kept(text, _facts(w)):
                    w.update(lm=text, prompt=prompt)
        for w in made:
            facts = _facts(w)
            kept = _kept(w["lm"], facts)
            missing = [q for q in facts if not any(q is k for k in kept)] if complete else []
            w.update(summary=" ".join([w["lm"]] * bool(w["lm"]) + [quote_sentence(q) for q in missing]),
                     facts=len(facts), kept=len(kept), added=len(missing), flagged=bool(facts) and not kept,
                     kept_ids={id(q) for q in kept})


@node("hierarchical_summary", outputs={"summary": str, "windows": list[Any], "levels": int, "prompt": str,
                                       "facts": list[Any], "check": dict}, version=RULES)
def hierarchical_summary(log: list[Any], segments: list[Any] | None = None, *, lm: LM, template: Prompt, window_template: Prompt,
                         merge_template: Prompt, retry_template: Prompt = "",
                         window_tokens: int | None = None, max_new_tokens: int = 96, stop: list[str] | None = None,
                         chat: str | bool = "auto", context_length: int | None = None, max_added: int = 20,
                         ctx: Context) -> dict:
    """A summary of the whole log that keeps what was said, and never overflows the LM's context.

    `template` ({lines}, {said}) summarises a log that fits one window. Otherwise `window_template` ({start},
    {end}, {lines}, {said}) summarises each window of consecutive entries and `merge_template` ({lines}: one
    `[start–end] summary` line per window) merges the summaries, recursively if needed. `{said}` holds the window's
    speech and scene text as quotes, one `[02:20] I said: "…"` line each (with a window template without `{said}`
    they stay inside the log lines, unchecked). `retry_template` ({start}, {end}, {said}) redoes a window summary
    that kept no fact. `window_tokens` overrides the per-model window size (`faithful_window`); `context_length`
    lowers the model's own context. With the transcript's `segments`, speech is also cut into sentences where
    segments meet (Whisper often ends one without a full stop). The checks and the completion: see the module
    docstring.

    Outputs: the final `summary`; every window in `windows` ({level, start, end, entries, summary, lm, prompt, facts,
    kept, added, redone, flagged}: level 1 = parts of the log; `lm` is the LM's own text after the checks, `summary`
    adds the facts it dropped; `facts`, `kept`, `added` are counts); the number of `levels` (1: one window); the
    final `prompt`; `facts` ({t, by, text, start, end, in_window, in_summary}: kept by the LM's own window / top
    summary); `check` (counts: facts, kept by the LM, added by rule, windows redone and flagged, sentences
    removed by the cleaning)."""
    if not log:
        raise SocraticError("the log is empty: nothing to summarise", field="log")
    if max_added < 0:
        raise SocraticError(f"max_added must be ≥ 0, got {max_added}", field="max_added")
    s = _Summariser(lm, context_of(lm, context_length, ctx.warn), use_chat(chat, lm), max_new_tokens,
                    list(stop or []), ctx)
    cap = faithful_window(lm, window_tokens)
    quoted = "said" in placeholders(window_template)
    last = clock(max(float(e.get("last", e["t"])) for e in log))
    limit = s.limit(window_template, start=last, end=last)
    limit = min(limit, cap) if cap else limit
    units = [u for e in log for u in _units(e, quoted, limit, s, segments)]
    build = _Windows(s, retry_template)

    whole = min(s.limit(template), cap) if cap else s.limit(template)
    groups = pack([u["line"] for u in units], [u["size"] for u in units], limit)
    fits = sum(u["size"] + 1 for u in units) <= whole
    if fits or len(groups) == 1:  # one window: one summary, checked and completed
        only = build.level1(units, template if fits else window_template)
        build.run([only], complete=True)
        return _finish(only, [only], [], 1, s, max_added)

    level1 = [build.level1([units[i] for i in g], window_template) for g in groups]
    build.run(level1, complete=True)
    windows, level, current = list(level1), 2, level1
    while True:
        room = s.limit(merge_template)
        lines = [f"{_range(w['start'], w['end'])} {w['summary']}" for w in current]
        if cap:  # small models merge little at a time, but at least two summaries
            room = min(room, max(cap, 2 * max(s.tokens(x) for x in lines) + 2))
        lines = [s.fit(x, max(8, room // 2), "summary") for x in lines]
        sizes = [s.tokens(x) for x in lines]
        groups = [list(range(len(lines)))] if sum(sizes) + len(sizes) <= room else pack(lines, sizes, room)
        made = [build.merge([current[i] for i in g], [lines[i] for i in g], merge_template, level) for g in groups]
        build.run(made, complete=False)
        if len(made) == 1:
            return _finish(made[0], level1, windows, level, s, max_added)
        windows += made
        level, current = level + 1, made


def _finish(top: dict[str, Any], level1: list[dict[str, Any]], windows: list[dict[str, Any]], levels: int,
            s: _Summariser, max_added: int) -> dict:
    """The outputs, the top summary completed with the facts it dropped (see the module docstring)."""
    facts, dropped = [], []
    for w in level1:
        for q in _facts(w):
            in_summary = id(q) in top["kept_ids"]
            facts.append({"t": q["t"], "by": q["by"], "text": q["text"], "start": w["start"], "end": w["end"],
                          "in_window": id(q) in w["kept_ids"], "in_summary": in_summary})
            if not in_summary and levels > 1:
                by_lm = [x for x in sentences(w["lm"]) if covers(content_words(x), q["text"])]
                dropped.append(f"{when(q)} {by_lm[0]}" if by_lm else quote_sentence(q))
    if levels == 1:  # one window: its own completion
        summary, added = top["summary"], top["added"]
    else:
        extra = list(dict.fromkeys(_spread(dropped, max_added)))
        summary, added = " ".join([top["lm"]] * bool(top["lm"]) + extra), len(extra)
        if len(dropped) > max_added:
            s.ctx.warn(f"node '{s.ctx.node}': the top summary dropped {len(dropped)} facts; {max_added} were added "
                       f"back (max_added), spread over the video")
    check = {"facts": len(facts), "window_lm_kept": sum(f["in_window"] for f in facts),
             "summary_lm_kept": sum(f["in_summary"] for f in facts), "added_to_windows": sum(w["added"] for w in level1),
             "added_to_summary": added, "windows_redone": sum(w["redone"] for w in level1),
             "windows_flagged": sum(w["flagged"] for w in level1), "sentences_removed": s.removed}
    public = ("level", "start", "end", "entries", "summary", "lm", "prompt", "facts", "kept", "added", "redone",
              "flagged")
    return {"summary": summary, "windows": [{k: w[k] for k in public} for w in windows], "levels": levels,
            "prompt": top["prompt"], "facts": facts, "check": check}

