"""Happens-before graphs, vector clocks, order verdicts, races, wait-for cycles and DOT export."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs
import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import _happens_before as hb
from sim._happens_before import (
    Clocks,
    check_order,
    data_races,
    explain,
    happens_before_graph,
    note_node,
    step_node,
    to_dot,
    wait_for_cycle,
)
from sim._order import Order
from sim._trace import Access, Note, Step, TaskInfo, Trace

if TYPE_CHECKING:
    from collections.abc import Sequence


# -- building traces by hand -----------------------------------------------------------------------
def S(
    task: str, *notes: str | tuple[str, dict[str, object]], **what: Sequence[str]
) -> dict[str, Any]:
    """One step of ``task``: notes (``"label"`` or ``("label", {"run": "r1"})``) and keyword
    lists ``acquire`` / ``release`` (object keys), ``read`` / ``write`` (``"Obj.attr"``),
    ``woke`` / ``spawned`` (task names)."""
    return {"task": task, "notes": notes, **what}


def build(*steps: dict[str, Any]) -> Trace:
    """A trace of ``steps`` in this order; tasks are numbered by first mention."""
    names: list[str] = []
    for spec in steps:
        for name in [spec["task"], *spec.get("spawned", ()), *spec.get("woke", ())]:
            if name not in names:
                names.append(name)
    ids = {name: i for i, name in enumerate(names)}
    counts = [0] * len(names)
    parents: dict[int, tuple[int, int]] = {}
    built = []
    for seq, spec in enumerate(steps):
        task = ids[spec["task"]]
        accesses = [
            Access(obj, "", kind) for kind in ("acquire", "release") for obj in spec.get(kind, ())
        ]
        for kind in ("read", "write"):
            for target in spec.get(kind, ()):
                obj, attr = target.split(".")
                accesses.append(Access(obj, attr, kind))
        notes = []
        for position, item in enumerate(spec["notes"]):
            label, attrs = (item, {}) if isinstance(item, str) else item
            notes.append(
                Note(
                    label, tuple(sorted(attrs.items())), task, seq, position, f"sut.py:{100 + seq}"
                )
            )
        spawned = tuple(ids[name] for name in spec.get("spawned", ()))
        for child in spawned:
            parents[child] = (task, seq)
        built.append(
            Step(
                seq=seq,
                task=task,
                index=counts[task],
                location=f"sut.py:{seq}",
                accesses=tuple(accesses),
                woke=tuple(ids[name] for name in spec.get("woke", ())),
                spawned=spawned,
                notes=tuple(notes),
            )
        )
        counts[task] += 1
    tasks = tuple(TaskInfo(i, name, *parents.get(i, (None, None))) for i, name in enumerate(names))
    return Trace(tasks=tasks, steps=tuple(built))


def kinds(trace: Trace) -> dict[tuple[int, int], str]:
    """Cross-step edges of the graph as ``(source seq, target seq) -> kind``."""
    graph = happens_before_graph(trace)
    return {
        (graph.nodes[u]["seq"], graph.nodes[v]["seq"]): data["kind"]
        for u, v, data in graph.edges(data=True)
        if data["kind"] != "note"
    }


def statuses(trace: Trace, order: Order) -> list[tuple[str, object, str]]:
    return [(v.rule, v.group, v.status) for v in check_order(trace, order)]


# -- edges -----------------------------------------------------------------------------------------
def test_program_order_links_consecutive_steps_of_a_task() -> None:
    trace = build(S("a"), S("b"), S("a"), S("a"))
    assert kinds(trace) == {(0, 2): "program", (2, 3): "program"}
    clocks = Clocks.of(trace)
    assert clocks.step_before(0, 3)
    assert not clocks.step_before(3, 0)
    assert clocks.concurrent(1, 3)


def test_spawn_edge_enters_the_childs_first_step() -> None:
    trace = build(S("root", spawned=["child"]), S("root"), S("child"), S("child"))
    assert kinds(trace) == {(0, 1): "program", (0, 2): "spawn", (2, 3): "program"}
    clocks = Clocks.of(trace)
    assert clocks.step_before(0, 3)
    assert clocks.concurrent(1, 2)


def test_wake_edge_enters_the_woken_tasks_first_step_after_the_waker() -> None:
    trace = build(S("waiter"), S("setter", woke=["waiter"]), S("setter"), S("waiter"), S("waiter"))
    assert kinds(trace) == {(0, 3): "program", (1, 2): "program", (1, 3): "wake", (3, 4): "program"}
    clocks = Clocks.of(trace)
    assert clocks.step_before(1, 4)
    assert not clocks.step_before(0, 1)
    assert clocks.concurrent(2, 3)


def test_object_edges_run_from_the_latest_earlier_release_to_each_acquire_and_release() -> None:
    trace = build(
        S("a", release=["Lock#1"]),
        S("b", release=["Lock#1"]),
        S("c", acquire=["Lock#1"]),
        S("d", acquire=["Lock#1"]),
        S("e", acquire=["Lock#2"]),
    )
    assert kinds(trace) == {(0, 1): "object", (1, 2): "object", (1, 3): "object"}
    clocks = Clocks.of(trace)
    assert clocks.step_before(0, 3)
    assert clocks.concurrent(2, 3)
    assert clocks.concurrent(0, 4)


def test_tracked_reads_and_writes_add_no_edges() -> None:
    trace = build(S("a", write=["Session#1.bridge"]), S("b", read=["Session#1.bridge"]))
    assert kinds(trace) == {}
    assert Clocks.of(trace).concurrent(0, 1)


def test_an_edge_joining_two_kinds_keeps_both() -> None:
    trace = build(S("a", release=["Lock#1"]), S("a", acquire=["Lock#1"]))
    graph = happens_before_graph(trace)
    assert graph.edges[step_node(0), step_node(1)]["kinds"] == ("program", "object")
    assert graph.edges[step_node(0), step_node(1)]["kind"] == "program"


def test_graph_nodes_carry_task_label_and_location() -> None:
    trace = build(S("wiring", ("bridge_wired", {"user": "u1"})))
    graph = happens_before_graph(trace)
    assert graph.nodes[step_node(0)] == graph.nodes[step_node(0)] | {
        "kind": "step",
        "task": 0,
        "task_name": "wiring",
        "index": 0,
        "label": "wiring step 0",
        "location": "sut.py:0",
    }
    note = graph.nodes[("note", 0, 0)]
    assert (note["kind"], note["label"], note["attrs"], note["location"]) == (
        "note",
        "bridge_wired",
        (("user", "u1"),),
        "sut.py:100",
    )


# -- notes -----------------------------------------------------------------------------------------
def test_notes_of_one_step_are_ordered_by_position() -> None:
    trace = build(S("a", "x", "y", "z"))
    x, y, z = trace.notes
    clocks = Clocks.of(trace)
    graph = happens_before_graph(trace)
    assert clocks.note_before(x, z)
    assert not clocks.note_before(z, x)
    assert not clocks.note_before(y, y)
    assert nx.has_path(graph, note_node(x), note_node(z))
    assert not nx.has_path(graph, note_node(z), note_node(x))


def test_cross_task_edges_leave_after_the_last_note_and_enter_the_step_start() -> None:
    trace = build(S("a", "x", "y", woke=["b"]), S("b", "z"))
    graph = happens_before_graph(trace)
    assert graph.has_edge(("note", 0, 1), step_node(1))
    assert not graph.has_edge(step_node(0), step_node(1))
    assert list(graph.successors(step_node(1))) == [("note", 1, 0)]


def test_notes_in_different_steps_follow_step_reachability() -> None:
    trace = build(S("a", "x", woke=["b"]), S("c", "w"), S("b", "y"))
    x, w, y = trace.notes
    clocks = Clocks.of(trace)
    assert clocks.note_before(x, y)
    assert not clocks.note_before(y, x)
    assert not clocks.note_before(w, y)
    assert not clocks.note_before(x, w)


# -- verdicts --------------------------------------------------------------------------------------
def test_wait_on_an_already_set_event_is_ordered_by_the_object_edge() -> None:
    set_first = build(
        S("first", "first", release=["Event#1"]), S("second", "second", acquire=["Event#1"])
    )
    order = Order.edge("first", "second")
    assert statuses(set_first, order) == [("first -> second", None, "ordered")]
    without_event = build(S("first", "first"), S("second", "second"))
    assert statuses(without_event, order) == [("first -> second", None, "unordered")]


def test_unordered_verdict_names_the_tasks_the_racing_steps_and_the_conflict() -> None:
    trace = build(
        S("wiring", "bridge_wired", write=["Session#1.bridge"]),
        S("agent-u1", ("agent_started", {"run": "r1", "user": "u1"}), read=["Session#1.bridge"]),
    )
    [verdict] = check_order(trace, Order.edge("bridge_wired", "agent_started"))
    assert (verdict.status, verdict.ok) == ("unordered", False)
    assert verdict.explanation == (
        "agent_started (run=r1, user=u1) at sut.py:101 is not ordered after bridge_wired at "
        "sut.py:100: they run in tasks agent-u1 and wiring, and no synchronisation connects them "
        "(wiring step 0 (until sut.py:0) and agent-u1 step 0 (until sut.py:1) can run in either "
        "order); they conflict on Session#1.bridge (write in wiring step 0, read in agent-u1 "
        "step 0)"
    )
    assert verdict.steps == (0, 1)
    assert explain(trace, verdict) == verdict.explanation


def test_inverted_verdict_is_explained_by_the_contradicting_path() -> None:
    trace = build(
        S("agent-u1", "agent_started", woke=["wiring"]),
        S("wiring"),
        S("wiring", "bridge_wired"),
    )
    [verdict] = check_order(trace, Order.edge("bridge_wired", "agent_started"))
    assert verdict.status == "inverted"
    assert (verdict.first, verdict.second) == (trace.notes[1], trace.notes[0])
    assert verdict.explanation == (
        "agent_started at sut.py:100 happened before bridge_wired at sut.py:102, but bridge_wired "
        "must come first: agent_started (agent-u1 step 0, sut.py:100) -> [wake] wiring step 0 "
        "-> [program] wiring step 1 -> bridge_wired"
    )


def test_ordered_verdict_is_explained_by_the_shortest_path() -> None:
    trace = build(
        S("wiring", "bridge_wired", release=["Lock#1"], woke=["agent-u1"]),
        S("wiring", release=["Lock#1"]),
        S("agent-u1", "agent_started", acquire=["Lock#1"]),
    )
    [verdict] = check_order(trace, Order.edge("bridge_wired", "agent_started"))
    assert verdict.status == "ordered"
    assert "by synchronisation" in verdict.explanation
    assert explain(trace, verdict) == (
        "agent_started at sut.py:102 is ordered after bridge_wired at sut.py:100: bridge_wired "
        "(wiring step 0, sut.py:100) -> [wake] agent-u1 step 0 -> agent_started"
    )


def test_lost_event_is_missing_and_names_the_label_and_group() -> None:
    trace = build(S("wiring", ("bridge_wired", {"run": "r1"})))
    [verdict] = check_order(trace, Order.edge("bridge_wired", "agent_started", per="run"))
    assert (verdict.status, verdict.group, verdict.first, verdict.second) == (
        "missing",
        "r1",
        trace.notes[0],
        None,
    )
    assert verdict.explanation == (
        "agent_started never happened in run=r1, although bridge_wired (run=r1) did at "
        "sut.py:100 (wiring step 0 (until sut.py:0)): a lost event"
    )


def test_missing_both_labels_without_groups_is_reported() -> None:
    [verdict] = check_order(build(S("a")), Order.edge("x", "y"))
    assert verdict.status == "missing"
    assert verdict.explanation == "x (nor y) never happened in this run: a lost event"


def test_worst_pair_decides_the_verdict_of_an_edge() -> None:
    trace = build(
        S("a", "x", woke=["b"]),
        S("b", "y"),
        S("c", "y"),
    )
    [verdict] = check_order(trace, Order.edge("x", "y"))
    assert verdict.status == "unordered"
    assert verdict.second == trace.notes[2]


def test_verdicts_follow_rule_order_then_group_appearance() -> None:
    trace = build(
        S("t", ("b", {"run": "r2"}), ("a", {"run": "r2"})),
        S("t", ("a", {"run": "r1"}), ("b", {"run": "r1"})),
    )
    order = Order.edge("a", "b", per="run") | Order.edge("b", "c", per="run")
    assert statuses(trace, order) == [
        ("a -> b", "r2", "inverted"),
        ("a -> b", "r1", "ordered"),
        ("b -> c", "r2", "missing"),
        ("b -> c", "r1", "missing"),
    ]


# -- races -----------------------------------------------------------------------------------------
def test_data_race_is_found_between_unordered_conflicting_steps() -> None:
    trace = build(S("a", write=["Session#1.bridge"]), S("b", read=["Session#1.bridge"]))
    [race] = data_races(trace)
    assert (race.first_step, race.second_step) == (0, 1)
    assert (race.first, race.second) == (
        Access("Session#1", "bridge", "write"),
        Access("Session#1", "bridge", "read"),
    )
    assert race.explanation == (
        "Session#1.bridge: write in a step 0 (until sut.py:0) and read in b step 0 (until "
        "sut.py:1) are not ordered by happens-before: no synchronisation connects these steps of "
        "tasks a and b, so another interleaving can swap them"
    )
    assert explain(trace, race) == race.explanation


def test_conflicting_steps_ordered_by_synchronisation_are_not_a_race() -> None:
    trace = build(
        S("a", write=["Session#1.bridge"], release=["Lock#1"]),
        S("b", read=["Session#1.bridge"], acquire=["Lock#1"]),
    )
    assert data_races(trace) == []


def test_reads_only_steps_of_one_task_and_sync_accesses_are_not_races() -> None:
    trace = build(
        S("a", read=["S.x"], acquire=["Lock#1"]),
        S("b", read=["S.x"], acquire=["Lock#1"]),
        S("a", write=["S.y"]),
        S("a", write=["S.y"]),
    )
    assert data_races(trace) == []


def test_races_are_one_per_key_and_step_pair_in_a_stable_order() -> None:
    trace = build(
        S("a", write=["S.x", "S.y"], read=["S.x"]),
        S("b", write=["S.x", "S.y"]),
        S("c", read=["S.y"]),
    )
    found = [(r.first_step, r.second_step, r.first.key) for r in data_races(trace)]
    assert found == [
        (0, 1, ("S", "x")),
        (0, 1, ("S", "y")),
        (0, 2, ("S", "y")),
        (1, 2, ("S", "y")),
    ]


def test_race_detection_skips_steps_ordered_earlier_in_the_same_task() -> None:
    trace = build(
        S("a", write=["S.x"]),
        S("a", write=["S.x"], woke=["b"]),
        S("b", write=["S.x"]),
        S("a", write=["S.x"]),
    )
    assert [(r.first_step, r.second_step) for r in data_races(trace)] == [(2, 3)]


def at(trace: Trace, *sites: str) -> Trace:
    """``trace`` with its steps stopping at ``sites`` (cycled): steps at one site are one code site."""
    steps = tuple(attrs.evolve(step, location=sites[step.seq % len(sites)]) for step in trace.steps)
    return Trace(trace.tasks, steps)


def test_races_at_the_same_sites_are_one_group_with_a_count_and_the_first_pairs() -> None:
    trace = at(
        build(*[S(task, read=["C#1.v"], write=["C#1.v"]) for _ in range(4) for task in "ab"]),
        "loop.py:3",
    )
    [race] = data_races(trace)
    assert race.count == 16  # every step of a with every step of b: nothing orders them
    assert race.examples == ((0, 1), (0, 3), (0, 5))
    assert (race.first_step, race.second_step) == (0, 1)
    assert (race.first, race.second) == (Access("C#1", "v", "write"), Access("C#1", "v", "read"))
    assert race.explanation == (
        "C#1.v: write in a step 0 (until loop.py:3) and read in b step 0 (until loop.py:3) are not "
        "ordered by happens-before: no synchronisation connects these steps of tasks a and b, so "
        "another interleaving can swap them; 15 more unordered pairs of steps stopping at "
        "loop.py:3 conflict on C#1.v (e.g. a step 0 / b step 1, a step 0 / b step 2)"
    )


def test_races_are_grouped_by_key_and_the_unordered_pair_of_sites() -> None:
    steps = [S("a", write=["S.x", "S.y"]), S("b", write=["S.x"]), S("a", write=["S.x"])]
    trace = at(build(*steps, S("b", read=["S.y"])), "p.py:1", "q.py:2", "p.py:1", "p.py:1")
    found = [(r.first.key, r.count, r.examples) for r in data_races(trace)]
    assert found == [
        (("S", "x"), 2, ((0, 1), (1, 2))),  # p.py:1 / q.py:2, both ways round
        (("S", "y"), 1, ((0, 3),)),  # p.py:1 / p.py:1
    ]
    assert "more" not in data_races(trace)[1].explanation


class CountingSteps(tuple):  # type: ignore[type-arg]
    """A trace's steps that count how often one is looked up by position."""

    lookups = 0

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        type(self).lookups += 1
        return super().__getitem__(index)


