"""Reports: the result of exploring a scenario as JSON, HTML, DOT and JUnit — and the files they go in.

This is the only module of racesim that writes files. Everything else hands it values:

- :class:`ScenarioResult` is one scenario's outcome (what was run, with which settings, the verdict
  against the scenario's expectation, statistics, and the shrunk failure if there is one);
  :class:`RunResult` is a whole ``racesim explore`` invocation, scenarios in sorted order.
- ``to_json`` / ``from_json`` turn both into plain JSON and back, losslessly for everything a report
  needs: the failing trace is stored whole (tasks, steps, footprints, wake-ups, spawns, notes), so
  ``racesim report RUN.json`` redraws the HTML and DOT without re-running anything, and the
  happens-before graph is rebuilt from the trace (it is a pure function of it).
- :func:`render_html` is one self-contained page (inline CSS, inline SVG, a few lines of inline
  script for the copy button, a Content-Security-Policy that forbids loading anything else), drawn
  with :mod:`sim._svg`. :func:`render_junit` is JUnit XML for CI test tabs.

The schema is versioned (``schema`` + ``schema_version``; documented in ``reports/README.md``):
readers refuse a newer version with a message saying which racesim can read it. The output is
deterministic: for the same schedules the JSON is identical byte for byte except the measured
``elapsed_seconds``, which is displayed but never decides a verdict.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import attrs

from . import _svg
from ._happens_before import check_order, happens_before_graph, to_dot
from ._render import render_trace
from ._schedule import Decision
from ._svg import Highlight, esc
from ._trace import Access, Note, Step, TaskInfo, Trace

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from ._explore import Failure, Result
    from ._order import Order

SCHEMA_VERSION = 1
RESULT_SCHEMA = "racesim.result"
RUN_SCHEMA = "racesim.run"
RESULT_FILE = "result.json"
HTML_FILE = "report.html"
DOT_FILE = "hb.dot"
RUN_FILE = "run.json"
INDEX_FILE = "index.html"


class ReportError(ValueError):
    """A saved result cannot be read (not JSON, not a racesim result, or a newer schema)."""


# -- values ------------------------------------------------------------------------------------
@attrs.frozen
class ScenarioInfo:
    """What was explored: the scenario as its file describes it."""

    name: str
    path: str
    description: str = ""
    system: str = ""
    variant: str = ""
    workload: Mapping[str, Any] = attrs.field(factory=dict)
    expect: str = ""
    fingerprint: str = ""


@attrs.frozen
class Stats:
    schedules_run: int
    exhausted: bool
    exit_reason: str  #: an ExitReason value ("exhausted", "max_schedules", ...)
    exit_reason_text: str
    first_failure_at: int | None
    elapsed_seconds: float  #: measured; displayed, never part of a verdict
    distinct_orders: int
    strategy: str  #: the strategy as it describes itself ("dfs (preemption bound 2)")

    @classmethod
    def of(cls, result: Result) -> Stats:
        return cls(
            schedules_run=result.schedules_run,
            exhausted=result.exhausted,
            exit_reason=result.exit_reason.value,
            exit_reason_text=result.exit_reason.describe(),
            first_failure_at=result.first_failure_at,
            elapsed_seconds=round(result.elapsed, 4),
            distinct_orders=result.distinct_orders,
            strategy=result.strategy,
        )

    @property
    def rate(self) -> float:
        return self.schedules_run / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@attrs.frozen
class VerdictRecord:
    """One verdict of the required order on the failing run; notes as ``(step, position)``."""

    rule: str
    status: str
    group: Any
    per: str | None
    first: tuple[int, int] | None
    second: tuple[int, int] | None
    steps: tuple[int, ...]
    explanation: str

    @property
    def ok(self) -> bool:
        return self.status == "ordered"

    @property
    def where(self) -> str:
        return "" if self.per is None else f"{self.per}={self.group}"


@attrs.frozen
class RaceRecord:
    first_step: int
    second_step: int
    first: Access
    second: Access
    explanation: str


def _note_ref(note: Note | None) -> tuple[int, int] | None:
    return None if note is None else (note.step, note.position)


def _verdict_record(verdict: Any) -> VerdictRecord:
    return VerdictRecord(
        rule=verdict.rule,
        status=verdict.status,
        group=verdict.group,
        per=verdict.per,
        first=_note_ref(verdict.first),
        second=_note_ref(verdict.second),
        steps=tuple(verdict.steps),
        explanation=verdict.explanation,
    )


@attrs.frozen
class FailureRecord:
    """A shrunk failing run, with its trace, every verdict of the required order, and how to
    replay it (the token; for randomised strategies also the seed)."""

    kind: str
    message: str
    details: str
    token: str
    seed: int | None
    strategy: str
    found_at: int
    shrunk_from: tuple[int, int] | None
    mode: str
    explore_time: bool
    decisions: tuple[Decision, ...]
    trace: Trace
    verdicts: tuple[VerdictRecord, ...]  #: every verdict of the order (ok ones too), in order
    races: tuple[RaceRecord, ...]
    replay_command: str
    seed_command: str = ""

    @classmethod
    def of(
        cls,
        failure: Failure,
        order: Order | None,
        *,
        replay_command: str,
        seed_command: str = "",
    ) -> FailureRecord:
        if order is not None:
            verdicts = tuple(_verdict_record(v) for v in check_order(failure.trace, order))
        else:
            verdicts = tuple(_verdict_record(v) for v in failure.verdicts)
        return cls(
            kind=failure.kind,
            message=failure.message,
            details=failure.details,
            token=failure.token,
            seed=failure.seed,
            strategy=failure.strategy,
            found_at=failure.found_at,
            shrunk_from=failure.shrunk_from,
            mode=failure.schedule.mode,
            explore_time=failure.schedule.explore_time,
            decisions=failure.schedule.decisions,
            trace=failure.trace,
            verdicts=verdicts,
            races=tuple(
                RaceRecord(r.first_step, r.second_step, r.first, r.second, r.explanation)
                for r in failure.races
            ),
            replay_command=replay_command,
            seed_command=seed_command,
        )

    @property
    def preemptions(self) -> int:
        return sum(d.previous is not None and d.index != d.previous for d in self.decisions)

    @property
    def bad_verdicts(self) -> tuple[VerdictRecord, ...]:
        return tuple(v for v in self.verdicts if not v.ok)

    def shrink_summary(self) -> str:
        if self.shrunk_from is None:
            return "not shrunk (nothing smaller fails the same way)"
        preemptions, decisions = self.shrunk_from
        return (
            f"{preemptions} preemptions -> {self.preemptions}, "
            f"{decisions} decisions -> {len(self.decisions)}"
        )

    def marks(self) -> dict[int, str]:
        """The steps this failure blames, for the text table: race sides and bad verdicts."""
        marks: dict[int, str] = {}
        for race in self.races:
            marks.setdefault(race.first_step, "race")
            marks.setdefault(race.second_step, "race")
        for verdict in self.bad_verdicts:
            for seq in verdict.steps:
                marks.setdefault(seq, verdict.status)
        return marks

    def highlight(self) -> Highlight:
        """What the drawings show in red: the first race, else the first violated verdict."""
        if self.races:
            race = self.races[0]
            sides = (race.first_step, race.second_step)
            return Highlight(steps=frozenset(sides), pair=sides, pair_label="data race")
        bad = self.bad_verdicts
        if not bad:
            return Highlight()
        verdict = bad[0]
        notes = frozenset(ref for ref in (verdict.first, verdict.second) if ref is not None)
        pair: tuple[int, int] | None = None
        first, second = verdict.first, verdict.second
        if first is not None and second is not None and first[0] != second[0]:
            pair = (first[0], second[0])
        path: tuple[Any, ...] = ()
        if verdict.status == "inverted":
            path = _svg.proof_path(
                happens_before_graph(self.trace),
                self._note(verdict.first),
                self._note(verdict.second),
            )
        return Highlight(
            steps=frozenset(verdict.steps),
            notes=notes,
            pair=pair,
            pair_label=verdict.status,
            path=path,
        )

    def _note(self, ref: tuple[int, int] | None) -> Note | None:
        return None if ref is None else self.trace.steps[ref[0]].notes[ref[1]]

    def table(self) -> str:
        """The failing run as a column-per-task text table, blamed steps marked."""
        return render_trace(self.trace, self.marks())

    def dot(self) -> str:
        graph = happens_before_graph(self.trace)
        highlight = self.highlight()
        lit: list[Any] = [("step", seq) for seq in sorted(highlight.steps)]
        lit += [("note", *ref) for ref in sorted(highlight.notes)]
        return to_dot(graph, highlight=[node for node in lit if node in graph])


@attrs.frozen
class ScenarioResult:
    """One scenario's outcome, as ``result.json`` stores it."""

    command: str  #: "explore" or "replay"
    scenario: ScenarioInfo
    settings: Mapping[str, Any]  #: strategy, max_schedules, time_budget, seed, mode, ...
    verdict: str  #: "race found", "clean", "clean (not exhausted)", "no race found", ...
    matches: bool  #: the verdict is what the scenario expects
    stats: Stats
    order: tuple[str, ...]  #: the required order's rules, as written
    failure: FailureRecord | None = None

    @property
    def replay_command(self) -> str:
        return self.failure.replay_command if self.failure is not None else ""


