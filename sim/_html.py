"""The HTML pages of a report: one self-contained page per scenario, and a run's index page.

A report must open anywhere — an artifact downloaded from CI, a file attached to an issue — so a
page is one file with nothing to fetch: inline CSS, the drawings as inline SVG (:mod:`sim._svg`),
and a dozen lines of inline script for the copy buttons. A Content-Security-Policy forbids loading
anything else, so a page that accidentally referenced an external resource would show it blocked
(the browser test checks that nothing is). Every text that comes from a scenario, a trace or a
message is escaped.

The page is ordered the way a reader investigates: what failed and the exact command that replays
it; the required order with every verdict and its explanation; the timeline of the shrunk failing
schedule with the blamed steps in red; the happens-before graph that proves (or fails to prove)
the order; the run statistics; the raw details. Rendering is a pure function of the result, so
``racesim report RUN.json`` redraws a page identical to the one ``racesim explore`` wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _svg
from ._happens_before import happens_before_graph
from ._svg import esc

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._results import FailureRecord, RunResult, ScenarioResult, VerdictRecord

_CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f1f5f9;--red:#dc2626;--green:#15803d;
--amber:#b45309;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;
color:var(--ink);background:var(--bg)}
header.top{background:#0f172a;color:#f8fafc;padding:22px 0 20px}
.wrap{max-width:1240px;margin:0 auto;padding:0 28px}
.eyebrow{font-size:12px;letter-spacing:.12em;text-transform:uppercase;color:#94a3b8}
h1{margin:4px 0 6px;font-size:26px;font-weight:700;word-break:break-word}
header.top p{margin:0 0 12px;color:#cbd5e1;max-width:900px}
.chips{display:flex;flex-wrap:wrap;gap:8px}
.chip{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12.5px;font-weight:600;
background:#1e293b;color:#e2e8f0;border:1px solid #334155}
.chip.bad{background:var(--red);border-color:var(--red);color:#fff}
.chip.good{background:var(--green);border-color:var(--green);color:#fff}
.chip.warn{background:#f59e0b;border-color:#f59e0b;color:#111827}
main{padding:8px 0 48px}
section.card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:18px 22px;
margin:16px 0;box-shadow:0 1px 2px rgba(15,23,42,.05)}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);margin:0 0 12px}
.message{font-size:16px;font-weight:600;margin:0 0 10px}
.cmd{display:flex;gap:8px;align-items:stretch;margin:6px 0}
.cmd code{flex:1;display:block;background:#0f172a;color:#e2e8f0;padding:10px 14px;border-radius:8px;
font:13px/1.4 var(--mono);overflow-x:auto;white-space:nowrap;user-select:all}
button.copy{border:1px solid #cbd5e1;background:#f8fafc;border-radius:8px;padding:0 16px;
font-weight:600;cursor:pointer;color:var(--ink)}
button.copy:hover{background:#e2e8f0}
.hint{color:var(--muted);font-size:12.5px;margin:4px 0 0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.05em}
tr.bad td{background:#fef2f2}
.status{display:inline-block;padding:1px 8px;border-radius:6px;font-size:12px;font-weight:700;
white-space:nowrap}
.s-ordered{background:#dcfce7;color:#166534}.s-unordered{background:#fef3c7;color:#92400e}
.s-missing{background:#ede9fe;color:#5b21b6}.s-inverted{background:#fee2e2;color:#991b1b}
.mono{font-family:var(--mono);font-size:12.5px}
.scroll{overflow:auto;border:1px solid var(--line);border-radius:10px;background:#f8fafc;
max-height:1100px}
.scroll svg{display:block}
.legend{display:flex;flex-wrap:wrap;gap:16px;margin:0 0 10px;font-size:12.5px;color:#334155}
.legend span{display:inline-flex;align-items:center;gap:6px}
.legend svg{display:inline-block}
dl.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:10px 18px;margin:0}
dl.stats div{border-left:3px solid var(--line);padding:2px 0 2px 10px}
dt{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
dd{margin:0;font-weight:600;word-break:break-word}
pre.wrap{white-space:pre-wrap;word-break:break-word}
pre{background:#f8fafc;border:1px solid var(--line);border-radius:8px;padding:12px 14px;
font:12.5px/1.45 var(--mono);overflow:auto;max-height:520px;white-space:pre}
details summary{cursor:pointer;color:#334155;font-weight:600;margin:6px 0}
ol.rules{margin:0 0 12px;padding-left:22px}
.chip{white-space:nowrap}
.wide{overflow-x:auto}
table.index td{white-space:nowrap}
table.index td.command{white-space:normal;word-break:break-all;min-width:240px;font-size:12px}
th.num,td.num{text-align:right}
footer{color:var(--muted);font-size:12px;padding:8px 0 30px}
a{color:#1d4ed8}
"""

