"""Any pipeline: the DAG (SVG through graphviz, a plain list without it) and every node with its time, cache
hit, model ids, warnings, and its inputs / outputs / params."""

from __future__ import annotations

from ..dot_svg import dot_to_svg, quote
from ..graph import Edge, anchor, edges
from ..load import RunDoc
from ..records import Node
from ..page import section
from ..values import Media, esc, ports

VIEW_ID = "view-dag"


def applies(doc: RunDoc) -> bool:
    return True


def _seconds(s: float | None) -> str:
    return "?" if s is None else (f"{s:.2f} s" if s >= 0.01 else f"{s * 1000:.1f} ms")


def _box(n: Node, slowest: float) -> str:
    share = (n.seconds or 0.0) / slowest
    fill = "#dff3e6" if n.cached else f"#ff{int(255 - 120 * share):02x}{int(255 - 200 * share):02x}"
    label = f"{n.short}\n{n.type}\n{_seconds(n.seconds)}{' · cached' if n.cached else ''}"
    return (f"{quote(n.name)} [label={quote(label)}, fillcolor=\"{fill}\", URL={quote('#' + anchor(n.name))}, "
            f"tooltip={quote(n.name)}{', color=red, penwidth=2' if n.warnings else ''}];")


def _dot(doc: RunDoc, links: list[Edge]) -> str:
    """Nodes as boxes coloured by time (green: from the cache); an included pipeline as a cluster of its nodes."""
    slowest = max((n.seconds or 0.0 for n in doc.nodes if not _is_group(doc, n)), default=0.0) or 1.0
    children: dict[str | None, list[Node]] = {}
    for n in doc.nodes:
        children.setdefault(n.parent, []).append(n)

    def emit(parent: str | None) -> list[str]:
        out = []
        for n in children.get(parent, []):
            if n.name in children:  # an include: its nodes in a box of their own
                title = f"{n.short} · {n.file or n.type} · {_seconds(n.seconds)}"
                out += [f"subgraph {quote('cluster_' + anchor(n.name))} {{", f"label={quote(title)}; "
                        f'style="rounded,dashed"; color="#8a93a6"; URL={quote("#" + anchor(n.name))};',
                        *emit(n.name), "}"]
            else:
                out.append(_box(n, slowest))
        return out

    lines = ['digraph run {', 'rankdir=TB; node [shape=box, style="rounded,filled", fontname="Helvetica", '
             'fontsize=10]; edge [fontname="Helvetica", fontsize=8, color="#8a93a6"]; '
             'graph [fontname="Helvetica", fontsize=10];', *emit(None)]
    known = {n.name for n in doc.nodes}
    for src in sorted({e.src for e in links if e.src not in known}):
        lines.append(f"{quote(src)} [shape=ellipse, style=filled, fillcolor=\"#eef4ff\"];")
    for e in links:
        lines.append(f"{quote(e.src)} -> {quote(e.dst)} [label={quote(e.label)}];")
    lines.append("}")
    return "\n".join(lines)


def _is_group(doc: RunDoc, n: Node) -> bool:
    return any(m.parent == n.name for m in doc.nodes)


def _fallback(doc: RunDoc, links: list[Edge]) -> str:
    """Without graphviz: each node with the nodes it reads from, in run order."""
    ins: dict[str, list[Edge]] = {}
    for e in links:
        ins.setdefault(e.dst, []).append(e)
    rows = "".join(
        f'<li><a href="#{anchor(n.name)}">{esc(n.name)}</a> [{esc(n.type)}] ← '
        + (", ".join(f"{esc(e.src)} ({esc(e.label)})" for e in ins.get(n.name, [])) or "—") + "</li>"
        for n in doc.nodes)
    return (f'<p class="meta">graphviz <code>dot</code> is not installed: the DAG as a list.</p>'
            f'<ol class="dag-list">{rows}</ol>')


def _table(doc: RunDoc) -> str:
    rows = []
    for n in doc.nodes:
        pad = "&nbsp;" * 4 * n.depth
        cached = '<span class="cached">hit</span>' if n.cached else ("" if n.cached is None else "no")
        models = "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in n.models.items())
        warns = "<br>".join(f'<span class="warn">{esc(w)}</span>' for w in n.warnings)
        rows.append(f'<tr><td>{pad}<a href="#{anchor(n.name)}">{esc(n.short)}</a></td><td>{esc(n.type)}</td>'
                    f'<td>{_seconds(n.seconds)}</td><td>{cached}</td><td>{"" if n.items is None else n.items}</td>'
                    f"<td>{models}</td><td>{warns}</td></tr>")
    return ('<table class="grid nodes"><thead><tr><th>node</th><th>type</th><th>time</th><th>cache</th>'
            f'<th>items</th><th>models</th><th>warnings</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _details(doc: RunDoc, media: Media) -> str:
    out = []
    for n in doc.nodes:
        out.append(f'<details class="node-detail" id="{anchor(n.name)}"><summary>{esc(n.name)} [{esc(n.type)}] '
                   f"{_seconds(n.seconds)}{' · cached' if n.cached else ''}</summary>"
                   f'<div class="cols"><div><h3>inputs</h3>{ports(n.inputs, media)}</div>'
                   f"<div><h3>outputs</h3>{ports(n.outputs, media)}</div></div>"
                   f"<h3>params</h3>{ports(n.params, media)}</details>")
    return "".join(out)


def render(doc: RunDoc, media: Media) -> tuple[str, str, str]:
    if not doc.nodes:
        return VIEW_ID, "DAG", section(VIEW_ID, "DAG and nodes", '<p class="meta">No node records.</p>')
    links, inferred = edges(doc.nodes)
    svg = dot_to_svg(_dot(doc, links))
    graph = f'<div class="dag">{svg}</div>' if svg else _fallback(doc, links)
    total = sum(n.seconds or 0.0 for n in doc.nodes if n.depth == 0)
    hits = sum(1 for n in doc.nodes if n.cached)
    note = " Edges inferred from equal values (the trace has no wiring)." if inferred else ""
    head = (f'<p class="meta">{len(doc.nodes)} nodes, {total:.2f} s in nodes, {hits} from the cache. '
            f"Red border: the node warned.{note}</p>")
    return VIEW_ID, "DAG", section(VIEW_ID, "DAG and nodes", head + graph + _table(doc) +
                                   "<h3>Every node's inputs, outputs and params</h3>" + _details(doc, media))
