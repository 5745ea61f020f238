"""Faithfulness of a video's summaries and answers to facts known to be in it (time, sentence, keywords, question).

A text *mentions* a fact when every keyword occurs in it at the start of a word, case aside ("tomato" matches
"tomatoes"); a keyword may list spellings as alternatives ("forty|40"). Scores, each a fraction of the facts:
- summary recall: the top summary mentions the fact;
- window recall: the level-1 window summary whose time span holds the fact's time (from its start to the next
  window's start) mentions it (a log that fitted one window: the summary itself);
- answer accuracy: the answer to the fact's question mentions it; evidence recall: an evidence line does;
- grounded: the answer came out `grounded` (the LM's own words, checked against the evidence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import SocraticError
from ..json_lines import read_jsonl


@dataclass(frozen=True)
class Fact:
    t: float  # seconds: when the sentence is said
    sentence: str
    keywords: tuple[str, ...]
    question: str


def load_facts(path: str | Path) -> list[Fact]:
    """Facts from a JSONL file, one {t, sentence, keywords, question} object a line."""
    facts = []
    for line in read_jsonl(path):
        row = line.value
        try:
            keywords = row["keywords"]
            if not (isinstance(keywords, list) and keywords and all(isinstance(k, str) and k.strip()
                                                                     for k in keywords)):
                raise ValueError("keywords must be a non-empty list of words")
            facts.append(Fact(float(row["t"]), str(row["sentence"]), tuple(keywords), str(row["question"])))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SocraticError(f"not a fact {{t, sentence, keywords, question}}: {exc}", file=str(path),
                                line=line.number) from None
    return facts


def mentions(text: str, keywords: Sequence[str]) -> bool:
    low = str(text).lower()
    return all(any(re.search(r"\b" + re.escape(alt.strip().lower()), low) for alt in kw.split("|"))
               for kw in keywords)


def window_for(windows: list[dict[str, Any]], t: float) -> dict[str, Any] | None:
    level1 = sorted((w for w in windows if w.get("level") == 1), key=lambda w: w["start"])
    inside = [w for w in level1 if w["start"] <= t]
    return inside[-1] if inside else (level1[0] if level1 else None)


def score(facts: Sequence[Fact], summary: str, windows: list[dict[str, Any]],
          answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The five fractions and a row per fact. `answers[i]` is video_qa's result for `facts[i].question`
    ({answer, evidence, grounded})."""
    if not facts:
        raise SocraticError("no facts to score against")
    rows = []
    for f, a in zip(facts, answers, strict=True):
        w = window_for(windows, f.t)
        rows.append({"t": f.t, "keywords": list(f.keywords), "in_summary": mentions(summary, f.keywords),
                     "in_window": mentions(w["summary"] if w else summary, f.keywords),
                     "answer": a["answer"], "correct": mentions(a["answer"], f.keywords),
                     "in_evidence": any(mentions(e["line"], f.keywords) for e in a.get("evidence") or []),
                     "grounded": bool(a.get("grounded"))})
    n = len(rows)
    return {"summary_recall": sum(r["in_summary"] for r in rows) / n,
            "window_recall": sum(r["in_window"] for r in rows) / n,
            "answer_acc": sum(r["correct"] for r in rows) / n,
            "evidence_recall": sum(r["in_evidence"] for r in rows) / n,
            "grounded": sum(r["grounded"] for r in rows) / n, "rows": rows}


def last_line(s: dict[str, Any]) -> str:
    return (f"summary_recall={s['summary_recall']:.2f} window_recall={s['window_recall']:.2f} "
            f"answer_acc={s['answer_acc']:.2f} evidence_recall={s['evidence_recall']:.2f} grounded={s['grounded']:.2f}")
