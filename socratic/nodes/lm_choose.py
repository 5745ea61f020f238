"""Multiple-choice answering that always ends in a decision or a counted "invalid": options scored by the LM's
log-likelihood, or a generated letter read by a stated rule with scoring as the fallback (node `lm_choose`).

Scoring is cloze-style: the scoring prompt (prompts/mc_score.txt) has the context and the question but no option
list, and each option's text is scored as the answer. Measured on the packaged SmolLM2-135M-Instruct, 24 designed
items with the answering fact in the context (tests/support/mc_items.py), chance 0.20: cloze 20/24 (chat, the
default for an instruct LM; mean or sum of token log-probs), raw prompt 22/24 (mean) and 23/24 (sum); with the
lettered option list in the prompt, scoring the letter 4/24, "B. text" 7/24, the text 6/24, generated letters
4/24 (it answers "A"). Mean is the default: sum favours short options, and benchmark options differ in length."""

from __future__ import annotations

import re
import string
from typing import Any, Sequence

from ..context import Context
from ..errors import SocraticError
from ..models.base import LM
from ..node import node
from ..paths import PACKAGE_DIR, REPO_DIR
from ..types import Prompt
from .lm_budget import MARGIN
from .text import fill, placeholders, use_chat

LETTERS = string.ascii_uppercase
DEFAULT_TEMPLATES = {"template": "mc_answer.txt", "score_template": "mc_score.txt"}
FIELDS = ("context", "question", "options", "letters")
MODES = ("auto", "score", "letter")
PARSE_RULES = ("auto", "first", "anchor")
NORMALISE = ("mean", "sum")


# ---------------------------------------------------------------- the prompt

def option_lines(options: Sequence[str]) -> str:
    """"A. first option" / "B. second option" ..., one per line."""
    return "\n".join(f"{LETTERS[k]}. {text}" for k, text in enumerate(options))


def letters_phrase(n: int) -> str:
    """"A, B, C, D or E" for n = 5."""
    return LETTERS[0] if n == 1 else f"{', '.join(LETTERS[:n - 1])} or {LETTERS[n - 1]}"


def default_template(param: str = "template") -> str:
    """The shipped prompt of `template` (prompts/mc_answer.txt) or `score_template` (prompts/mc_score.txt)."""
    name = DEFAULT_TEMPLATES[param]
    for d in (REPO_DIR / "prompts", PACKAGE_DIR / "prompts"):
        if (d / name).is_file():
            return (d / name).read_text(encoding="utf-8")
    raise SocraticError(f"prompt template not found: {name}", field=param)


def build_prompt(template: str, context: str, question: str, options: Sequence[str]) -> str:
    """The template filled (trailing newlines of a template file dropped, so raw prompts end where its text does)."""
    return fill(template.rstrip("\n"), {"context": context.strip(), "question": question.strip(),
                                        "options": option_lines(options), "letters": letters_phrase(len(options))})


# ---------------------------------------------------------------- reading a letter

_OPENERS = " \t\r\n([{*\"'"
_ARTICLE = re.compile(r"\s+[a-z]")  # "A man ..." : the article, not option A


def _letter_at(text: str, i: int, n: int) -> int | None:
    """The option index of the letter at text[i] when it stands alone (not inside a word)."""
    if i >= len(text) or text[i] not in LETTERS[:n]:
        return None
    if i + 1 < len(text) and text[i + 1].isalpha():
        return None
    if i > 0 and text[i - 1].isalpha():
        return None
    return LETTERS.index(text[i])


def parse_letter(reply: str, n: int, rule: str = "auto", anchor: str | None = None) -> int | None:
    """The option a reply names, or None. Rules (letters beyond the n-th are not options):
    - "first": LLoVi's rule: the reply's first character (leading spaces skipped) is the letter.
    - "anchor": the first character after the first `anchor` in the reply (spaces skipped).
    - "auto": the first character when it is a letter standing alone (leading spaces, brackets, quotes and
      asterisks skipped: "B", "B.", "(B)", "**B**"); else, with an anchor, the letter after it; else the first
      letter standing alone anywhere in the reply ("The answer is C."), where "A" followed by a lowercase word
      reads as the article ("A man ...")."""
    if rule == "first":
        text = reply.lstrip()
        return LETTERS.index(text[0]) if text and text[0] in LETTERS[:n] else None
    if rule == "anchor" or (rule == "auto" and anchor):
        if not anchor:
            raise SocraticError("parse: anchor needs the `anchor` param", field="anchor")
        at = reply.find(anchor)
        if at >= 0:
            rest = reply[at + len(anchor):].lstrip()
            if rest and rest[0] in LETTERS[:n]:
                return LETTERS.index(rest[0])
        if rule == "anchor":
            return None
    if rule != "auto":
        raise SocraticError(f"parse must be one of {', '.join(PARSE_RULES)}, got {rule!r}", field="parse")
    start = len(reply) - len(reply.lstrip(_OPENERS))
    first = _letter_at(reply, start, n)
    if first is not None and not (reply[start] == "A" and _ARTICLE.match(reply, start + 1)):
        return first
    for m in re.finditer(f"[{LETTERS[:n]}]", reply):
        k = _letter_at(reply, m.start(), n)
        if k is not None and not (m.group() == "A" and _ARTICLE.match(reply, m.end())):
            return k
    return None