@pytest.mark.parametrize("ordered_prefix", [False, True])
def test_the_race_check_looks_at_each_step_a_bounded_number_of_times(ordered_prefix: bool) -> None:
    """``n`` unsynchronised writes in each of two tasks, after (optionally) ``n`` writes of the
    first task that happen before all of the second's: ``n^2`` racing pairs, counted in a pass
    whose look-ups stay linear (an ordered prefix at the same site is never scanned per step)."""
    n = 500
    prefix = [S("a", write=["C#1.v"]) for _ in range(n)] if ordered_prefix else []
    start = [S("a", woke=["b"])] if ordered_prefix else []
    loop = [S(task, write=["C#1.v"]) for _ in range(n) for task in "ba"]
    trace = at(build(*prefix, *start, *loop), "loop.py:3")
    CountingSteps.lookups = 0
    counted = Trace(trace.tasks, CountingSteps(trace.steps))
    [race] = data_races(counted)
    assert race.count == n * n
    assert CountingSteps.lookups <= 10 * n
    assert race.examples == data_races(trace)[0].examples


def test_unordered_verdict_counts_every_conflicting_pair_it_does_not_show() -> None:
    steps = [S(task, write=["S.x"]) for _ in range(5) for task in ("a", "b")]
    trace = build(S("a", "x"), *steps, S("b", "y"))
    [verdict] = check_order(trace, Order.edge("x", "y"))
    assert verdict.status == "unordered"
    pairs = sorted(
        (i, j)
        for j, y in enumerate(trace.steps)
        for i, x in enumerate(trace.steps[:j])
        if x.task != y.task and x.accesses and y.accesses
    )
    assert verdict.explanation.endswith(f" and {len(pairs) - 3} more")
    assert set(verdict.steps) == {0, len(trace.steps) - 1, *pairs[0], *pairs[1], *pairs[2]}