_SCRIPT = """
document.querySelectorAll('button.copy').forEach(function (button) {
  button.addEventListener('click', function () {
    var code = document.getElementById(button.getAttribute('data-target'));
    var text = code.textContent;
    var done = function () {
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = 'Copy'; }, 1500);
    };
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { document.execCommand('copy'); done(); } catch (e) { button.textContent = 'Ctrl+C'; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, select);
    } else {
      select();
    }
  });
});
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _page(title: str, header: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>"
        f'<header class="top"><div class="wrap">{header}</div></header>\n'
        f'<main><div class="wrap">{body}'
        "<footer>generated by racesim · redraw with: racesim report result.json</footer>"
        "</div></main>\n"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _chip(text: str, tone: str = "") -> str:
    return f'<span class="chip {tone}">{esc(text)}</span>'


def _command(ident: str, command: str) -> str:
    return (
        f'<div class="cmd"><code id="{ident}">{esc(command)}</code>'
        f'<button class="copy" type="button" data-target="{ident}">Copy</button></div>'
    )


def _status(status: str) -> str:
    return f'<span class="status s-{esc(status)}">{esc(status)}</span>'


def _stats(result: ScenarioResult) -> str:
    stats, settings = result.stats, result.settings
    items: list[tuple[str, object]] = [
        ("schedules run", f"{stats.schedules_run:,}"),
        ("schedules / s", f"{stats.rate:,.0f}"),
        ("time", f"{stats.elapsed_seconds:.2f} s"),
        ("exhausted", "yes" if stats.exhausted else "no"),
        ("stopped because", stats.exit_reason_text),
        ("distinct step orders", f"{stats.distinct_orders:,}"),
        ("strategy", stats.strategy),
        (
            "first failure at",
            "—"
            if stats.first_failure_at is None
            else f"schedule {stats.first_failure_at + 1:,} of {stats.schedules_run:,}",
        ),
    ]
    if result.failure is not None and result.failure.found_at != stats.first_failure_at:
        items.append(("this failure found at", f"schedule {result.failure.found_at + 1:,}"))
    for key in ("max_schedules", "time_budget", "seed", "mode", "preemption_bound"):
        if key in settings:
            value = settings[key]
            shown = (
                f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            )
            items.append((key.replace("_", " "), "—" if value is None else shown))
    failure = result.failure
    if failure is not None:
        items.append(("shrinking", failure.shrink_summary()))
        items.append(("steps in failing run", len(failure.trace.steps)))
        items.append(("tasks", len(failure.trace.tasks)))
    items.append(("scenario version", result.scenario.fingerprint or "—"))
    if stats.total_steps:
        items.append(
            ("steps racesim could not see", f"{stats.unseen_steps:,} of {stats.total_steps:,}")
        )
    cells = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in stats.notes)
    return (
        f'<section class="card"><h2>Run statistics</h2><dl class="stats">{cells}</dl>'
        f"{notes}</section>"
    )


def _legend() -> str:
    entries = []
    for kind, label in (
        ("wake", "wake-up"),
        ("spawn", "spawn"),
        ("object", "object (release → acquire)"),
    ):
        colour, dash = _svg.EDGE_STYLES[kind]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        entries.append(
            f'<span><svg width="34" height="10"><line x1="1" y1="5" x2="33" y2="5" '
            f'stroke="{colour}" stroke-width="2"{dashes}/></svg>{esc(label)}</span>'
        )
    entries.append(
        f'<span><svg width="34" height="10"><line x1="1" y1="5" x2="33" y2="5" '
        f'stroke="{_svg.RED}" stroke-width="2.4" stroke-dasharray="6 4"/></svg>'
        "blamed steps (racing pair / violated order / for an assertion: the task switches "
        "it needs and the step where it failed)</span>"
    )
    return f'<div class="legend">{"".join(entries)}</div>'


def _verdict_row(verdict: VerdictRecord) -> str:
    return (
        f'<tr class="{"ok" if verdict.ok else "bad"}"><td class="mono">{esc(verdict.rule)}</td>'
        f'<td class="mono">{esc(verdict.where or "run")}</td><td>{_status(verdict.status)}</td>'
        f"<td>{esc(verdict.explanation)}</td></tr>"
    )


def _verdicts(failure: FailureRecord, order: Sequence[str]) -> str:
    parts = []
    if order:
        rules = "".join(f'<li class="mono">{esc(rule)}</li>' for rule in order)
        parts.append(f'<p>The required order:</p><ol class="rules">{rules}</ol>')
    head = (
        "<table><thead><tr><th>rule</th><th>group</th><th>verdict</th>"
        "<th>explanation</th></tr></thead><tbody>"
    )
    bad, ok = failure.bad_verdicts, [v for v in failure.verdicts if v.ok]
    if bad:
        parts.append(f"{head}{''.join(_verdict_row(v) for v in bad)}</tbody></table>")
    if ok:
        parts.append(
            f"<details><summary>{len(ok)} verdict{'s' if len(ok) != 1 else ''} ordered by "
            f"synchronisation</summary>{head}{''.join(_verdict_row(v) for v in ok)}"
            "</tbody></table></details>"
        )
    if failure.races:
        rows = "".join(
            f'<tr class="bad"><td class="mono">#{r.first_step} / #{r.second_step}</td>'
            f'<td class="mono">{esc(r.first.describe())} / {esc(r.second.describe())}</td>'
            f"<td>{esc(r.explanation)}</td></tr>"
            for r in failure.races
        )
        parts.append(
            "<table><thead><tr><th>steps</th><th>accesses</th><th>explanation</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    if not parts:
        parts.append("<p>This failure is not about the required order.</p>")
    return "".join(parts)


def render_html(result: ScenarioResult) -> str:
    """The self-contained HTML report of one scenario's result."""
    scenario, failure = result.scenario, result.failure
    tone = _tone(result.matches)
    chips = [
        _chip(f"variant: {scenario.variant or '—'}"),
        _chip(f"expected: {scenario.expect or '—'}"),
        _chip(result.verdict, "bad" if failure is not None else "good"),
        _chip(_expectation(result.matches), tone),
    ]
    if failure is not None:
        chips.append(_chip(f"kind: {failure.kind}", "warn"))
    header = (
        f'<div class="eyebrow">racesim {esc(result.command)} report</div>'
        f"<h1>{esc(scenario.name)}</h1>"
        + (f"<p>{esc(scenario.description)}</p>" if scenario.description else "")
        + f'<div class="chips">{"".join(chips)}</div>'
    )
    body = []
    if failure is None:
        body.append(
            '<section class="card"><h2>Result</h2>'
            f'<p class="message">{esc(result.verdict)}: no failing schedule among '
            f"{result.stats.schedules_run:,} explored ({esc(result.stats.exit_reason_text)}).</p>"
            + (
                '<p>The required order:</p><ol class="rules">'
                + "".join(f'<li class="mono">{esc(rule)}</li>' for rule in result.order)
                + "</ol>"
                if result.order
                else ""
            )
            + "</section>"
        )
    else:
        replay = _command("replay-command", failure.replay_command)
        seed = ""
        if failure.seed_command:
            seed = (
                '<p class="hint">or re-run the unshrunk randomised execution from its seed:</p>'
                + _command("seed-command", failure.seed_command)
            )
        body.append(
            '<section class="card" id="replay"><h2>Replay</h2>'
            f'<p class="message">[{esc(failure.kind)}] {esc(failure.message)}</p>'
            f"{replay}{seed}"
            '<p class="hint">exit code 1 when the failure reproduces, 0 when the run passes '
            "now (for example after a fix).</p></section>"
        )
        body.append(
            '<section class="card" id="order"><h2>Required order and verdicts</h2>'
            f"{_verdicts(failure, result.order)}</section>"
        )
        graph = happens_before_graph(failure.trace)
        highlight = failure.highlight()
        body.append(
            '<section class="card" id="timeline"><h2>Timeline of the shrunk failing schedule'
            f"</h2>{_legend()}"
            f'<div class="scroll">{_svg.swimlane(failure.trace, highlight, graph)}</div>'
            '<p class="hint">One lane per task, time runs down; each box is one atomic step '
            "(s&lt;index&gt; and the file:line where the task stopped) with its sim.note events. "
            "Hover for footprints.</p></section>"
        )
        body.append(
            '<section class="card" id="hb"><h2>Happens-before graph</h2>'
            f'<div class="scroll">{_svg.hb_graph(failure.trace, highlight, graph)}</div>'
            '<p class="hint">Circles are step starts, boxes are notes; grey edges are program '
            "order. Two events are ordered only if a path of edges joins them.</p></section>"
        )
    body.append(_stats(result))
    if failure is not None:
        decisions = "\n".join(
            f"{number:>4}  {d.task}"
            + ("  (preemption)" if d.previous is not None and d.index != d.previous else "")
            for number, d in enumerate(failure.decisions)
        )
        body.append(
            '<section class="card" id="details"><h2>Details</h2>'
            f'<pre class="wrap">{esc(failure.details or failure.message)}</pre>'
            f"<details><summary>The failing run as a table</summary><pre>"
            f"{esc(failure.table())}</pre></details>"
            f"<details><summary>Schedule: {len(failure.decisions)} decisions, "
            f"{failure.preemptions} preemptions</summary><pre>{esc(decisions or '(none)')}</pre>"
            f'</details><p class="hint mono">token {esc(failure.token)}</p></section>'
        )
    return _page(f"racesim: {scenario.name}", header, "".join(body))


