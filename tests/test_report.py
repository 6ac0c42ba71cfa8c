"""Reports (sim._report, sim._svg): JSON round trips, escaping, self-contained HTML, DOT, JUnit."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio

import sim
from sim import _html, _report, _svg
from sim._happens_before import happens_before_graph

if TYPE_CHECKING:
    from pathlib import Path

EVIL = "<img src=x onerror=alert(1)> & \"quoted\" 'single'"


@sim.tracked
class Wiring:
    def __init__(self) -> None:
        self.bridge: str | None = None


async def wiring_race() -> None:
    """An agent starts without waiting for the wiring: an order failure and a data race."""
    state = Wiring()

    async def wire() -> None:
        await trio.sleep(0)
        state.bridge = "bridge"
        sim.note("bridge_wired", run="r1")

    async def agent() -> None:
        await trio.sleep(0)
        sim.note("agent_started", run="r1", bridge=state.bridge)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wire, name="wiring")
        nursery.start_soon(agent, name="agent")


async def evil_labels() -> None:
    async def task() -> None:
        await trio.sleep(0)
        sim.note(EVIL, detail=EVIL)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(task, name=EVIL)
        nursery.start_soon(task, name="other")


ORDER = sim.Order.chain("bridge_wired", "agent_started", per="run")


def _result(
    scenario: Any = wiring_race,
    order: sim.Order | None = ORDER,
    *,
    races: bool = False,
    name: str = "wiring_race",
) -> _report.ScenarioResult:
    explored = sim.explore(scenario, strategy="dfs", requires=order, races=races)
    failure = explored.failures[0] if explored.failures else None
    record = None
    if failure is not None:
        record = _report.FailureRecord.of(
            failure, order, replay_command=failure.replay_command, seed_command=""
        )
    return _report.ScenarioResult(
        command="explore",
        scenario=_report.ScenarioInfo(
            name=name, path="scenarios/x.toml", description=EVIL, variant="legacy", expect="race"
        ),
        settings={"strategy": "dfs", "max_schedules": 1000, "seed": 0, "mode": "free"},
        verdict="race found" if failure else "clean",
        matches=failure is not None,
        stats=_report.Stats.of(explored),
        order=tuple(rule.describe() for rule in order.rules) if order else (),
        failure=record,
    )


def _strip_elapsed(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: _strip_elapsed(v) for k, v in document.items() if k != "elapsed_seconds"}
    if isinstance(document, list):
        return [_strip_elapsed(v) for v in document]
    return document


def test_result_json_round_trips_losslessly() -> None:
    result = _result()
    document = json.loads(_report.dumps(_report.result_to_json(result)))
    back = _report.result_from_json(document)
    assert back.failure is not None and result.failure is not None
    assert back.failure.trace == result.failure.trace
    assert back.failure.verdicts == result.failure.verdicts
    assert back.failure.decisions == result.failure.decisions
    assert _report.result_to_json(back) == document


def test_run_json_round_trips_and_records_the_schema() -> None:
    run = _report.RunResult(command="racesim explore", results=(_result(),), shard="1/2")
    document = json.loads(_report.dumps(_report.run_to_json(run)))
    assert (document["schema"], document["schema_version"]) == ("racesim.run", 1)
    assert _report.run_to_json(_report.run_from_json(document)) == document


def test_json_is_identical_across_explorations_except_elapsed_time() -> None:
    first = _strip_elapsed(_report.result_to_json(_result()))
    second = _strip_elapsed(_report.result_to_json(_result()))
    assert first == second


def test_failure_record_keeps_every_verdict_of_the_order_and_marks_the_bad_ones() -> None:
    failure = _result().failure
    assert failure is not None
    assert [v.rule for v in failure.verdicts] == ["bridge_wired -> agent_started"]
    assert failure.bad_verdicts and failure.bad_verdicts[0].status in ("unordered", "inverted")
    assert failure.token.startswith("rs2.")


def test_html_escapes_every_label(tmp_path: Path) -> None:
    result = _result(evil_labels, sim.Order.chain(EVIL, "never", per="detail"), name=EVIL)
    assert result.failure is not None
    page = _html.render_html(result)
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    junit = _report.render_junit(_report.RunResult("racesim explore", (result,)))
    ET.fromstring(junit)  # well-formed despite the markup in every label
    dot = result.failure.dot()
    assert "<img" not in dot and "&lt;img" in dot


def test_html_is_self_contained() -> None:
    page = _html.render_html(_result())
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    external = re.findall(r"https?://[^\s\"'<>]+", page)
    assert external and set(external) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(link|img|iframe)\b", page)
    assert not re.search(r"<script[^>]*\bsrc=", page)


def test_html_shows_the_replay_command_the_order_and_both_drawings() -> None:
    result = _result()
    assert result.failure is not None
    page = _html.render_html(result)
    assert f'id="replay-command">{result.failure.replay_command}</code>' in page
    assert "bridge_wired -&gt; agent_started" in page
    assert 'class="swimlane"' in page and 'class="hbgraph"' in page


def test_clean_result_renders_without_a_failure() -> None:
    async def clean() -> None:
        sim.note("bridge_wired", run="r1")
        sim.note("agent_started", run="r1")

    result = _result(clean)
    assert result.failure is None
    page = _html.render_html(result)
    assert "no failing schedule" in page and 'class="swimlane"' not in page


def test_swimlane_draws_a_box_per_step_and_a_lane_per_task() -> None:
    failure = _result().failure
    assert failure is not None
    drawing = _svg.swimlane(failure.trace, failure.highlight())
    assert drawing.count('<g class="step') == len(failure.trace.steps)
    for task in failure.trace.tasks:
        assert f">{task.name}<title>" in drawing
    for step in failure.trace.steps:
        assert f'data-seq="{step.seq}"' in drawing


def test_swimlane_marks_the_blamed_steps_red() -> None:
    failure = _result().failure
    assert failure is not None
    highlight = failure.highlight()
    assert highlight.steps and highlight.pair is not None
    drawing = _svg.swimlane(failure.trace, highlight)
    lit = re.findall(r'<g class="step lit" data-seq="(\d+)"', drawing)
    assert {int(seq) for seq in lit} == set(highlight.steps)
    assert '<g class="pair">' in drawing


def test_data_race_highlights_both_racing_steps() -> None:
    result = _result(order=None, races=True)
    assert result.failure is not None and result.failure.races
    race = result.failure.races[0]
    assert result.failure.highlight().steps == {race.first_step, race.second_step}


def test_hb_graph_draws_every_node_and_edge() -> None:
    failure = _result().failure
    assert failure is not None
    graph = happens_before_graph(failure.trace)
    drawing = _svg.hb_graph(failure.trace, failure.highlight(), graph)
    assert drawing.count('<g class="node') == graph.number_of_nodes()
    assert drawing.count('<path class="edge') == graph.number_of_edges()


def test_proof_path_finds_an_ordering_in_either_direction() -> None:
    async def ordered() -> None:
        done = trio.Event()

        async def first() -> None:
            sim.note("a")
            done.set()

        async def second() -> None:
            await done.wait()
            sim.note("b")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            nursery.start_soon(second)

    run = sim.explore(
        ordered,
        strategy="dfs",
        max_schedules=1,
        suppress_health_check=[sim.HealthCheck.tiny_budget],
    )
    assert not run.failures
    outcome = sim.explore(
        ordered, strategy="dfs", requires=sim.Order.chain("b", "a"), max_schedules=5
    )
    failure = outcome.failures[0]
    graph = happens_before_graph(failure.trace)
    a, b = (next(n for n in failure.trace.notes if n.label == label) for label in "ab")
    path = _svg.proof_path(graph, a, b)
    assert path and path[0] == ("note", a.step, a.position)
    assert path[-1] == ("note", b.step, b.position)


def test_write_result_writes_json_html_and_dot_and_removes_a_stale_dot(tmp_path: Path) -> None:
    written = _report.write_result(_result(), tmp_path)
    assert sorted(p.name for p in written) == ["hb.dot", "report.html", "result.json"]
    assert (tmp_path / "hb.dot").read_text().startswith("digraph happens_before {")

    async def clean() -> None:
        await trio.sleep(0)

    _report.write_result(_result(clean), tmp_path)
    assert not (tmp_path / "hb.dot").exists()


def test_load_reads_back_what_write_summary_wrote(tmp_path: Path) -> None:
    run = _report.RunResult(command="racesim explore", results=(_result(),))
    _report.write_summary(run, tmp_path)
    loaded = _report.load(tmp_path / "run.json")
    assert isinstance(loaded, _report.RunResult)
    assert _report.run_to_json(loaded) == _report.run_to_json(run)
    assert 'href="wiring_race/report.html"' in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "is not valid JSON"),
        ('{"schema": "other"}', "is not a racesim result"),
        ('{"schema": "racesim.run", "schema_version": 99}', "schema version 99"),
        ('{"schema": "racesim.run", "schema_version": 1}', "damaged racesim result"),
    ],
)
def test_load_refuses_what_it_cannot_read_and_says_what_to_do(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(_report.ReportError, match=complaint) as caught:
        _report.load(path)
    assert "racesim explore" in str(caught.value)


def test_junit_has_a_case_per_scenario_and_fails_only_the_unexpected() -> None:
    good = _result()
    bad = attrs.evolve(good, matches=False)
    root = ET.fromstring(_report.render_junit(_report.RunResult("racesim explore", (good, bad))))
    cases = root.findall(".//testcase")
    assert len(cases) == 2
    assert [case.find("failure") is not None for case in cases] == [False, True]
    assert root.get("failures") == "1"
    system_out = cases[0].findtext("system-out") or ""
    assert good.replay_command in system_out


def test_junit_replaces_characters_xml_cannot_hold() -> None:
    result = _result()
    info = _report.ScenarioInfo(name="bell\x07and\x00nul", path="x.toml")
    odd = _report.ScenarioResult(
        command="explore",
        scenario=info,
        settings={},
        verdict="clean",
        matches=True,
        stats=result.stats,
        order=(),
    )
    root = ET.fromstring(_report.render_junit(_report.RunResult("racesim explore", (odd,))))
    assert root.find(".//testcase").get("name") == "bell\ufffdand\ufffdnul"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "directory"),
    [("legacy_race", "legacy_race"), ("../etc/passwd", "etc_passwd"), ("a b/c", "a_b_c")],
)
def test_scenario_directories_are_single_portable_names(name: str, directory: str) -> None:
    assert _report.directory_name(name) == directory


class Counter:
    def __init__(self) -> None:
        self.value = 0


async def lost_update() -> None:
    """Two read-yield-write increments: the second read before the first write loses one."""
    counter = Counter()

    async def bump() -> None:
        value = counter.value
        await trio.lowlevel.checkpoint()
        counter.value = value + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bump, name="first")
        nursery.start_soon(bump, name="second")
    assert counter.value == 2, f"lost update: {counter.value}"


def test_an_assertion_blames_the_switch_it_needs_and_the_step_where_it_failed() -> None:
    result = _result(lost_update, None, name="lost_update")
    failure = result.failure
    assert failure is not None and failure.kind == "assertion"
    marks = failure.marks()
    steps = failure.trace.steps
    # Independently of racesim's marking: the lost update needs one task's read (its first step)
    # followed by the other task's read before the first task writes.
    first, second = (failure.trace.tasks[i].id for i in (1, 2))
    reads = {s.seq for s in steps if s.index == 0 and s.task in (first, second)}
    assert {seq for seq, mark in marks.items() if mark != "failed"} == reads
    assert sorted(marks.values()) == ["failed", "preempted", "ran between"]
    assert marks[steps[-1].seq] == "failed"
    assert "<-- preempted" in failure.table()
    drawing = _svg.swimlane(failure.trace, failure.highlight())
    lit = {int(seq) for seq in re.findall(r'<g class="step lit" data-seq="(\d+)"', drawing)}
    assert lit == set(marks)


def test_note_labels_keep_their_seq_when_cut() -> None:
    text = _svg.note_text("agent_started", [("run", "u1-r0"), ("user", "u1"), ("seq", 3)])
    assert text == "agent_started seq=3 run=u1-r0 user=u1"
    assert "seq=3" in _svg.fit(text, 20 * _svg.CHAR)


def test_first_failure_is_numbered_from_one_and_the_reported_failure_has_its_own_number() -> None:
    result = _result()
    assert result.failure is not None
    page = _html.render_html(result)
    first = result.stats.first_failure_at
    assert first is not None
    assert f"schedule {first + 1:,} of {result.stats.schedules_run:,}" in page
    later = attrs.evolve(result, failure=attrs.evolve(result.failure, found_at=first + 32))
    assert f"schedule {first + 33:,}" in _html.render_html(later)


async def _hidden_lost_update() -> None:
    from footprint_fixtures import hidden

    box = hidden.Box()

    async def bump() -> None:
        seen = hidden.read(box)
        await trio.sleep(0)
        hidden.write(box, seen + 1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bump)
        nursery.start_soon(bump)


def test_json_and_html_say_how_many_steps_racesim_could_not_see() -> None:
    with pytest.warns(sim.HealthCheckWarning, match="cannot see"):
        explored = sim.explore(_hidden_lost_update)
    stats = _report.Stats.of(explored)
    assert stats.unseen_steps > 0 and stats.notes
    result = _report.ScenarioResult(
        command="explore",
        scenario=_report.ScenarioInfo(name="hidden", path="scenarios/hidden.toml"),
        settings={"strategy": "dpor"},
        verdict="clean",
        matches=True,
        stats=stats,
        order=(),
        failure=None,
    )
    document = json.loads(_report.dumps(_report.result_to_json(result)))
    assert document["stats"]["unseen_steps"] == stats.unseen_steps
    assert "cannot see (" in document["stats"]["notes"][0]
    page = _html.render_html(result)
    assert f"{stats.unseen_steps:,} of {stats.total_steps:,}" in page
    assert "read() at hidden.py:" in page
