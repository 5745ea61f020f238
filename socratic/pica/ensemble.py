"""PICa multi-query ensembling (methods.md §2): m prompts, greedy, ≤5 new tokens, stop at "\\n";
a prompt's score is the sum of its token log-probs before the first token that is exactly "\\n" (a token
merging text with the newline, like ".\\n", counts, as in the reference); the best prompt's answer wins
(scores are not pooled; the first prompt wins ties)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from ..errors import SocraticError

STOP_WORDS = {"a", "an", "the", "to", ""}


def process_answer(text: str) -> str:
    """Reference post-processing: drop "." and ",", lower-case, split on spaces, drop articles/"to"/"", rejoin."""
    words = text.replace(".", "").replace(",", "").lower().split(" ")
    return " ".join(w for w in words if w not in STOP_WORDS)


@dataclass
class Candidate:
    text: str  # raw completion, cut at the first newline
    answer: str  # post-processed
    score: float  # sum of token log-probs before the newline
    scored: str = ""  # the text of the tokens that were summed


@dataclass
class EnsembleResult:
    answer: str
    best: int
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.candidates[self.best].score

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "best": self.best, "candidates": [asdict(c) for c in self.candidates]}


def scored_tokens(tokens: Sequence[str], n: int) -> int:
    """How many of the first `n` tokens the reference sums: those before the first token that is exactly
    "\\n". Its API stopped at the first token holding a newline, so a merged one (".\\n", "\\n\\n") is the
    last one counted and nothing after it exists."""
    for k in range(n):
        tok = tokens[k] if k < len(tokens) else ""
        if tok == "\n":
            return k
        if "\n" in tok:
            return k + 1
    return n


def completion_score(tokens: Sequence[str], logprobs: Sequence[float]) -> float:
    """Sum of the log-probs the reference counts (see scored_tokens)."""
    return float(sum(float(x) for x in logprobs[:scored_tokens(tokens, len(logprobs))]))


def candidate(completion: Any, *, postprocess: bool = True) -> Candidate:
    text = completion.text.split("\n", 1)[0]
    if completion.token_logprobs is None or (not completion.token_logprobs and text.strip()):
        raise SocraticError("the LM returned no token log-probs; PICa needs logprobs=True support", field="lm")
    tokens = list(completion.tokens or [])
    n = scored_tokens(tokens, len(completion.token_logprobs))
    score = completion_score(tokens, completion.token_logprobs)
    return Candidate(text, process_answer(text) if postprocess else text.strip(), score, "".join(tokens[:n]))


def pick(candidates: Sequence[Candidate], *, skip_empty: bool = False) -> int:
    """Index of the highest score; strict '>' so the first prompt wins ties.

    skip_empty (not the reference): ignore candidates whose answer is empty, unless all are.
    """
    best, best_score = -1, float("-inf")
    for k, c in enumerate(candidates):
        if skip_empty and not c.answer:
            continue
        if best < 0 or c.score > best_score:
            best, best_score = k, c.score
    return best if best >= 0 else 0


def generate_answers(lm: Any, prompt_groups: Sequence[Sequence[str]], *, max_new_tokens: int = 5,
                     stop: Sequence[str] = ("\n",), batched: bool = True, postprocess: bool = True,
                     skip_empty: bool = False) -> list[EnsembleResult]:
    """One EnsembleResult per group of m prompts. batched: every prompt of every group in one generate call;
    otherwise one call per prompt (the slow baseline the benchmark compares with).

    `stop` ends the answer text. The LM itself is asked without a stop string: backends cut the token that
    holds the stop string, but the reference's score counts a token merging text with the newline."""
    flat = [p for g in prompt_groups for p in g]
    if not flat:
        return []
    if list(stop) != ["\n"]:
        raise SocraticError(f"PICa answers end at a newline; stop={list(stop)!r} is not supported", field="stop")
    kw = dict(temperature=0.0, max_new_tokens=max_new_tokens, logprobs=True)
    if batched:
        outs = lm.generate(flat, **kw)
    else:
        outs = [lm.generate([p], **kw)[0] for p in flat]
    if len(outs) != len(flat):
        raise SocraticError(f"the LM answered {len(outs)} of {len(flat)} prompts", field="lm")
    cands = [candidate(o[0], postprocess=postprocess) for o in outs]
    results, pos = [], 0
    for g in prompt_groups:
        cs = cands[pos:pos + len(g)]
        pos += len(g)
        b = pick(cs, skip_empty=skip_empty)
        results.append(EnsembleResult(cs[b].answer, b, cs))
    return results


def ensemble_answer(lm: Any, prompts: Sequence[str], **kw: Any) -> EnsembleResult:
    """The answer to one question from its m prompts (see generate_answers for options)."""
    return generate_answers(lm, [list(prompts)], **kw)[0]