# -- malformed input -------------------------------------------------------------------------------
def test_steps_out_of_execution_order_are_rejected() -> None:
    good = build(S("a"), S("a"))
    swapped = Trace(good.tasks, (good.steps[1], good.steps[0]))
    with pytest.raises(ValueError, match="malformed trace"):
        Clocks.of(swapped)


def test_spawning_a_task_that_already_ran_is_rejected() -> None:
    trace = build(S("b"), S("a", spawned=["b"]))
    with pytest.raises(ValueError, match="spawns task 0, which already ran"):
        happens_before_graph(trace)


# -- deadlocks -------------------------------------------------------------------------------------
def test_wait_for_cycle_finds_an_abba_deadlock() -> None:
    waits = {"t2": "LockA", "t1": "LockB", "t3": "LockA"}
    holders = {"LockA": "t1", "LockB": "t2"}
    assert wait_for_cycle(waits, holders) == ["t1", "LockB", "t2", "LockA"]


def test_wait_for_cycle_is_none_when_some_holder_can_proceed() -> None:
    assert wait_for_cycle({"t1": "LockB", "t2": "LockA"}, {"LockA": "t3", "LockB": "t2"}) is None
    assert wait_for_cycle({}, {}) is None


def test_a_task_waiting_on_what_it_holds_is_a_cycle() -> None:
    assert wait_for_cycle({"t1": "Lock#1"}, {"Lock#1": "t1"}) == ["t1", "Lock#1"]


