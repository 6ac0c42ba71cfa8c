"""Inline SVG drawings for the HTML report: the swimlane timeline and the happens-before graph.

No graphviz is available where reports are made (CI runners, a laptop without system packages), and a
report must be one self-contained file, so the drawings are built here as SVG text. The layout is not
searched for, it is given by the data: one column per task in spawn order, time running downwards in
execution order (``seq``). Happens-before edges never point backwards in ``seq``, so every arrow
runs down the page, nothing has to be untangled, and the same trace always draws the same picture,
byte for byte (no hashing, no floating layout, no randomness).

Two drawings share that geometry and differ in what a box is:

- :func:`swimlane` is the timeline a reader follows: a box per step, holding where the task stopped
  (``file:line``) and its ``sim.note`` events as labelled markers, with wake-up, spawn and object edges
  between lanes as arrows (program order is the lane itself);
- :func:`hb_graph` is the happens-before graph exactly as ``happens_before_graph`` builds it: a node
  per step start and per note, every edge kind including program order and the note chain, so the
  proof of a verdict (or the absence of one) can be traced by eye.

The blamed steps and notes (the racing pair, the events of a violated order) are drawn red. Every text
is escaped; long labels are cut with an ellipsis and kept whole in a ``<title>`` tooltip. The
trade-off is size: a trace of a few hundred steps draws a tall picture, which the page scrolls.
"""

from __future__ import annotations

import html
import itertools
from typing import TYPE_CHECKING

import attrs
import networkx as nx

from ._happens_before import happens_before_graph, note_node, step_node

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable

    from ._trace import Note, Step, Trace

#: Approximate width of one character of the 11px monospace font, in pixels.
CHAR = 6.7
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
RED = "#dc2626"
#: Stroke colour and dash pattern per happens-before edge kind.
EDGE_STYLES: dict[str, tuple[str, str]] = {
    "wake": ("#2563eb", ""),
    "spawn": ("#16a34a", "7 4"),
    "object": ("#9333ea", "2 3"),
    "program": ("#94a3b8", ""),
    "note": ("#cbd5e1", "3 2"),
}
#: Fill colours given to note labels in order of first appearance (deterministic).
PALETTE = ("#e0f2fe", "#fef3c7", "#dcfce7", "#f3e8ff", "#ffe4e6", "#e0e7ff", "#fae8ff", "#ccfbf1")


@attrs.frozen
class Highlight:
    """What a drawing shows in red: step seqs, notes as ``(step, position)``, and optionally the
    pair that races (two step seqs joined by a red dashed line labelled ``pair_label``)."""

    steps: frozenset[int] = frozenset()
    notes: frozenset[tuple[int, int]] = frozenset()
    pair: tuple[int, int] | None = None
    pair_label: str = ""
    #: Graph nodes / edges of a happens-before path that proves a verdict (hb_graph only).
    path: tuple[Hashable, ...] = ()


def esc(text: object) -> str:
    """Text escaped for HTML and SVG content and attribute values."""
    return html.escape(str(text), quote=True)


