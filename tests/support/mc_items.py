"""A designed multiple-choice set: captions of a video in time order, one line holding the answering fact, a
question and five options (the right one at a varying position). Used by tests/test_lm_choose.py."""

from __future__ import annotations

from dataclasses import dataclass

_FILLER = ["I walk down a hallway.", "I look around the room.", "I open a door.", "I sit down for a moment.",
           "I stand up and stretch.", "I walk outside.", "I check the time on my watch.", "I close a drawer."]


@dataclass(frozen=True)
class Item:
    context: str
    question: str
    options: tuple[str, ...]
    answer: int


def _context(fact: str, at: int, seed: int) -> str:
    """Six captions, 10 s each, the fact at position `at`; filler lines rotate with `seed`."""
    lines = [_FILLER[(seed + k) % len(_FILLER)] for k in range(5)]
    lines.insert(at, fact)
    return "\n".join(f"[{10 * i:02d}-{10 * i + 10:02d}s] {line}" for i, line in enumerate(lines))


# (fact, question, right answer, four wrong ones)
_FACTS = [
    ("I pick up a red mug from the shelf.", "What colour was the mug I picked up?", "red",
     ["blue", "green", "yellow", "white"]),
    ("I put my keys in the top drawer of the desk.", "Where did I put my keys?", "in the top drawer of the desk",
     ["on the kitchen table", "in my coat pocket", "under the sofa", "next to the sink"]),
    ("I cut an onion on the wooden board.", "What vegetable did I cut?", "an onion",
     ["a carrot", "a potato", "a tomato", "a cucumber"]),
    ("A man in a yellow jacket waves at me.", "What was the man who waved at me wearing?", "a yellow jacket",
     ["a black suit", "a blue shirt", "a green hat", "a white coat"]),
    ("I read a sign that says PLATFORM 9.", "Which platform did the sign show?", "platform 9",
     ["platform 2", "platform 4", "platform 6", "platform 11"]),
    ("I water the tomato plants in the garden.", "What did I water?", "the tomato plants",
     ["the lawn", "the roses", "the apple tree", "the cactus"]),
    ("I pour orange juice into a glass.", "What did I pour into the glass?", "orange juice",
     ["milk", "water", "coffee", "red wine"]),
    ("I hear someone say: the train leaves at seven.", "When does the train leave?", "at seven",
     ["at noon", "at three", "at nine", "at midnight"]),
    ("I feed the cat in the laundry room.", "Which animal did I feed?", "the cat",
     ["the dog", "the parrot", "the rabbit", "the goldfish"]),
    ("I park my bicycle next to the library.", "Where did I park my bicycle?", "next to the library",
     ["behind the school", "at the train station", "outside the bakery", "in the garage"]),
    ("I wash three plates in the sink.", "How many plates did I wash?", "three",
     ["one", "five", "seven", "ten"]),
    ("I type an email to my sister on the laptop.", "Who did I write an email to?", "my sister",
     ["my boss", "my landlord", "my doctor", "my neighbour"]),
    ("I buy a loaf of bread at the bakery.", "What did I buy at the bakery?", "a loaf of bread",
     ["a birthday cake", "a bag of flour", "some cookies", "a box of eggs"]),
    ("I fix the flat tyre of my bicycle with a pump.", "What did I fix?", "the flat tyre of my bicycle",
     ["the kitchen tap", "the broken chair", "the car radio", "the garden gate"]),
    ("I play the piano in the living room.", "Which instrument did I play?", "the piano",
     ["the guitar", "the violin", "the drums", "the flute"]),
    ("I hang my wet towel on the balcony.", "Where did I hang my towel?", "on the balcony",
     ["in the bathroom", "on the door", "in the garden", "over the chair"]),
    ("I open the window because the room is hot.", "Why did I open the window?", "because the room was hot",
     ["to let the cat in", "to talk to a neighbour", "to shake out a rug", "to water the flowers"]),
    ("I eat a green apple on the bench.", "What did I eat on the bench?", "a green apple",
     ["a sandwich", "a banana", "an ice cream", "a bowl of soup"]),
    ("I write a shopping list with a blue pen.", "What did I write with the blue pen?", "a shopping list",
     ["a birthday card", "a letter to a friend", "my name on a box", "a phone number"]),
    ("I put the milk back in the fridge.", "Where did I put the milk?", "in the fridge",
     ["on the counter", "in the cupboard", "in the oven", "on the windowsill"]),
    ("I sweep the floor of the garage with a broom.", "Which room's floor did I sweep?", "the garage",
     ["the kitchen", "the bedroom", "the hallway", "the office"]),
    ("I turn on the radio and listen to the news.", "What did I listen to on the radio?", "the news",
     ["a football match", "a jazz concert", "a cooking show", "the weather report"]),
    ("I lock the front door with a silver key.", "Which door did I lock?", "the front door",
     ["the back door", "the garage door", "the bathroom door", "the shed door"]),
    ("I fold the laundry on the bed.", "Where did I fold the laundry?", "on the bed",
     ["on the floor", "on the kitchen table", "on the sofa", "in the car"]),
]


def designed_items() -> list[Item]:
    """24 items; the right option's position cycles through A-E, the fact's line through the video."""
    items = []
    for k, (fact, question, right, wrong) in enumerate(_FACTS):
        pos = k % 5
        options = list(wrong)
        options.insert(pos, right)
        items.append(Item(_context(fact, (k * 2) % 6, k), question, tuple(options), pos))
    return items