@attrs.frozen
class RunResult:
    """A whole ``racesim explore``: every scenario's result, in sorted scenario order."""

    command: str  #: the command line, for the record
    results: tuple[ScenarioResult, ...]
    shard: str | None = None  #: "i/N" when the run was one shard of the scenarios

    @property
    def ok(self) -> bool:
        return all(result.matches for result in self.results)


# -- JSON --------------------------------------------------------------------------------------
def _trace_json(trace: Trace) -> dict[str, Any]:
    return {
        "tasks": [
            {"id": t.id, "name": t.name, "parent": t.parent, "spawn_step": t.spawn_step}
            for t in trace.tasks
        ],
        "steps": [
            {
                "seq": s.seq,
                "task": s.task,
                "index": s.index,
                "location": s.location,
                "accesses": [[a.obj, a.attr, a.kind] for a in s.accesses],
                "woke": list(s.woke),
                "spawned": list(s.spawned),
                "notes": [
                    {
                        "label": n.label,
                        "attrs": [[k, v] for k, v in n.attrs],
                        "location": n.location,
                    }
                    for n in s.notes
                ],
            }
            for s in trace.steps
        ],
    }


def _trace_from(data: Mapping[str, Any]) -> Trace:
    tasks = tuple(TaskInfo(t["id"], t["name"], t["parent"], t["spawn_step"]) for t in data["tasks"])
    steps = []
    for s in data["steps"]:
        notes = tuple(
            Note(
                label=n["label"],
                attrs=tuple((k, v) for k, v in n["attrs"]),
                task=s["task"],
                step=s["seq"],
                position=position,
                location=n["location"],
            )
            for position, n in enumerate(s["notes"])
        )
        steps.append(
            Step(
                seq=s["seq"],
                task=s["task"],
                index=s["index"],
                location=s["location"],
                accesses=tuple(Access(obj, attr, kind) for obj, attr, kind in s["accesses"]),
                woke=tuple(s["woke"]),
                spawned=tuple(s["spawned"]),
                notes=notes,
            )
        )
    return Trace(tasks=tasks, steps=tuple(steps))