# -- DOT -------------------------------------------------------------------------------------------
def test_to_dot_escapes_quotes_backslashes_newlines_and_angle_brackets() -> None:
    trace = build(S('we"ird\\task', ('say <b>&"hi"</b>\nbye', {"path": "C:\\x"})))
    dot = to_dot(happens_before_graph(trace))
    assert 'label="we\\"ird\\\\task"' in dot
    assert 'say &lt;b&gt;&amp;\\"hi\\"&lt;/b&gt;\\nbye\\npath=C:\\\\x\\nsut.py:100' in dot
    assert all(re.sub(r"\\.", "", line).count('"') % 2 == 0 for line in dot.splitlines())
    assert "<b>" not in dot


def test_to_dot_highlights_the_given_nodes_and_edges_only() -> None:
    trace = build(S("a", "x", woke=["b"]), S("b", "y"))
    graph = happens_before_graph(trace)
    dot = to_dot(graph, highlight=[note_node(trace.notes[1]), (("note", 0, 0), step_node(1))])
    red = [line.strip() for line in dot.splitlines() if 'color="red"' in line]
    assert len(red) == 2
    assert red[0].startswith('n3 [label="y')
    assert red[1].startswith('n1 -> n2 [label="wake"')
    assert dot.count("subgraph cluster_") == 2
    with pytest.raises(ValueError, match="not a node or an edge"):
        to_dot(graph, highlight=[("step", 99)])


