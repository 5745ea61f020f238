"""The pipeline's outputs, as they were returned."""

from __future__ import annotations

from ..load import RunDoc
from ..page import section
from ..values import Media, esc, render as render_value

VIEW_ID = "view-outputs"


def applies(doc: RunDoc) -> bool:
    return bool(doc.outputs)


def render(doc: RunDoc, media: Media) -> tuple[str, str, str]:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{render_value(v, media)}</td></tr>" for k, v in doc.outputs.items())
    return VIEW_ID, "Outputs", section(VIEW_ID, "Outputs", f'<table class="kv outputs">{rows}</table>')