def _ref(value: Sequence[int] | None) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _failure_json(failure: FailureRecord) -> dict[str, Any]:
    return {
        "kind": failure.kind,
        "message": failure.message,
        "details": failure.details,
        "token": failure.token,
        "seed": failure.seed,
        "strategy": failure.strategy,
        "replay_command": failure.replay_command,
        "seed_command": failure.seed_command,
        "found_at": failure.found_at,
        "shrunk_from": (
            None
            if failure.shrunk_from is None
            else {"preemptions": failure.shrunk_from[0], "decisions": failure.shrunk_from[1]}
        ),
        "schedule": {
            "mode": failure.mode,
            "explore_time": failure.explore_time,
            "preemptions": failure.preemptions,
            "decisions": [
                {"index": d.index, "task": d.task, "choices": d.choices, "previous": d.previous}
                for d in failure.decisions
            ],
        },
        "verdicts": [
            {
                "rule": v.rule,
                "status": v.status,
                "group": v.group,
                "per": v.per,
                "first": None if v.first is None else list(v.first),
                "second": None if v.second is None else list(v.second),
                "steps": list(v.steps),
                "explanation": v.explanation,
            }
            for v in failure.verdicts
        ],
        "races": [
            {
                "first_step": r.first_step,
                "second_step": r.second_step,
                "first": [r.first.obj, r.first.attr, r.first.kind],
                "second": [r.second.obj, r.second.attr, r.second.kind],
                "explanation": r.explanation,
            }
            for r in failure.races
        ],
        "trace": _trace_json(failure.trace),
    }