# -- against brute force ---------------------------------------------------------------------------
ACCESSES = (
    Access("Lock#1", "", "acquire"),
    Access("Lock#1", "", "release"),
    Access("Event#1", "", "release"),
    Access("Event#1", "", "acquire"),
    Access("S", "x", "read"),
    Access("S", "x", "write"),
    Access("S", "y", "write"),
)
LABELS = ("a", "b", "c")


#: One random step: which started task runs, how many new tasks it spawns, a bit mask of the
#: tasks it wakes, its notes (label, run) and its accesses. Decoded by ``traces`` below.
STEPS = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(0, 2),
        st.integers(0, 31),
        st.lists(
            st.tuples(st.sampled_from(LABELS), st.sampled_from([None, "r1", "r2"])), max_size=3
        ),
        st.lists(st.sampled_from(ACCESSES), max_size=3, unique=True),
    ),
    min_size=1,
    max_size=24,
)


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Random well-formed traces of up to 5 tasks: some start unspawned (independent roots, for
    concurrency), the others are spawned before they run; wake-ups go to tasks already started."""
    names = [f"t{i}" for i in range(5)]
    started = names[: draw(st.integers(1, 5))]
    specs, accesses = [], []
    for choice, spawns, mask, notes, touched in draw(STEPS):
        task = started[choice % len(started)]
        woke = [name for bit, name in enumerate(started) if mask >> bit & 1 and name != task]
        spawned = [name for name in names if name not in started][:spawns]
        started.extend(spawned)
        marked = ((label, {} if run is None else {"run": run}) for label, run in notes)
        specs.append(S(task, *marked, spawned=spawned, woke=woke))
        accesses.append(tuple(touched))
    trace = build(*specs)
    steps = tuple(
        attrs.evolve(step, accesses=touched)
        for step, touched in zip(trace.steps, accesses, strict=True)
    )
    return Trace(trace.tasks, steps)


class GraphOracle:
    """Reachability by brute force on the networkx graph, with the interface of Clocks."""

    def __init__(self, trace: Trace) -> None:
        graph = happens_before_graph(trace)
        self.reach = {node: nx.descendants(graph, node) for node in graph}

        self.trace = trace

    def step_before(self, a: int, b: int) -> bool:
        return step_node(b) in self.reach[step_node(a)]

    def vector(self, seq: int) -> tuple[int, ...]:
        """Per task, how many of its steps reach step ``seq`` or are it."""
        counts = [0] * len(self.trace.tasks)
        for step in self.trace.steps:
            if step.seq == seq or self.step_before(step.seq, seq):
                counts[step.task] += 1
        return tuple(counts)

    def concurrent(self, a: int, b: int) -> bool:
        return a != b and not self.step_before(a, b) and not self.step_before(b, a)

    def note_before(self, n: Note, m: Note) -> bool:
        return note_node(m) in self.reach[note_node(n)]


def brute_edge_statuses(trace: Trace, a: str, b: str, per: str | None) -> list[tuple[object, str]]:
    """The verdicts of ``a -> b`` from the definition, with ``nx.has_path`` for each pair."""
    graph = happens_before_graph(trace)
    groups: dict[object, dict[str, list[Note]]] = {}
    if per is None:
        groups[None] = {}
    for note in trace.notes:
        if note.label in (a, b) and (per is None or note.attr(per) is not None):
            groups.setdefault(note.attr(per) if per else None, {}).setdefault(
                note.label, []
            ).append(note)
    found = []
    for group, members in groups.items():
        firsts, seconds = members.get(a, []), members.get(b, [])
        if not firsts or not seconds:
            found.append((group, "missing"))
            continue
        pairs = [(x, y) for x in firsts for y in seconds]
        if any(nx.has_path(graph, note_node(y), note_node(x)) for x, y in pairs):
            found.append((group, "inverted"))
        elif all(nx.has_path(graph, note_node(x), note_node(y)) for x, y in pairs):
            found.append((group, "ordered"))
        else:
            found.append((group, "unordered"))
    return found


@settings(max_examples=300, deadline=None)
@given(traces())
def test_clocks_agree_with_reachability_in_the_graph(trace: Trace) -> None:
    graph = happens_before_graph(trace)
    clocks = Clocks.of(trace)
    for u, v in graph.edges:
        assert graph.nodes[u]["seq"] <= graph.nodes[v]["seq"], "edges never point backwards"
    reach = {node: nx.descendants(graph, node) for node in graph}
    for a in range(len(trace.steps)):
        for b in range(len(trace.steps)):
            forward, backward = (
                step_node(b) in reach[step_node(a)],
                step_node(a) in reach[step_node(b)],
            )
            assert clocks.step_before(a, b) == forward, (a, b)
            assert clocks.concurrent(a, b) == (a != b and not forward and not backward), (a, b)
    for n in trace.notes:
        for m in trace.notes:
            assert clocks.note_before(n, m) == (note_node(m) in reach[note_node(n)]), (n, m)


@settings(max_examples=300, deadline=None)
@given(traces(), st.sampled_from([None, "run"]))
def test_check_order_agrees_with_brute_force_verdicts(trace: Trace, per: str | None) -> None:
    edges = Order.edge("a", "b", per=per) | Order.edge("b", "c", per=per)
    expected = [("a -> b", g, s) for g, s in brute_edge_statuses(trace, "a", "b", per)]
    expected += [("b -> c", g, s) for g, s in brute_edge_statuses(trace, "b", "c", per)]
    assert statuses(trace, edges) == expected
    rules = Order.first("a", per=per) | Order.last("c", per=per) | Order.nested("a", "b", per=per)
    by_clocks = check_order(trace, rules)
    by_graph = check_order(trace, rules, GraphOracle(trace))  # type: ignore[arg-type]
    assert by_clocks == by_graph


def brute_races(trace: Trace) -> dict[tuple[object, ...], list[tuple[int, int, Access, Access]]]:
    """Every pair of steps of different tasks, unordered in the graph, whose tracked data accesses
    conflict, with the accesses that conflict (the later step's first, the earlier step's last
    one conflicting with it), grouped by key and sorted pair of the two steps' locations."""
    oracle = GraphOracle(trace)
    groups: dict[tuple[object, ...], list[tuple[int, int, Access, Access]]] = {}
    for y in trace.steps:
        for x in trace.steps[: y.seq]:
            if x.task == y.task or not oracle.concurrent(x.seq, y.seq):
                continue
            data_x = [a for a in x.accesses if a.kind in ("read", "write")]
            for key in dict.fromkeys(a.key for a in y.accesses if a.kind in ("read", "write")):
                pairs = [
                    (a, b)
                    for b in y.accesses
                    if b.key == key and b.kind in ("read", "write")
                    for a in reversed(data_x)
                    if a.key == key and "write" in (a.kind, b.kind)
                ]
                if pairs:
                    group = (key, *sorted((x.location, y.location)))
                    groups.setdefault(group, []).append((x.seq, y.seq, *pairs[0]))
    return groups


@settings(max_examples=300, deadline=None)
@given(
    traces(),
    st.lists(st.sampled_from(["s.py:1", "s.py:2", "exit"]), min_size=1, max_size=4),
    st.sampled_from([0, 4]),
)
def test_data_races_agree_with_brute_force_pairs(trace: Trace, sites: list[str], scan: int) -> None:
    trace = at(trace, *sites)
    expected = brute_races(trace)
    saved, hb._SCAN_PER_LANE = hb._SCAN_PER_LANE, scan  # 0: every group's first pairs by search
    try:
        races = data_races(trace)
    finally:
        hb._SCAN_PER_LANE = saved
    assert len(races) == len(expected)
    for race in races:
        ends = (trace.steps[race.first_step].location, trace.steps[race.second_step].location)
        pairs = sorted(expected[(race.first.key, *sorted(ends))])
        assert race.count == len(pairs)
        assert race.examples == tuple((x, y) for x, y, _, _ in pairs[:3])
        x, y, a, b = pairs[0]
        assert (race.first_step, race.second_step, race.first, race.second) == (x, y, a, b)
    witnesses = [(r.first_step, r.second_step, r.first.key) for r in races]
    assert witnesses == sorted(witnesses)
