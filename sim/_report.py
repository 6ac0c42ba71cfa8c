"""Reports: the result of exploring a scenario as JSON, HTML, DOT and JUnit — and the files they go in.

This is the only module of racesim that writes files. Everything else hands it values:

- :class:`ScenarioResult` is one scenario's outcome (what was run, with which settings, the verdict
  against the scenario's expectation, statistics, and the shrunk failure if there is one);
  :class:`RunResult` is a whole ``racesim explore`` invocation, scenarios in sorted order.
- ``result_to_json`` / ``result_from_json`` (and the ``run_`` pair) turn both into plain JSON and
  back, losslessly for everything a report needs: the failing trace is stored whole (tasks, steps,
  footprints, wake-ups, spawns, notes), so ``racesim report RUN.json`` redraws the HTML and DOT
  without re-running anything; the happens-before graph is rebuilt from the trace (it is a pure
  function of it).
- The values themselves live in :mod:`sim._results` (re-exported here), so :mod:`sim._html` names
  them without importing this module: no import cycle between the two.
- The HTML pages are drawn by :mod:`sim._html` (with :mod:`sim._svg`); :func:`render_junit` is
  JUnit XML for CI test tabs; DOT comes from ``sim._happens_before.to_dot``.

The schema is versioned (``schema`` + ``schema_version``; documented in ``reports/README.md``):
readers refuse a newer version with a message saying which racesim can read it. The output is
deterministic: for the same schedules the JSON is identical byte for byte except the measured
``elapsed_seconds``, which is displayed but never decides a verdict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import attrs

from . import _html
from ._results import FailureRecord as FailureRecord  # noqa: PLC0414 (re-exported)
from ._results import RaceRecord as RaceRecord  # noqa: PLC0414 (re-exported)
from ._results import RunResult as RunResult  # noqa: PLC0414 (re-exported)
from ._results import ScenarioInfo as ScenarioInfo  # noqa: PLC0414 (re-exported)
from ._results import ScenarioResult as ScenarioResult  # noqa: PLC0414 (re-exported)
from ._results import Stats as Stats  # noqa: PLC0414 (re-exported)
from ._results import VerdictRecord as VerdictRecord  # noqa: PLC0414 (re-exported)
from ._schedule import Decision
from ._trace import Access, Note, Step, TaskInfo, Trace

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path


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
                "accesses": [
                    [a.obj, a.attr, a.kind, True] if a.auto else [a.obj, a.attr, a.kind]
                    for a in s.accesses
                ],
                "unseen": s.unseen,
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
        "hidden": list(trace.hidden),
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
                accesses=tuple(Access(*access) for access in s["accesses"]),
                woke=tuple(s["woke"]),
                spawned=tuple(s["spawned"]),
                notes=notes,
                unseen=bool(s.get("unseen", False)),
            )
        )
    return Trace(tasks=tasks, steps=tuple(steps), hidden=tuple(data.get("hidden", ())))


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
        "interrupted": run.interrupted,
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
        interrupted=bool(data.get("interrupted", False)),
    )


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> RunResult | ScenarioResult:
    """Read a saved ``run.json`` or ``result.json``; :class:`ReportError` says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ReportError(
            f"{path} is not UTF-8 text, so not a result racesim wrote; pass the result.json or "
            "run.json written by 'racesim explore'"
        ) from None
    except IsADirectoryError:
        raise ReportError(
            f"{path} is a directory; pass the run.json or result.json in it"
        ) from None
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
        loaded: RunResult | ScenarioResult
        if schema == RUN_SCHEMA:
            loaded = run_from_json(data)
            results = loaded.results
        else:
            loaded = result_from_json(data)
            results = (loaded,)
        for result in results:  # a value of a wrong type or a bad index fails here, not later
            _html.render_html(result)
            if result.failure is not None:
                result.failure.dot()
        if isinstance(loaded, RunResult):
            _html.render_index(loaded, {})
        return loaded
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise ReportError(
            f"{path} is a damaged racesim result ({type(error).__name__}: {error}); "
            "regenerate it with 'racesim explore'"
        ) from None


# -- JUnit -------------------------------------------------------------------------------------
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def render_junit(run: RunResult) -> str:
    """JUnit XML: a test case per scenario, failing when its verdict is not the expected one."""
    failures = sum(result.matches is False for result in run.results)
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
        if result.matches is False:
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
        _write(directory / HTML_FILE, _html.render_html(result)),
    ]
    dot = directory / DOT_FILE
    if result.failure is not None:
        written.append(_write(dot, result.failure.dot()))
    elif dot.exists():
        dot.unlink()  # a stale graph of an earlier failure would contradict the report
    return written


