"""Realistic egocentric LM prompts (activity, summary, Q&A shapes) built from a seeded synthetic world-state log.

Used by the LM backend tests and benchmarks/lm_backends.py; deterministic for a given seed.
"""

from __future__ import annotations

import random

PLACES = ["kitchen", "living room", "office", "garage", "supermarket", "park", "bathroom", "bedroom",
          "classroom", "parking lot", "coffee shop", "laundry room"]
OBJECTS = ["knife", "cutting board", "onion", "frying pan", "laptop", "keyboard", "coffee mug", "keys", "wallet",
           "shopping cart", "apple", "bicycle", "screwdriver", "towel", "book", "phone", "water bottle",
           "backpack", "washing machine", "chair", "table", "door", "television", "plant"]
ACTIVITIES = ["cutting vegetables", "typing on a laptop", "drinking coffee", "fixing a bicycle", "reading a book",
              "washing clothes", "walking the dog", "pushing a shopping cart", "watering a plant",
              "looking for my keys", "watching television", "cooking dinner"]
SPEECH = ["Where did I leave my keys?", "I need to buy milk and eggs today.", "The meeting starts at ten.",
          "This onion makes my eyes water.", "Let me check the tire pressure first.",
          "I should call my sister tonight.", "The printer is out of paper again.", "It is going to rain later."]
QUESTIONS = ["Where did I put my keys?", "What did I cook?", "Did I go shopping?", "What was I reading?",
             "When did I drink coffee?", "What did I say about the meeting?"]


def article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def activity_prompt(place: str, objects: list[str]) -> str:
    return ("I am wearing a camera that films what I see.\n"
            f"I am in {article(place)}.\n"
            f"Around me I can see: {', '.join(objects)}.\n"
            "What am I most likely doing right now? Answer with one short phrase that starts with a verb ending "
            "in -ing.")


def log_lines(n: int, seed: int = 0) -> list[str]:
    """n world-state log lines, one every 6 s, speech on about a third of them."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        t = 6 * i
        line = (f"[{t // 60:02d}:{t % 60:02d}] place: {rng.choice(PLACES)}; objects: "
                f"{', '.join(rng.sample(OBJECTS, 4))}; activity: {rng.choice(ACTIVITIES)}")
        if rng.random() < 0.35:
            line += f'; heard: "{rng.choice(SPEECH)}"'
        lines.append(line)
    return lines


def summary_prompt(lines: list[str]) -> str:
    return ("This is a log of a first-person video I recorded. Each line tells the time, where I was, what I saw, "
            "what I was doing and what I heard.\n\n" + "\n".join(lines) +
            '\n\nQ: In a few sentences, written as "I", what did I do in this video?\nA:')


def qa_prompt(lines: list[str], question: str) -> str:
    return ("These lines are the moments of a first-person video I recorded that matter for my question. Each line "
            "tells the time, where I was, what I saw, what I was doing and what I heard.\n\n" + "\n".join(lines) +
            f"\n\nAnswer the question in one short sentence, using only the lines above.\nQ: {question}\nA:")


def activity_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [activity_prompt(rng.choice(PLACES), rng.sample(OBJECTS, rng.randint(3, 10))) for _ in range(n)]


def summary_prompts(n: int, lines: int = 12, seed: int = 0) -> list[str]:
    return [summary_prompt(log_lines(lines, seed + k)) for k in range(n)]


def qa_prompts(n: int, lines: int = 8, seed: int = 0) -> list[str]:
    return [qa_prompt(log_lines(lines, seed + 100 + k), QUESTIONS[k % len(QUESTIONS)]) for k in range(n)]


def mixed_prompts(per_kind: int, seed: int = 0) -> dict[str, list[str]]:
    return {"activity": activity_prompts(per_kind, seed), "summary": summary_prompts(per_kind, seed=seed),
            "qa": qa_prompts(per_kind, seed=seed)}
