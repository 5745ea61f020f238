"""PICa prompts (methods.md §2): header, n examples, then the test item, built from three template files.

The templates live in prompts/pica_header.txt, pica_example.txt and pica_query.txt and are read as raw bytes
(no newline translation, no stripping), so the prompt is exactly the bytes of those files with the fields filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import SocraticError
from ..paths import PACKAGE_DIR, REPO_DIR

TEMPLATE_FILES = {"header": "pica_header.txt", "example": "pica_example.txt", "query": "pica_query.txt"}
_FIELD = re.compile(r"\{(caption|question|answer)\}")


def prompt_dirs() -> list[Path]:
    return [REPO_DIR / "prompts", PACKAGE_DIR / "prompts"]


def read_template(name_or_path: str | Path) -> str:
    """A template's text, byte for byte: a path, or a file name looked up in prompts/."""
    p = Path(name_or_path)
    candidates = [p] if p.is_absolute() or p.exists() else [d / p for d in prompt_dirs()]
    for c in candidates:
        if c.is_file():
            return c.read_bytes().decode("utf-8")
    raise SocraticError(f"prompt template not found: {name_or_path}", field="template")


@dataclass(frozen=True)
class PromptFormat:
    header: str
    example: str
    query: str

    @classmethod
    def default(cls) -> "PromptFormat":
        return cls(**{k: read_template(v) for k, v in TEMPLATE_FILES.items()})

    def fill(self, template: str, **values: str) -> str:
        # one pass, so a caption containing "{question}" is never substituted again
        return _FIELD.sub(lambda m: str(values[m.group(1)]), template)

    def build(self, examples: Sequence[tuple[str, str, str]], caption: str, question: str) -> str:
        """`examples`: (caption, question, answer) triples, in prompt order."""
        parts = [self.header]
        parts += [self.fill(self.example, caption=c, question=q, answer=a) for c, q, a in examples]
        parts.append(self.fill(self.query, caption=caption, question=question, answer=""))
        return "".join(parts)


def image_context(caption: str, tags: Sequence[str] | None = None, *, tag_join: str = "faithful") -> str:
    """The test image as text: the caption, then its tags.

    faithful (reference): caption + ". " + ", ".join(tags), so a caption ending in "." gives "..".
    clean: trailing dots/spaces of the caption are dropped before ". ".
    No tags (None or empty): the caption alone.
    """
    if caption is None:
        raise SocraticError("no caption for the image context", field="caption")
    caption = str(caption)
    if not tags:
        return caption
    if tag_join == "faithful":
        head = caption
    elif tag_join == "clean":
        head = caption.rstrip().rstrip(".").rstrip()
    else:
        raise SocraticError(f"unknown tag_join {tag_join!r} (faithful or clean)", field="tag_join")
    return head + ". " + ", ".join(str(t) for t in tags)
