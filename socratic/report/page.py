"""The HTML document: head with inline CSS, the warnings banner, the view navigation, the views, inline JS."""

from __future__ import annotations

from .assets import CSS, JS
from .values import esc

# No request may leave the file: only inline styles/scripts and data: images are allowed.
GENERATOR = '<meta name="generator" content="socratic report">'
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def banner(warnings: list[str], problems: list[str]) -> str:
    out = ""
    if warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        out += f'<div class="warnings" role="alert" id="warnings">⚠ Warnings<ul>{items}</ul></div>'
    if problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in problems)
        out += f'<div class="problems" id="problems">Missing or incomplete in this file<ul>{items}</ul></div>'
    return out


def document(title: str, meta: str, warnings: list[str], problems: list[str],
             views: list[tuple[str, str, str]], css: str = "") -> str:
    """views: (anchor id, label, section HTML)."""
    nav = "".join(f'<a href="#{vid}">{esc(label)}</a>' for vid, label, _ in views)
    body = "".join(html for _, _, html in views)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" + GENERATOR +
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{css}</style></head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><div class="meta">{meta}</div></header>'
        f"{banner(warnings, problems)}<nav class=\"views\">{nav}</nav><main>{body}</main>"
        f"<script>{JS}</script></body></html>\n")


def section(vid: str, title: str, inner: str) -> str:
    return f'<section class="view" id="{vid}"><h2>{esc(title)}</h2>{inner}</section>'