def _failure_from(data: Mapping[str, Any]) -> FailureRecord:
    schedule = data["schedule"]
    shrunk = data["shrunk_from"]
    return FailureRecord(
        kind=data["kind"],
        message=data["message"],
        details=data["details"],
        token=data["token"],
        seed=data["seed"],
        strategy=data["strategy"],
        found_at=data["found_at"],
        shrunk_from=None if shrunk is None else (shrunk["preemptions"], shrunk["decisions"]),
        mode=schedule["mode"],
        explore_time=schedule["explore_time"],
        decisions=tuple(
            Decision(d["index"], d["task"], d["choices"], d["previous"])
            for d in schedule["decisions"]
        ),
        trace=_trace_from(data["trace"]),
        verdicts=tuple(
            VerdictRecord(
                rule=v["rule"],
                status=v["status"],
                group=v["group"],
                per=v["per"],
                first=_ref(v["first"]),
                second=_ref(v["second"]),
                steps=tuple(v["steps"]),
                explanation=v["explanation"],
            )
            for v in data["verdicts"]
        ),
        races=tuple(
            RaceRecord(
                r["first_step"],
                r["second_step"],
                Access(*r["first"]),
                Access(*r["second"]),
                r["explanation"],
            )
            for r in data["races"]
        ),
        replay_command=data["replay_command"],
        seed_command=data.get("seed_command", ""),
    )


def _result_body(result: ScenarioResult) -> dict[str, Any]:
    return {
        "command": result.command,
        "scenario": attrs.asdict(result.scenario),
        "settings": dict(result.settings),
        "verdict": result.verdict,
        "matches": result.matches,
        "stats": attrs.asdict(result.stats),
        "order": list(result.order),
        "failure": None if result.failure is None else _failure_json(result.failure),
    }


def result_to_json(result: ScenarioResult) -> dict[str, Any]:
    """``result.json``: one scenario's result (schema ``racesim.result``)."""
    return {"schema": RESULT_SCHEMA, "schema_version": SCHEMA_VERSION, **_result_body(result)}


def run_to_json(run: RunResult) -> dict[str, Any]:
    """``run.json`` and ``racesim explore --json``: a whole run (schema ``racesim.run``)."""
    return {
        "schema": RUN_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "command": run.command,
        "shard": run.shard,
        "ok": run.ok,
        "results": [_result_body(result) for result in run.results],
    }


def result_from_json(data: Mapping[str, Any]) -> ScenarioResult:
    """The :class:`ScenarioResult` in a ``racesim.result`` document (or one entry of a run)."""
    return ScenarioResult(
        command=data["command"],
        scenario=ScenarioInfo(**data["scenario"]),
        settings=data["settings"],
        verdict=data["verdict"],
        matches=data["matches"],
        stats=Stats(**data["stats"]),
        order=tuple(data["order"]),
        failure=None if data["failure"] is None else _failure_from(data["failure"]),
    )