# ---------------------------------------------------------------- scores

def score_options(lm: LM, prompts: Sequence[str], options: Sequence[Sequence[str]], *, chat: bool,
                  normalise: str) -> list[list[float]]:
    """Per item, each option's log-likelihood as the answer after its scoring prompt (the option's text is the
    continuation), in one LM call for every item; `normalise` "mean" averages over the continuation's tokens,
    "sum" adds them."""
    pairs = [(p, _continuation(p, o.strip(), chat)) for p, opts in zip(prompts, options) for o in opts]
    token_lps = lm.score([p for p, _ in pairs], [c for _, c in pairs], chat=chat)
    flat = [(sum(lp) / len(lp) if normalise == "mean" else sum(lp)) if lp else float("-inf") for lp in token_lps]
    out, k = [], 0
    for opts in options:
        out.append([round(float(v), 4) for v in flat[k:k + len(opts)]])
        k += len(opts)
    return out


def _continuation(prompt: str, text: str, chat: bool) -> str:
    return text if chat or not prompt or prompt[-1].isspace() else " " + text


def best(scores: Sequence[float]) -> int:
    """The highest score's index; the first wins ties."""
    return max(range(len(scores)), key=lambda k: (scores[k], -k))


# ---------------------------------------------------------------- fitting the context

def fit_context(lm: LM, templates: Sequence[str], context: str, question: str, options: Sequence[str], *,
                chat: bool, max_new_tokens: int, warn) -> str:
    """`context` as given when every prompt of `templates` fits the LM's context length (unknown: as given);
    else every k-th line, spread over the whole context, with a warning (the captions stay in time order and
    cover the whole video)."""
    limit = lm.context_length
    if not limit:
        return context
    answer = max(max_new_tokens, max((lm.count_tokens(o, chat=False) for o in options), default=0))
    room = limit - answer - MARGIN
    lines = [ln for ln in context.split("\n") if ln.strip()]

    def size(text: str) -> int:
        return max(lm.count_tokens(build_prompt(t, text, question, options), chat=chat) for t in templates)

    if size(context) <= room:
        return context
    keep = len(lines)
    while keep > 0:
        keep = keep * 3 // 4
        step = len(lines) / keep if keep else 0
        picked = "\n".join(lines[int(i * step)] for i in range(keep))
        if size(picked) <= room:
            warn(f"lm_choose: the context ({len(lines)} lines) does not fit lm '{lm.model_id}''s {limit}-token "
                 f"context; {keep} lines spread over it were kept")
            return picked
    raise SocraticError(f"the question and options alone do not fit lm '{lm.model_id}''s {limit}-token context",
                        field="context")


# ---------------------------------------------------------------- the node

def _check_choose(params: dict[str, Any], ports: set[str]) -> list[str]:
    problems = []
    for key, allowed in (("mode", MODES), ("parse", PARSE_RULES), ("normalise", NORMALISE)):
        if key in params and params[key] not in allowed:
            problems.append(f"{key} must be one of {', '.join(allowed)}, got {params[key]!r}")
    if params.get("parse") == "anchor" and not params.get("anchor"):
        problems.append("parse: anchor needs the `anchor` param")
    for key, needs in (("template", ("question", "options")), ("score_template", ("question",))):
        template = params.get(key)
        if isinstance(template, str):
            used = placeholders(template)
            problems += [f"{key} placeholder '{{{p}}}' is not one of {{{'}, {'.join(FIELDS)}}}"
                         for p in used if p not in FIELDS]
            problems += [f"{key} needs '{{{p}}}'" for p in needs if p not in used]
    n = params.get("n_options")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(LETTERS)):
        problems.append(f"n_options must be a whole number from 1 to {len(LETTERS)}, got {n!r}")
    return problems


def _check_item(question: Any, options: Any, context: Any, n_options: int | None) -> None:
    if not isinstance(question, str) or not question.strip():
        raise SocraticError("the question is empty", field="question")
    if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
        raise SocraticError("options must be a list of texts", field="options")
    if n_options is not None and len(options) != n_options:
        raise SocraticError(f"{len(options)} options, expected {n_options} (n_options)", field="options")
    if not 1 <= len(options) <= len(LETTERS):
        raise SocraticError(f"{len(options)} options: between 1 and {len(LETTERS)} are possible", field="options")
    empty = [LETTERS[k] for k, o in enumerate(options) if not o.strip()]
    if empty:
        raise SocraticError(f"option {', '.join(empty)} is empty", field="options")
    if context is not None and not isinstance(context, str):
        raise SocraticError(f"context must be text, got {type(context).__name__}", field="context")


