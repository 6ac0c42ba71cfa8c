"""Required orders: construction, validation, description, and their verdicts on traces."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from sim._happens_before import check_order
from sim._order import Edge, First, Last, Order, OrderError
from sim._trace import Note, Step, TaskInfo, Trace

if TYPE_CHECKING:
    from sim._happens_before import Verdict


# -- building traces by hand -----------------------------------------------------------------------
def S(task: int, *notes: str, woke: tuple[int, ...] = (), run: str | None = "r1") -> dict[str, Any]:
    """A step of task ``task`` recording ``notes`` (all with ``run=run`` unless it is None)."""
    return {"task": task, "notes": notes, "woke": woke, "run": run}


def build(*steps: dict[str, Any]) -> Trace:
    """A trace of ``steps`` in this order; tasks ``0..n`` are named ``t0..tn``."""
    n_tasks = 1 + max(max(spec["task"], *spec["woke"], 0) for spec in steps)
    counts = [0] * n_tasks
    built = []
    for seq, spec in enumerate(steps):
        task = spec["task"]
        marks = () if spec["run"] is None else (("run", spec["run"]),)
        notes = tuple(
            Note(label, marks, task, seq, position, f"sut.py:{seq}")
            for position, label in enumerate(spec["notes"])
        )
        built.append(Step(seq, task, counts[task], f"sut.py:{seq}", woke=spec["woke"], notes=notes))
        counts[task] += 1
    tasks = tuple(TaskInfo(i, f"t{i}", None, None) for i in range(n_tasks))
    return Trace(tasks, tuple(built))


def verdicts(trace: Trace, order: Order) -> list[tuple[str, object, str]]:
    return [(v.rule, v.group, v.status) for v in check_order(trace, order)]


def only(trace: Trace, order: Order) -> Verdict:
    [verdict] = check_order(trace, order)
    return verdict


# -- values ----------------------------------------------------------------------------------------
def test_chain_is_the_edges_between_neighbours() -> None:
    assert Order.chain("a", "b", "c", per="run").rules == (
        Edge("a", "b", "run"),
        Edge("b", "c", "run"),
    )


def test_chain_with_optional_labels_adds_the_edges_that_skip_them() -> None:
    order = Order.chain("a", "b", "c", "d", optional=("b", "c"))
    assert [rule.describe() for rule in order.rules] == [
        "a -> b (optional: b)",
        "a -> c (when b absent) (optional: c)",
        "a -> d (when b, c absent)",
        "b -> c (optional: b, c)",
        "b -> d (when c absent) (optional: b)",
        "c -> d (optional: c)",
    ]


def test_orders_are_hashable_values_combined_with_or_without_repeats() -> None:
    left = Order.edge("a", "b", per="run")
    combined = left | Order.chain("a", "b", "c", per="run")
    assert combined == Order([Edge("a", "b", "run"), Edge("b", "c", "run")])
    assert hash(combined) == hash(Order([Edge("a", "b", "run"), Edge("b", "c", "run")]))
    assert len({combined, combined | left}) == 1
    assert combined.labels == ("a", "b", "c")


def test_order_accepts_tuples_rules_and_orders() -> None:
    order = Order([("a", "b"), ("b", "c", "run"), First(("a",)), Order.nested("x", "y")])
    assert order.describe() == "a -> b; b -> c per run; first a; nested x / y"


def test_describe_is_stable_text_as_written() -> None:
    order = (
        Order.first("agent_started", per="run")
        | Order.chain(
            "agent_started",
            "agent_thinking",
            "agent_completed",
            per="run",
            optional=["agent_thinking"],
        )
        | Order.nested("tool_executing", "tool_completed", per="run")
        | Order.last("agent_completed", "agent_failed", per="run")
    )
    assert order.describe() == (
        "first agent_started per run; "
        "agent_started -> agent_thinking per run (optional: agent_thinking); "
        "agent_started -> agent_completed (when agent_thinking absent) per run; "
        "agent_thinking -> agent_completed per run (optional: agent_thinking); "
        "nested tool_executing / tool_completed per run; "
        "last agent_completed | agent_failed per run"
    )


def test_describe_is_identical_across_processes_with_different_hash_seeds() -> None:
    code = (
        "from sim._order import Order;"
        "o = Order.first('s', 'z', per='run') | Order.last('e', 'f');"
        "print((o | Order.chain('s', 'b', 'c', 'd', optional={'b', 'c'})).describe())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_cyclic_order_is_rejected_naming_the_cycle() -> None:
    with pytest.raises(OrderError, match=r"cyclic: a -> b -> c -> a can never hold") as caught:
        Order.chain("a", "b", "c") | Order.edge("c", "a", per="run")
    assert "a -> b; b -> c; c -> a per run" in str(caught.value)


def test_first_rule_contradicting_an_edge_is_a_cycle() -> None:
    with pytest.raises(OrderError, match=r"cyclic: (a -> b -> a|b -> a -> b)"):
        Order.first("a") | Order.edge("b", "a")


def test_self_edge_is_a_cycle() -> None:
    with pytest.raises(OrderError, match="cyclic: a -> a"):
        Order.edge("a", "a")


def test_malformed_orders_say_what_to_pass_instead() -> None:
    with pytest.raises(OrderError, match="at least two labels"):
        Order.chain("a")
    with pytest.raises(OrderError, match="not in the chain"):
        Order.chain("a", "b", optional=["c"])
    with pytest.raises(OrderError, match=r"pass Order values, rules"):
        Order(["a -> b"])  # type: ignore[list-item]
    with pytest.raises(OrderError, match="non-empty strings"):
        Order.edge("", "b")


def test_rule_labels_are_stored_as_tuples_so_rules_stay_hashable() -> None:
    assert Last(["z", "y"]).labels == ("z", "y")
    assert Edge("a", "b", optional=["b"]).optional == ("b",)
    assert len({Order([Last(["z"])]), Order([Last(("z",))])}) == 1


# -- edges and chains ------------------------------------------------------------------------------
def test_chain_with_an_absent_optional_label_requires_its_neighbours_in_order() -> None:
    order = Order.chain("a", "b", "c", per="run", optional=["b"])
    assert verdicts(build(S(0, "a"), S(0, "c")), order) == [
        ("a -> c (when b absent)", "r1", "ordered")
    ]
    assert verdicts(build(S(0, "a"), S(1, "c")), order) == [
        ("a -> c (when b absent)", "r1", "unordered")
    ]
    assert verdicts(build(S(0, "a")), order) == [("a -> c (when b absent)", "r1", "missing")]


def test_chain_with_a_present_optional_label_checks_the_edges_through_it() -> None:
    order = Order.chain("a", "b", "c", per="run", optional=["b"])
    assert verdicts(build(S(0, "a", "b"), S(1, "c")), order) == [
        ("a -> b", "r1", "ordered"),
        ("b -> c", "r1", "unordered"),
    ]


def test_optional_endpoint_may_be_absent_but_not_its_required_partner() -> None:
    order = Order.chain("a", "b", per="run", optional=["b"])
    assert verdicts(build(S(0, "a")), order) == []
    assert verdicts(build(S(0, "b")), order) == [("a -> b", "r1", "missing")]


def test_groups_match_only_notes_with_equal_attribute_values() -> None:
    trace = build(
        S(0, "b", run="r2"), S(1, "a", run="r1"), S(1, "b", run="r1"), S(0, "a", run="r2")
    )
    assert verdicts(trace, Order.edge("a", "b", per="run")) == [
        ("a -> b", "r2", "inverted"),
        ("a -> b", "r1", "ordered"),
    ]
    assert verdicts(trace, Order.edge("a", "b")) == [("a -> b", None, "inverted")]


def test_notes_lacking_the_group_attribute_are_ignored() -> None:
    trace = build(S(0, "a"), S(1, "b", run=None), S(0, "b"))
    assert verdicts(trace, Order.edge("a", "b", per="run")) == [("a -> b", "r1", "ordered")]
    assert verdicts(trace, Order.edge("a", "b", per="user")) == []


def test_groups_with_equal_looking_values_of_different_types_stay_apart() -> None:
    trace = build(S(0, "a", run=None), S(0, "b", run=None))
    steps = tuple(
        Step(
            s.seq,
            s.task,
            s.index,
            s.location,
            notes=(Note(n.label, (("run", v),), 0, s.seq, 0, "x:1"),),
        )
        for s, n, v in zip(trace.steps, trace.notes, (1, True), strict=True)
    )
    found = verdicts(Trace(trace.tasks, steps), Order.edge("a", "b", per="run"))
    assert found == [("a -> b", 1, "missing"), ("a -> b", True, "missing")]


# -- first and last --------------------------------------------------------------------------------
def test_first_label_is_ordered_before_every_other_label_of_its_group() -> None:
    order = Order.first("start", per="run") | Order.chain("think", "done", per="run")
    trace = build(S(0, "start", woke=(1,)), S(1, "think"), S(1, "done"))
    assert verdicts(trace, order) == [
        ("first start", "r1", "ordered"),
        ("think -> done", "r1", "ordered"),
    ]


def test_first_label_after_another_label_is_inverted() -> None:
    order = Order.first("start", per="run") | Order.edge("think", "done", per="run")
    verdict = check_order(build(S(0, "think", "start", "done")), order)[0]
    assert (verdict.status, verdict.before, verdict.after) == ("inverted", "start", "think")
    assert (
        "think (run=r1) at sut.py:0 happened before start (run=r1) at sut.py:0"
        in verdict.explanation
    )


def test_first_label_concurrent_with_another_is_unordered_and_missing_when_absent() -> None:
    order = Order.first("start", per="run") | Order.edge("think", "done", per="run")
    assert (
        only(build(S(0, "start"), S(1, "think", "done")), Order.first("start", per="run")).status
        == "ordered"
    )
    assert verdicts(build(S(0, "start"), S(1, "think", "done")), order)[0][2] == "unordered"
    lost = check_order(build(S(0, "think", "done")), order)[0]
    assert (lost.status, lost.before, lost.first) == ("missing", "start", None)
    assert lost.explanation.startswith(
        "start never happened in run=r1, although think (run=r1) did"
    )


def test_last_accepts_alternative_closing_labels() -> None:
    order = Order.chain("start", "think", per="run") | Order.last("completed", "failed", per="run")
    done = build(S(0, "start", "think", "completed"), S(0, "start", "failed", run="r2"))
    assert verdicts(done, order) == [
        ("start -> think", "r1", "ordered"),
        ("start -> think", "r2", "missing"),
        ("last completed | failed", "r1", "ordered"),
        ("last completed | failed", "r2", "ordered"),
    ]
    late = build(S(0, "start", "completed"), S(0, "think"))
    assert verdicts(late, order)[-1] == ("last completed | failed", "r1", "inverted")
    never = build(S(0, "start", "think"))
    assert verdicts(never, order)[-1] == ("last completed | failed", "r1", "missing")


def test_first_without_per_is_missing_in_an_empty_run() -> None:
    assert verdicts(build(S(0)), Order.first("start")) == [("first start", None, "missing")]


# -- nesting ---------------------------------------------------------------------------------------
NEST = Order.nested("open", "close", per="run")


def test_nested_closes_each_match_their_own_earlier_open() -> None:
    trace = build(S(0, "open", "open", "close"), S(0, "close"))
    verdict = only(trace, NEST)
    assert verdict.status == "ordered"
    assert verdict.explanation == "each of the 2 close in run=r1 follows its own open"


def test_nested_close_without_an_open_is_missing_an_open() -> None:
    verdict = only(build(S(0, "open", "close", "close")), NEST)
    assert (verdict.status, verdict.second) == (
        "missing",
        build(S(0, "open", "close", "close")).notes[2],
    )
    assert (
        "an unmatched open before it never happened in run=r1 (1 open, 2 close)"
        in verdict.explanation
    )


def test_nested_open_without_a_close_is_missing_a_close() -> None:
    verdict = only(build(S(0, "open", "open", "close")), NEST)
    assert (verdict.status, verdict.first) == (
        "missing",
        build(S(0, "open", "open", "close")).notes[0],
    )
    assert verdict.explanation.startswith(
        "a close for it never happened in run=r1 (2 open, 1 close)"
    )
    assert verdict.describe().startswith("missing: nested open / close [run=r1]: a close for it")


def test_nested_close_before_its_open_is_inverted_and_concurrent_is_unordered() -> None:
    assert only(build(S(0, "close", "open")), NEST).status == "inverted"
    assert only(build(S(0, "open"), S(1, "close")), NEST).status == "unordered"


def test_nested_matching_is_maximum_not_greedy() -> None:
    # open0 -> close0, open1 -> close0, open1 -> close1; a greedy "latest open" match of close0
    # would take open1 and leave close1 without one.
    trace = build(
        S(0, "open", woke=(2,)),
        S(1, "open", woke=(2, 3)),
        S(2, "close"),
        S(3, "close"),
    )
    assert only(trace, NEST).status == "ordered"


def test_nested_without_notes_holds_without_per() -> None:
    assert verdicts(build(S(0)), Order.nested("open", "close")) == [
        ("nested open / close", None, "ordered")
    ]