def write_html(result: ScenarioResult, directory: Path) -> list[Path]:
    """Redraw ``report.html`` (and ``hb.dot``) from a loaded result, leaving its JSON alone."""
    written = [_write(directory / HTML_FILE, _html.render_html(result))]
    if result.failure is not None:
        written.append(_write(directory / DOT_FILE, result.failure.dot()))
    return written


#: The file in a report set listing what racesim wrote there (so a swap keeps everything else).
MANIFEST_FILE = ".racesim-report"


def stage(report_dir: Path) -> Path:
    """A fresh, empty directory beside ``report_dir`` where a run writes its report set; made
    now, so an unwritable location fails before the first schedule. :func:`publish` swaps it in."""
    staging = report_dir.parent / f".{report_dir.name}.incoming-{os.getpid()}"
    discard(staging)
    staging.mkdir(parents=True)
    return staging


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _ours(report_dir: Path) -> set[str]:
    """The entries of an existing report set that racesim wrote (the rest is kept on a swap)."""
    manifest = report_dir / MANIFEST_FILE
    if manifest.is_file():
        return {line for line in manifest.read_text(encoding="utf-8").splitlines() if line} | {
            MANIFEST_FILE
        }
    # A set written before manifests: the run files and every directory holding a result.
    return {INDEX_FILE, RUN_FILE} | {
        entry.name for entry in report_dir.iterdir() if (entry / RESULT_FILE).is_file()
    }


def publish(staging: Path, report_dir: Path) -> Path:
    """Make ``staging`` the report set at ``report_dir``: readers see either the previous set or
    this one, never a mix (two renames; entries racesim did not write, such as ``bench/``, are
    carried over). Returns ``report_dir``."""
    written = sorted(entry.name for entry in staging.iterdir())
    (staging / MANIFEST_FILE).write_text("".join(f"{name}\n" for name in written), "utf-8")
    if report_dir.is_dir():
        ours = _ours(report_dir)
        for entry in report_dir.iterdir():
            if entry.name not in ours and not (staging / entry.name).exists():
                entry.rename(staging / entry.name)
        old = report_dir.parent / f".{report_dir.name}.previous-{os.getpid()}"
        discard(old)
        report_dir.rename(old)
        staging.rename(report_dir)
        discard(old)
    else:
        report_dir.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(report_dir)
    return report_dir


def scenario_directory(report_dir: Path, result: ScenarioResult) -> Path:
    return report_dir / directory_name(result.scenario.name)


def write_summary(run: RunResult, report_dir: Path) -> Path:
    """``run.json`` and ``index.html`` in ``report_dir`` (each scenario's files are written with
    :func:`write_result` as it finishes). Returns the index page."""
    _write(report_dir / RUN_FILE, dumps(run_to_json(run)))
    return _write(report_dir / INDEX_FILE, _html.render_index(run, _links(run, report_dir)))


def merge(runs: Sequence[RunResult], command: str) -> RunResult:
    """One run of the shards' runs: every result once, sorted by scenario name as one unsharded
    run lists them. Raises :class:`ReportError` if two shards hold the same scenario."""
    seen: dict[str, ScenarioResult] = {}
    for run in runs:
        for result in run.results:
            if result.scenario.name in seen:
                raise ReportError(
                    f"scenario {result.scenario.name} is in two of the merged runs; merge the "
                    "run.json of distinct shards (--shard 1/N … N/N) of one run"
                )
            seen[result.scenario.name] = result
    return RunResult(
        command=command,
        results=tuple(seen[name] for name in sorted(seen)),
        interrupted=any(run.interrupted for run in runs),
    )


def _links(run: RunResult, report_dir: Path) -> dict[str, str]:
    return {
        result.scenario.name: f"{scenario_directory(report_dir, result).name}/{HTML_FILE}"
        for result in run.results
    }


def write_index(run: RunResult, report_dir: Path) -> Path:
    """Redraw every scenario's HTML of a loaded run, and its index page."""
    for result in run.results:
        write_html(result, scenario_directory(report_dir, result))
    return _write(report_dir / INDEX_FILE, _html.render_index(run, _links(run, report_dir)))


def write_junit(run: RunResult, path: Path) -> Path:
    return _write(path, render_junit(run))