def run_from_json(data: Mapping[str, Any]) -> RunResult:
    return RunResult(
        command=data["command"],
        results=tuple(result_from_json(entry) for entry in data["results"]),
        shard=data.get("shard"),
    )


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> RunResult | ScenarioResult:
    """Read a saved ``run.json`` or ``result.json``; :class:`ReportError` says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            f"{path} does not exist; pass the result.json or run.json written by "
            "'racesim explore' (under reports/ by default)"
        ) from None
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror}; check the path") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno}); pass a result "
            "written by 'racesim explore' or 'racesim explore --json'"
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema not in (RESULT_SCHEMA, RUN_SCHEMA):
        raise ReportError(
            f"{path} is not a racesim result (no '{RESULT_SCHEMA}' or '{RUN_SCHEMA}' schema); "
            "pass the result.json or run.json written by 'racesim explore'"
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{path} has schema version {version!r}, but this racesim reads version "
            f"{SCHEMA_VERSION}; regenerate it with 'racesim explore' or use the racesim that "
            "wrote it"
        )
    try:
        if schema == RUN_SCHEMA:
            return run_from_json(data)
        return result_from_json(data)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ReportError(
            f"{path} is a damaged racesim result ({type(error).__name__}: {error}); "
            "regenerate it with 'racesim explore'"
        ) from None


# -- HTML --------------------------------------------------------------------------------------
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
        f"<footer>generated by racesim · report schema {RESULT_SCHEMA} v{SCHEMA_VERSION}"
        "</footer></div></main>\n"
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
            "—" if stats.first_failure_at is None else f"schedule #{stats.first_failure_at}",
        ),
    ]
    for key in ("max_schedules", "time_budget", "seed", "mode", "preemption_bound"):
        if key in settings:
            value = settings[key]
            items.append((key.replace("_", " "), "—" if value is None else value))
    failure = result.failure
    if failure is not None:
        items.append(("shrinking", failure.shrink_summary()))
        items.append(("steps in failing run", len(failure.trace.steps)))
        items.append(("tasks", len(failure.trace.tasks)))
    items.append(("scenario version", result.scenario.fingerprint or "—"))
    cells = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    return f'<section class="card"><h2>Run statistics</h2><dl class="stats">{cells}</dl></section>'


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
        "blamed steps (racing pair / violated order)</span>"
    )
    return f'<div class="legend">{"".join(entries)}</div>'


def _verdicts(failure: FailureRecord, order: Sequence[str]) -> str:
    parts = []
    if order:
        rules = "".join(f'<li class="mono">{esc(rule)}</li>' for rule in order)
        parts.append(f'<p>The required order:</p><ol class="rules">{rules}</ol>')
    if failure.verdicts:
        rows = "".join(
            f'<tr class="{"ok" if v.ok else "bad"}"><td class="mono">{esc(v.rule)}</td>'
            f'<td class="mono">{esc(v.where or "run")}</td><td>{_status(v.status)}</td>'
            f"<td>{esc(v.explanation)}</td></tr>"
            for v in failure.verdicts
        )
        parts.append(
            "<table><thead><tr><th>rule</th><th>group</th><th>verdict</th>"
            f"<th>explanation</th></tr></thead><tbody>{rows}</tbody></table>"
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
    tone = "good" if result.matches else "bad"
    chips = [
        _chip(f"variant: {scenario.variant or '—'}"),
        _chip(f"expected: {scenario.expect or '—'}"),
        _chip(result.verdict, "bad" if failure is not None else "good"),
        _chip("as expected" if result.matches else "NOT as expected", tone),
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


def render_index(run: RunResult, links: Mapping[str, str]) -> str:
    """The overview page of a run: a row per scenario, linking to its report."""
    rows = []
    for result in run.results:
        link = links.get(result.scenario.name, "")
        name = esc(result.scenario.name)
        cell = f'<a href="{esc(link)}">{name}</a>' if link else name
        tone = "good" if result.matches else "bad"
        rows.append(
            f'<tr class="{"" if result.matches else "bad"}"><td>{cell}</td>'
            f"<td>{esc(result.scenario.variant)}</td><td>{esc(result.scenario.expect)}</td>"
            f"<td>{_chip(result.verdict, tone)}</td><td>{result.stats.schedules_run:,}</td>"
            f"<td>{result.stats.elapsed_seconds:.2f} s</td>"
            f'<td class="mono">{esc(result.replay_command)}</td></tr>'
        )
    verdict = "every verdict as expected" if run.ok else "some verdicts NOT as expected"
    header = (
        '<div class="eyebrow">racesim explore</div>'
        f"<h1>{len(run.results)} scenarios</h1>"
        f'<div class="chips">{_chip(verdict, "good" if run.ok else "bad")}'
        + (_chip(f"shard {run.shard}") if run.shard else "")
        + "</div>"
    )
    table = (
        '<section class="card"><table><thead><tr><th>scenario</th><th>variant</th>'
        "<th>expected</th><th>verdict</th><th>schedules</th><th>time</th><th>replay</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )
    return _page("racesim explore", header, table)


# -- JUnit -------------------------------------------------------------------------------------
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def render_junit(run: RunResult) -> str:
    """JUnit XML: a test case per scenario, failing when its verdict is not the expected one."""
    failures = sum(not result.matches for result in run.results)
    elapsed = f"{sum(r.stats.elapsed_seconds for r in run.results):.3f}"
    suites = ET.Element(
        "testsuites",
        name="racesim",
        tests=str(len(run.results)),
        failures=str(failures),
        errors="0",
        time=elapsed,
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="racesim explore" + (f" (shard {run.shard})" if run.shard else ""),
        tests=str(len(run.results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=elapsed,
    )
    for result in run.results:
        scenario = result.scenario
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml(f"racesim.{scenario.variant or 'scenario'}"),
            name=_xml(scenario.name),
            file=_xml(scenario.path),
            time=f"{result.stats.elapsed_seconds:.3f}",
        )
        lines = [
            f"expected: {scenario.expect}",
            f"verdict: {result.verdict}",
            f"schedules: {result.stats.schedules_run} ({result.stats.exit_reason_text})",
        ]
        if result.failure is not None:
            failure = result.failure
            lines += [
                f"[{failure.kind}] {failure.message}",
                f"replay: {failure.replay_command}",
                "",
                failure.details,
                "",
                failure.table(),
            ]
        text = _xml("\n".join(lines))
        if not result.matches:
            element = ET.SubElement(
                case,
                "failure",
                message=_xml(f"expected {scenario.expect}, got {result.verdict}"),
                type="racesim.verdict",
            )
            element.text = text
        ET.SubElement(case, "system-out").text = text
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


# -- files -------------------------------------------------------------------------------------
def directory_name(name: str) -> str:
    """A scenario name as a single, portable directory name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "scenario"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_result(result: ScenarioResult, directory: Path) -> list[Path]:
    """``result.json``, ``report.html`` and (for a failure) ``hb.dot`` in ``directory``."""
    written = [
        _write(directory / RESULT_FILE, dumps(result_to_json(result))),
        _write(directory / HTML_FILE, render_html(result)),
    ]
    dot = directory / DOT_FILE
    if result.failure is not None:
        written.append(_write(dot, result.failure.dot()))
    elif dot.exists():
        dot.unlink()  # a stale graph of an earlier failure would contradict the report
    return written