@node("lm_choose", outputs={"choice": Any, "letter": str, "scores": list[float], "decided_by": str, "reply": str,
                            "prompt": str}, batched=True, check=_check_choose)
def lm_choose(question: str, options: list[str], context: str = "", *, lm: LM, mode: str = "auto",
              template: Prompt = None, score_template: Prompt = None, parse: str = "auto",
              anchor: str | None = None, n_options: int | None = None, normalise: str = "mean",
              max_new_tokens: int = 16, chat: bool | str = "auto", ctx: Context) -> dict[str, list[Any]]:
    """Pick one of the options: `choice` (0-based index, null when invalid), `letter` ("" when invalid),
    `scores` (per option; [] when not computed), `decided_by`, the LM's `reply` ("" when none was generated) and
    the `prompt` behind the decision.

    Modes: "score" scores each option's text as the answer after `score_template` (default prompts/mc_score.txt:
    {context}, {question}, no option list) and picks the highest (`normalise`: mean or sum of its token
    log-probs; decided_by "score"); "letter" generates greedily after `template` (default prompts/mc_answer.txt:
    {context}, {question}, {options} as "A. ..." lines, {letters} as "A, B, C, D or E") and reads the letter by
    `parse` (decided_by "letter"), scoring the options when no letter is found ("fallback_score"); "auto" scores
    when the LM can, else answers by letter. An LM that can do neither (an OpenAI-compatible server without
    log-probs, and a reply without a letter) gives choice null, decided_by "invalid" and a warning. With
    `n_options` set, any other option count is that item's error; so is an empty option or question.
    """
    n_items = len(question)
    contexts = [c if c is not None else "" for c in (context if isinstance(context, list) else [""] * n_items)]
    for q, opts, c in zip(question, options, contexts):
        _check_item(q, opts, c, n_options)
    if mode not in MODES:
        raise SocraticError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    if normalise not in NORMALISE:
        raise SocraticError(f"normalise must be mean or sum, got {normalise!r}", field="normalise")
    letter_t = default_template("template") if template is None else template
    score_t = default_template("score_template") if score_template is None else score_template
    chat = use_chat(chat, lm)
    used = [score_t] if mode == "score" else [letter_t] if mode == "letter" else [score_t, letter_t]
    contexts = [fit_context(lm, used, c, q, o, chat=chat, max_new_tokens=max_new_tokens, warn=ctx.warn)
                for q, o, c in zip(question, options, contexts)]
    letter_prompts = [build_prompt(letter_t, c, q, o) for q, o, c in zip(question, options, contexts)]
    score_prompts = [build_prompt(score_t, c, q, o) for q, o, c in zip(question, options, contexts)]
    out: dict[str, list[Any]] = {"choice": [None] * n_items, "letter": [""] * n_items, "scores": [[]] * n_items,
                                 "decided_by": ["invalid"] * n_items, "reply": [""] * n_items,
                                 "prompt": list(letter_prompts)}

    def scored(idx: list[int], how: str) -> bool:
        """Fill in items `idx` by scores; False (with a warning) when the LM cannot score."""
        try:
            all_scores = score_options(lm, [score_prompts[i] for i in idx], [options[i] for i in idx], chat=chat,
                                       normalise=normalise)
        except SocraticError as exc:
            if mode == "score":
                raise
            ctx.warn(f"lm_choose: lm '{lm.model_id}' cannot score options ({exc.message})")
            return False
        for i, s in zip(idx, all_scores):
            k = best(s)
            out["choice"][i], out["letter"][i], out["scores"][i], out["decided_by"][i] = k, LETTERS[k], s, how
            out["prompt"][i] = score_prompts[i]
        return True

    if mode in ("score", "auto") and scored(list(range(n_items)), "score"):
        return out
    replies = lm.generate(letter_prompts, max_new_tokens=max_new_tokens, temperature=0.0, seed=ctx.node_seed(),
                          chat=chat)
    missing = []
    for i, row in enumerate(replies):
        reply = row[0].text
        out["reply"][i] = reply
        k = parse_letter(reply, len(options[i]), parse, anchor)
        if k is None:
            missing.append(i)
        else:
            out["choice"][i], out["letter"][i], out["decided_by"][i] = k, LETTERS[k], "letter"
    if missing and (mode != "letter" or not scored(missing, "fallback_score")):
        ctx.warn(f"lm_choose: no valid letter in {len(missing)} of {n_items} replies and no scores: counted "
                 f"invalid (choice null)")
    elif missing:
        ctx.warn(f"lm_choose: no valid letter in {len(missing)} of {n_items} replies; decided by scores")
    return out