def _tone(matches: bool | None) -> str:
    return {True: "good", False: "bad", None: ""}[matches]


def _expectation(matches: bool | None) -> str:
    return {True: "as expected", False: "NOT as expected", None: "cannot tell"}[matches]


def render_index(run: RunResult, links: Mapping[str, str]) -> str:
    """The overview page of a run: a row per scenario, linking to its report."""
    rows = []
    for result in run.results:
        link = links.get(result.scenario.name, "")
        name = esc(result.scenario.name)
        cell = f'<a href="{esc(link)}">{name}</a>' if link else name
        tone = _tone(result.matches)
        rows.append(
            f'<tr class="{"bad" if result.matches is False else ""}"><td>{cell}</td>'
            f"<td>{esc(result.scenario.variant)}</td><td>{esc(result.scenario.expect)}</td>"
            f'<td>{_chip(result.verdict, tone)}</td><td class="num">'
            f'{result.stats.schedules_run:,}</td><td class="num">'
            f"{result.stats.elapsed_seconds:.2f}&nbsp;s</td>"
            f'<td class="mono command">{esc(result.replay_command)}</td></tr>'
        )
    verdict = "every verdict as expected" if run.ok else "some verdicts NOT as expected"
    if run.ok and any(result.matches is None for result in run.results):
        verdict = "no verdict wrong; some races not found within the budget"
    header = (
        '<div class="eyebrow">racesim explore</div>'
        f"<h1>{len(run.results)} scenarios</h1>"
        f'<div class="chips">{_chip(verdict, "good" if run.ok else "bad")}'
        + (_chip(f"shard {run.shard}") if run.shard else "")
        + (
            _chip("PARTIAL: interrupted by Ctrl-C; only the scenarios that finished", "bad")
            if run.interrupted
            else ""
        )
        + "</div>"
    )
    table = (
        '<section class="card"><div class="wide"><table class="index"><thead><tr>'
        "<th>scenario</th><th>variant</th><th>expected</th><th>verdict</th>"
        '<th class="num">schedules</th><th class="num">time</th><th>replay</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )
    return _page("racesim explore", header, table)