def fit(text: str, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels of the monospace font."""
    room = max(int(width / CHAR), 2)
    return text if len(text) <= room else text[: room - 1] + "…"


#: Note attributes that explain an order (a reorder is read off them), drawn first so a label
#: cut to fit its box loses the other attributes, never these.
ORDER_ATTRS: tuple[str, ...] = ("seq",)


def _note_text(note: Note) -> str:
    return note_text(note.label, note.attrs)


def note_text(label: str, attrs: Iterable[tuple[str, object]]) -> str:
    """``label k=v ...`` with the ordering attributes (``seq``) right after the label."""
    ordered = sorted(attrs, key=lambda item: item[0] not in ORDER_ATTRS)
    detail = " ".join(f"{k}={v}" for k, v in ordered)
    return f"{label} {detail}" if detail else label


def _colours(trace: Trace) -> dict[str, str]:
    labels = dict.fromkeys(note.label for note in trace.notes)
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def _step_title(trace: Trace, step: Step) -> str:
    lines = [trace.describe_step(step.seq)]
    lines += [note.describe() + f" at {note.location}" for note in step.notes]
    lines += [access.describe() for access in step.accesses]
    if step.spawned:
        lines.append("spawned " + ", ".join(trace.task_name(t) for t in step.spawned))
    if step.woke:
        lines.append("woke " + ", ".join(trace.task_name(t) for t in step.woke))
    return "\n".join(lines)


def _defs(prefix: str) -> str:
    markers = []
    for kind, (colour, _) in [*EDGE_STYLES.items(), ("lit", (RED, ""))]:
        markers.append(
            f'<marker id="{prefix}-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    return f"<defs>{''.join(markers)}</defs>"


def _curve(sx: float, sy: float, tx: float, ty: float) -> str:
    bend = max(abs(tx - sx) * 0.45, 24.0)
    c1 = sx + (bend if tx >= sx else -bend)
    c2 = tx - (bend if tx >= sx else -bend)
    return f"M{sx:.1f},{sy:.1f} C{c1:.1f},{sy:.1f} {c2:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"


def _edge(
    prefix: str, path: str, kind: str, title: str, *, lit: bool = False, width: float = 1.6
) -> str:
    colour, dash = EDGE_STYLES.get(kind, EDGE_STYLES["program"])
    if lit:
        colour, width = RED, 2.6
    dashes = f' stroke-dasharray="{dash}"' if dash and not lit else ""
    marker = "lit" if lit else kind
    return (
        f'<path class="edge edge-{esc(kind)}" d="{path}" fill="none" stroke="{colour}" '
        f'stroke-width="{width}"{dashes} marker-end="url(#{prefix}-{marker})">'
        f"<title>{esc(title)}</title></path>"
    )


def _lane_widths(trace: Trace, minimum: float, maximum: float) -> list[float]:
    widest = [len(task.name) + 2 for task in trace.tasks]
    for step in trace.steps:
        texts = [f"s{step.index}  {step.location}", *(_note_text(n) for n in step.notes)]
        widest[step.task] = max([widest[step.task], *(len(text) + 4 for text in texts)])
    return [min(max(chars * CHAR + 56, minimum), maximum) for chars in widest]


def _header(trace: Trace, xs: list[float], widths: list[float], top: float) -> list[str]:
    parts = []
    for task, x, width in zip(trace.tasks, xs, widths, strict=True):
        parent = (
            "root task" if task.parent is None else f"spawned by {trace.task_name(task.parent)}"
        )
        parts.append(
            f'<text x="{x + width / 2:.1f}" y="{top + 18:.1f}" text-anchor="middle" '
            f'font-weight="700" font-size="12.5">{esc(fit(task.name, width - 12))}'
            f"<title>{esc(task.name)}</title></text>"
            f'<text x="{x + width / 2:.1f}" y="{top + 33:.1f}" text-anchor="middle" '
            f'font-size="10" fill="#64748b">{esc(fit(parent, width - 12))}</text>'
        )
    return parts


def _svg(width: float, height: float, label: str, body: Iterable[str], klass: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{klass}" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="11">'
        + "".join(body)
        + "</svg>"
    )


def _cross_edges(graph: nx.DiGraph) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """``(source seq, target seq, kind, kinds)`` of every edge between steps of different tasks."""
    found = []
    for u, v, data in graph.edges(data=True):
        source, target = graph.nodes[u], graph.nodes[v]
        if data["kind"] in ("program", "note") or source["task"] == target["task"]:
            continue
        found.append((source["seq"], target["seq"], data["kind"], tuple(data["kinds"])))
    return sorted(found)


# -- the swimlane timeline -----------------------------------------------------------------------
GUTTER = 54
HEAD = 46
NOTE_H = 17
STEP_H = 24
GAP = 8


def swimlane(
    trace: Trace, highlight: Highlight = Highlight(), graph: nx.DiGraph | None = None
) -> str:
    """The timeline: a lane per task, a box per step (``s<index>  file:line`` and its notes), and
    wake / spawn / object edges as arrows between lanes."""
    graph = happens_before_graph(trace) if graph is None else graph
    widths = _lane_widths(trace, 176, 300)
    xs = list(itertools.accumulate([GUTTER, *widths[:-1]]))
    total_width = GUTTER + sum(widths) + 8
    colours = _colours(trace)
    boxes: dict[int, tuple[float, float, float, float]] = {}
    y = HEAD + 8
    rows = []
    for step in trace.steps:
        height = STEP_H + len(step.notes) * (NOTE_H + 3) + (3 if step.notes else 0)
        x = xs[step.task] + 10
        width = widths[step.task] - 20
        boxes[step.seq] = (x, y, width, height)
        lit = step.seq in highlight.steps
        stroke, fill, line = (RED, "#fef2f2", 2.4) if lit else ("#94a3b8", "#ffffff", 1.0)
        rows.append(
            f'<g class="step{" lit" if lit else ""}" data-seq="{step.seq}">'
            f"<title>{esc(_step_title(trace, step))}</title>"
            f'<text x="{GUTTER - 8}" y="{y + 16:.1f}" text-anchor="end" fill="#64748b">'
            f"#{step.seq}</text>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" rx="5" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{line}"/>'
            f'<text x="{x + 7:.1f}" y="{y + 16:.1f}"><tspan font-weight="700" '
            f'fill="{RED if lit else "#334155"}">s{step.index}</tspan>'
            f'<tspan dx="7" fill="#0f172a">{esc(fit(step.location, width - 46))}</tspan></text>'
        )
        for position, note in enumerate(step.notes):
            ny = y + STEP_H + position * (NOTE_H + 3)
            note_lit = (step.seq, position) in highlight.notes
            pill = RED if note_lit else colours[note.label]
            ink = "#ffffff" if note_lit else "#0f172a"
            rows.append(
                f'<g class="note{" lit" if note_lit else ""}">'
                f"<title>{esc(note.describe())} at {esc(note.location)}</title>"
                f'<rect x="{x + 6:.1f}" y="{ny:.1f}" width="{width - 12:.1f}" height="{NOTE_H}" '
                f'rx="9" fill="{pill}" stroke="{RED if note_lit else "#cbd5e1"}"/>'
                f'<circle cx="{x + 15:.1f}" cy="{ny + NOTE_H / 2:.1f}" r="3.2" fill="{ink}"/>'
                f'<text x="{x + 23:.1f}" y="{ny + 12:.1f}" fill="{ink}">'
                f"{esc(fit(_note_text(note), width - 36))}</text></g>"
            )
        rows.append("</g>")
        y += height + GAP
    height = y + 10
    lanes = []
    for number, (x, width) in enumerate(zip(xs, widths, strict=True)):
        shade = "#f8fafc" if number % 2 == 0 else "#f1f5f9"
        lanes.append(
            f'<rect x="{x:.1f}" y="0" width="{width:.1f}" height="{height:.1f}" fill="{shade}"/>'
            f'<line x1="{x + width / 2:.1f}" y1="{HEAD:.1f}" x2="{x + width / 2:.1f}" '
            f'y2="{height - 6:.1f}" stroke="#cbd5e1" stroke-width="2" stroke-dasharray="1 5"/>'
        )
    lanes.append(f'<line x1="0" y1="{HEAD}" x2="{total_width}" y2="{HEAD}" stroke="#cbd5e1"/>')
    arrows = []
    for source, target, kind, kinds in _cross_edges(graph):
        sx, sy, sw, sh = boxes[source]
        tx, ty, tw, _ = boxes[target]
        rightwards = tx > sx
        start = (sx + sw if rightwards else sx, sy + sh - 8)
        end = (tx if rightwards else tx + tw, ty + 10)
        title = (
            f"{' + '.join(kinds)}: {trace.describe_step(source)} -> {trace.describe_step(target)}"
        )
        arrows.append(_edge("sl", _curve(*start, *end), kind, title))
    if highlight.pair is not None:
        arrows.append(_pair_line(trace, boxes, highlight))
    body = [
        _defs("sl"),
        *lanes,
        *_header(trace, xs, widths, 0),
        *rows,
        '<g class="arrows" stroke-opacity="0.9">',
        *arrows,
        "</g>",
    ]
    return _svg(total_width, height, "swimlane timeline of the failing schedule", body, "swimlane")


def _pair_line(
    trace: Trace, boxes: dict[int, tuple[float, float, float, float]], highlight: Highlight
) -> str:
    assert highlight.pair is not None
    first, second = sorted(highlight.pair)
    ax, ay, aw, ah = boxes[first]
    bx, by, bw, bh = boxes[second]
    if ax == bx:
        start, end = (ax + aw, ay + ah / 2), (bx + bw, by + bh / 2)
        d = f"M{start[0]:.1f},{start[1]:.1f} C{start[0] + 40:.1f},{start[1]:.1f} {end[0] + 40:.1f},{end[1]:.1f} {end[0]:.1f},{end[1]:.1f}"
    else:
        rightwards = bx > ax
        start = (ax + aw if rightwards else ax, ay + ah / 2)
        end = (bx if rightwards else bx + bw, by + bh / 2)
        d = _curve(*start, *end)
    label_x, label_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
    text = highlight.pair_label or "race"
    title = f"{text}: {trace.describe_step(first)} and {trace.describe_step(second)}"
    box_w = len(text) * CHAR + 14
    return (
        f'<g class="pair"><title>{esc(title)}</title>'
        f'<path d="{d}" fill="none" stroke="{RED}" stroke-width="2.4" stroke-dasharray="6 4" '
        f'marker-start="url(#sl-lit)" marker-end="url(#sl-lit)"/>'
        f'<rect x="{label_x - box_w / 2:.1f}" y="{label_y - 10:.1f}" width="{box_w:.1f}" '
        f'height="20" rx="10" fill="{RED}"/>'
        f'<text x="{label_x:.1f}" y="{label_y + 4:.1f}" text-anchor="middle" fill="#ffffff" '
        f'font-weight="700">{esc(text)}</text></g>'
    )


# -- the happens-before graph ----------------------------------------------------------------------
ROW = 26


def _node_order(node: Hashable, data: dict[str, object]) -> tuple[int, int]:
    position = data.get("position")
    return (int(data["seq"]), -1 if position is None else int(position))  # type: ignore[call-overload]


def hb_graph(
    trace: Trace, highlight: Highlight = Highlight(), graph: nx.DiGraph | None = None
) -> str:
    """The happens-before graph: a column per task, a row per node (step starts as circles, notes
    as labelled boxes) in execution order, every edge drawn; highlighted nodes and path in red."""
    graph = happens_before_graph(trace) if graph is None else graph
    widths = [min(max(w - 10, 150), 240) for w in _lane_widths(trace, 150, 250)]
    xs = list(itertools.accumulate([GUTTER, *widths[:-1]]))
    total_width = GUTTER + sum(widths) + 8
    nodes = sorted(graph.nodes(data=True), key=lambda item: _node_order(*item))
    centre: dict[Hashable, tuple[float, float]] = {}
    lit_nodes: set[Hashable] = {step_node(seq) for seq in highlight.steps}
    lit_nodes |= {("note", step, position) for step, position in highlight.notes}
    lit_nodes |= {item for item in highlight.path if item in graph}
    lit_edges = set(itertools.pairwise(highlight.path))
    drawn = []
    for row, (node, data) in enumerate(nodes):
        task = int(data["task"])
        x, width = xs[task], widths[task]
        cy = HEAD + 14 + row * ROW
        lit = node in lit_nodes
        if data["kind"] == "step":
            cx = x + 20
            centre[node] = (cx, cy)
            drawn.append(
                f'<g class="node step{" lit" if lit else ""}">'
                f"<title>{esc(trace.describe_step(int(data['seq'])))}</title>"
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="8" fill="{RED if lit else "#ffffff"}" '
                f'stroke="{RED if lit else "#475569"}" stroke-width="1.5"/>'
                f'<text x="{cx + 14:.1f}" y="{cy + 4:.1f}" fill="{RED if lit else "#475569"}">'
                f"s{data['index']} {esc(fit(str(data['location']), width - 50))}</text>"
                f'<text x="{GUTTER - 8}" y="{cy + 4:.1f}" text-anchor="end" fill="#94a3b8">'
                f"#{data['seq']}</text></g>"
            )
        else:
            left = x + 12
            box_w = width - 24
            centre[node] = (x + 20, cy)
            text = note_text(data["label"], data["attrs"])
            drawn.append(
                f'<g class="node note{" lit" if lit else ""}">'
                f"<title>{esc(text)} at {esc(data['location'])}</title>"
                f'<rect x="{left:.1f}" y="{cy - 9:.1f}" width="{box_w:.1f}" height="18" rx="4" '
                f'fill="{RED if lit else "#fffbeb"}" stroke="{RED if lit else "#d97706"}"/>'
                f'<text x="{left + 8:.1f}" y="{cy + 4:.1f}" '
                f'fill="{"#ffffff" if lit else "#78350f"}">{esc(fit(text, box_w - 14))}</text></g>'
            )
    height = HEAD + 14 + len(nodes) * ROW
    edges = []
    for u, v, data in sorted(
        graph.edges(data=True),
        key=lambda e: (_node_order(e[0], graph.nodes[e[0]]), _node_order(e[1], graph.nodes[e[1]])),
    ):
        (sx, sy), (tx, ty) = centre[u], centre[v]
        kind = str(data["kind"])
        lit = (u, v) in lit_edges
        title = (
            f"{' + '.join(data['kinds'])}: {graph.nodes[u]['label']} -> {graph.nodes[v]['label']}"
        )
        if sx == tx:
            path = f"M{sx:.1f},{sy + 9:.1f} L{tx:.1f},{ty - 10:.1f}"
        else:
            side = 1 if tx > sx else -1
            # Leave below the source, enter the target's upper corner facing the source: the
            # step labels to the right of the circles stay clear of the arrows.
            x0, y0, x1, y1 = sx + 6 * side, sy + 6, tx - 7 * side, ty - 7
            path = (
                f"M{x0:.1f},{y0:.1f} C{x0 + 14 * side:.1f},{y0 + (y1 - y0) * 0.7:.1f} "
                f"{x1 - 30 * side:.1f},{y1 - 12:.1f} {x1:.1f},{y1:.1f}"
            )
        edges.append(_edge("hb", path, kind, title, lit=lit, width=1.3))
    lanes = []
    for number, (x, width) in enumerate(zip(xs, widths, strict=True)):
        shade = "#f8fafc" if number % 2 == 0 else "#f1f5f9"
        lanes.append(
            f'<rect x="{x:.1f}" y="0" width="{width:.1f}" height="{height:.1f}" fill="{shade}"/>'
        )
    lanes.append(f'<line x1="0" y1="{HEAD}" x2="{total_width}" y2="{HEAD}" stroke="#cbd5e1"/>')
    body = [
        _defs("hb"),
        *lanes,
        *_header(trace, xs, widths, 0),
        '<g class="edges">',
        *edges,
        "</g>",
        *drawn,
    ]
    return _svg(total_width, height, "happens-before graph", body, "hbgraph")


def proof_path(graph: nx.DiGraph, first: Note | None, second: Note | None) -> tuple[Hashable, ...]:
    """The shortest happens-before path between two notes, either way round (empty when none)."""
    if first is None or second is None:
        return ()
    a, b = note_node(first), note_node(second)
    for source, target in ((a, b), (b, a)):
        try:
            return tuple(nx.shortest_path(graph, source, target))
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            continue
    return ()
