"""PICa multi-query ensembling (methods.md §2): m prompts, greedy, ≤5 new tokens, stop at "\\n";
a prompt's score is the sum of its token log-probs up to the newline; the best prompt's answer wins
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


def completion_score(tokens: Sequence[str], logprobs: Sequence[float]) -> float:
    """Sum of log-probs of the tokens before the first one holding a newline (all of them if none)."""
    total = 0.0
    for k, lp in enumerate(logprobs):
        if k < len(tokens) and "\n" in tokens[k]:
            break
        total += float(lp)
    return total


def candidate(completion: Any, *, postprocess: bool = True) -> Candidate:
    text = completion.text.split("\n", 1)[0]
    if completion.token_logprobs is None or (not completion.token_logprobs and text.strip()):
        raise SocraticError("the LM returned no token log-probs; PICa needs logprobs=True support", field="lm")
    score = completion_score(completion.tokens or [], completion.token_logprobs)
    return Candidate(text, process_answer(text) if postprocess else text.strip(), score)


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
    otherwise one call per prompt (the slow baseline the benchmark compares with)."""
    flat = [p for g in prompt_groups for p in g]
    if not flat:
        return []
    kw = dict(temperature=0.0, max_new_tokens=max_new_tokens, stop=list(stop), logprobs=True)
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
