"""A dataset run: one row per item with its main outputs and error, filterable; each row links to the item's
full record below."""

from __future__ import annotations

import json
from typing import Any

from ..load import DatasetDoc
from ..page import section
from ..values import Media, esc, render as render_value

VIEW_ID = "view-dataset"
MAIN_CHARS = 160


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAIN_CHARS else text[:MAIN_CHARS - 1] + "…"


def _main_keys(rows: list[dict]) -> list[str]:
    """Output names shown as columns: scalar or text outputs, in first-seen order (at most four)."""
    keys: dict[str, None] = {}
    for r in rows:
        outs = r.get("outputs")
        if isinstance(outs, dict):
            for k, v in outs.items():
                if isinstance(v, (str, int, float, bool)):
                    keys.setdefault(k)
    return list(keys)[:4]


def render(doc: DatasetDoc) -> tuple[str, str, str]:
    media = Media({})
    keys = _main_keys(doc.rows)
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)
    rows, details = [], []
    failed = 0
    for n, r in enumerate(doc.rows):
        item_id, anchor = str(r.get("id")), f"item-{n}"
        err = r.get("error")
        failed += err is not None
        outs = r.get("outputs") if isinstance(r.get("outputs"), dict) else {}
        cells = "".join(f"<td>{esc(_brief(outs[k])) if k in outs else ''}</td>" for k in keys)
        status = "error" if err is not None else "ok"
        rows.append(f'<tr class="{status}" data-status="{status}"><td><a href="#{anchor}">{esc(item_id)}</a></td>'
                    f'{cells}<td class="err">{esc(err) if err is not None else ""}</td></tr>')
        details.append(f'<div class="item-detail" id="{anchor}"><h3>{esc(item_id)}</h3>'
                       f"{render_value({k: v for k, v in r.items() if k != 'id'}, media)}</div>")
    filters = ('<div class="filters"><input id="filter-text" type="search" placeholder="filter: any text in the row">'
               '<select id="filter-status"><option value="all">all items</option><option value="ok">ok</option>'
               '<option value="error">failed</option></select><span id="filter-count" class="meta"></span></div>')
    table = (f'<table class="grid" id="items"><thead><tr><th>id</th>{head}<th>error</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    summary = f'<p class="meta">{len(doc.rows)} items, {failed} failed.</p>'
    return VIEW_ID, "Items", section(VIEW_ID, "Items", summary + filters + table + "<h2>Item details</h2>"
                                     + "".join(details))