def write_html(result: ScenarioResult, directory: Path) -> list[Path]:
    """Redraw ``report.html`` (and ``hb.dot``) from a loaded result, leaving its JSON alone."""
    written = [_write(directory / HTML_FILE, render_html(result))]
    if result.failure is not None:
        written.append(_write(directory / DOT_FILE, result.failure.dot()))
    return written


def scenario_directory(report_dir: Path, result: ScenarioResult) -> Path:
    return report_dir / directory_name(result.scenario.name)


def write_summary(run: RunResult, report_dir: Path) -> Path:
    """``run.json`` and ``index.html`` in ``report_dir`` (each scenario's files are written with
    :func:`write_result` as it finishes). Returns the index page."""
    _write(report_dir / RUN_FILE, dumps(run_to_json(run)))
    return _write(report_dir / INDEX_FILE, render_index(run, _links(run, report_dir)))


def _links(run: RunResult, report_dir: Path) -> dict[str, str]:
    return {
        result.scenario.name: f"{scenario_directory(report_dir, result).name}/{HTML_FILE}"
        for result in run.results
    }


def write_index(run: RunResult, report_dir: Path) -> Path:
    """Redraw every scenario's HTML of a loaded run, and its index page."""
    for result in run.results:
        write_html(result, scenario_directory(report_dir, result))
    return _write(report_dir / INDEX_FILE, render_index(run, _links(run, report_dir)))


def write_junit(run: RunResult, path: Path) -> Path:
    return _write(path, render_junit(run))
