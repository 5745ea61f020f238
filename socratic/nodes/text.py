"""Language nodes: fill a prompt template, generate with an LM, pick and join."""

from __future__ import annotations

import re
from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..models.base import LM
from ..node import node
from ..types import Prompt

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\[(-?\d+)\])?(\|a)?\}")
_AN_EXCEPTIONS = ("uni", "use", "usu", "ure", "eu", "one", "once")  # vowel letter, consonant sound: "a"
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")  # consonant letter, vowel sound: "an"


def placeholders(template: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(template)))


def with_article(text: str) -> str:
    """`text` after "a" or "an", as its first word is pronounced: "an amusement arcade", "a university"."""
    word = text.strip().lower()
    vowel = word[:1] in "aeiou" and not word.startswith(_AN_EXCEPTIONS)
    return f"{'an' if vowel or word.startswith(_SILENT_H) else 'a'} {text.strip()}"


def fill(template: str, values: dict[str, Any], *, sep: str = ", ") -> str:
    """Replace each `{name}`; a list value is joined with `sep`; `{name[i]}` is its element i (negative: from
    the end); `{name|a}` / `{name[i]|a}` also put "a" or "an" before it. Other braces are left alone."""

    def sub(m: re.Match) -> str:
        v = values[m.group(1)]
        if m.group(2) is not None:
            i = int(m.group(2))
            if not isinstance(v, (list, tuple)):
                raise SocraticError(f"'{m.group(0)}' takes an element, but '{m.group(1)}' is not a list")
            if not -len(v) <= i < len(v):
                raise SocraticError(f"'{m.group(0)}': index {i} out of range ({len(v)} items)")
            v = v[i]
        text = sep.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
        return with_article(text) if m.group(3) and text.strip() else text

    missing = [p for p in placeholders(template) if p not in values]
    if missing:
        raise SocraticError(f"template needs {', '.join(missing)}, which are not wired as inputs")
    return _PLACEHOLDER.sub(sub, template)


def _check_prompt(params: dict[str, Any], ports: set[str]) -> list[str]:
    template = params.get("template")
    if not isinstance(template, str):
        return []
    need = set(placeholders(template))
    problems = [f"template placeholder '{{{p}}}' has no input wired" for p in sorted(need - ports)]
    problems += [f"input '{p}' is not used by the template" for p in sorted(ports - need)]
    return problems


@node("prompt", outputs={"text": str}, check=_check_prompt)
def prompt(*, template: Prompt, sep: str = ", ", **fields: Any) -> str:
    """Fill `{placeholders}` in a template (inline or a prompts/ file) from the wired inputs: `{name}`,
    `{name[0]}` (an element of a list), `{name|a}` (with "a"/"an")."""
    return fill(template, fields, sep=sep)


def _chat_ok(chat: Any) -> bool:
    return isinstance(chat, bool) or chat == "auto"


def _check_generate(params: dict[str, Any], ports: set[str]) -> list[str]:
    chat = params.get("chat", "auto")
    return [] if _chat_ok(chat) else [f"chat must be auto, true or false, got {chat!r}"]


def use_chat(chat: Any, lm: LM) -> bool:
    """The `chat` param resolved: "auto" wraps the prompt in the chat template iff the LM is instruction-tuned."""
    if not _chat_ok(chat):
        raise SocraticError(f"chat must be auto, true or false, got {chat!r}", field="chat")
    return lm.instruct if chat == "auto" else chat


@node("lm_generate", outputs={"texts": list[str], "text": str}, batched=True, check=_check_generate)
def lm_generate(prompt: str, *, lm: LM, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                max_new_tokens: int = 64, stop: list[str] | None = None, strip: bool = True,
                chat: bool | str = "auto", ctx: Context) -> dict[str, list[Any]]:
    """n completions per prompt (temperature 0 = greedy); `text` is the first one.

    `chat`: "auto" (default) sends the prompt as one user message in the LM's chat template (with the generation
    prompt) when the LM is instruction-tuned (`lm.instruct`: the spec's `instruct:`, else a chat template and a
    name saying instruct/chat/-it), and raw otherwise; true or false force it. Use false for prompts written as
    text to continue (captioning, few-shot Q&A).
    """
    if n < 1:
        raise SocraticError(f"n must be ≥ 1, got {n}", field="n")
    for i, p in enumerate(prompt):
        if not isinstance(p, str) or not p.strip():
            raise SocraticError(f"prompt {i} is empty", field="prompt")
    outs = lm.generate(list(prompt), max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=n,
                       stop=list(stop or []), seed=ctx.node_seed(), chat=use_chat(chat, lm))
    texts = [[c.text.strip() if strip else c.text for c in row] for row in outs]
    empty = sum(not any(t.strip() for t in row) for row in texts)
    if empty:  # kept (downstream nodes decide), but said: a tiny LM often stops at once
        ctx.warn(f"node '{ctx.node}': lm '{lm.model_id}' gave only empty completions for {empty} of "
                 f"{len(texts)} prompt(s)")
    return {"texts": texts, "text": [row[0] for row in texts]}


@node("pick", outputs={"item": Any})
def pick(items: list[Any], *, index: int = 0) -> Any:
    """One element of a list (negative indexes count from the end)."""
    if not -len(items) <= index < len(items):
        raise SocraticError(f"index {index} out of range for {len(items)} items", field="index")
    return items[index]


@node("join", outputs={"text": str})
def join(items: list[Any], *, sep: str = ", ", limit: int | None = None) -> str:
    """Join items as text, optionally only the first `limit`."""
    return sep.join(map(str, items[:limit] if limit else items))
