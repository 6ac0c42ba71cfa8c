"""End-state properties of a workload run: what every user must have received, checked as data.

After the workload's nursery has closed, the scenario compares each run's ledger (what its agent
emitted, :class:`~system_under_test.runlog.RunLog`) with what each user's client received, and
turns every difference into one sentence that names the events, the runs and the users involved:

- **no cross-user delivery**: an event produced by user A's run and received by user B
  ("tool_executing of run u2-r0 (user u2) was delivered to user u1");
- **no mislabelled delivery**: an event received by its owner but stamped with another run;
- **no lost events**: every emitted event reaches its owner, with the reason it was dropped when
  it did not (queued-then-replayed events count as delivered);
- **exactly once, in order**: no duplicates; the owner receives a run's events in emission order;
- **a valid shape** per run (:func:`~system_under_test.events.shape_violations`);
- **wiring**: every session ends wired (legacy propagation can leave sessions without a bridge).

A scenario may assert a subset of these, named in :data:`PROPERTIES`: ``isolation`` (the first
two), ``delivery`` (lost, exactly once, in order, shape), ``wiring``, and ``happens_before`` (the
required HB order the workload returns for racesim to check). Focusing a scenario on one property
makes the explorer report the race that breaks *it*, not the shallowest of several.

Pure functions over plain data, no trio: the model's tests call them directly.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .events import shape_violations

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from .events import AgentEvent
    from .runlog import RunLog


#: The end-state properties a workload can assert, in the order their violations are listed.
PROPERTIES: tuple[str, ...] = ("isolation", "delivery", "wiring", "happens_before")


def _names(events: Iterable[AgentEvent]) -> str:
    return ", ".join(event.type for event in events)


def leak_violations(received: Mapping[str, Sequence[AgentEvent]]) -> list[str]:
    """Events delivered to a user who does not own their run, or stamped with another run."""
    problems: list[str] = []
    for user, events in received.items():
        leaked: dict[tuple[str, str], list[AgentEvent]] = {}
        stamped: dict[tuple[str, str], list[AgentEvent]] = {}
        for event in events:
            if event.origin_user != user:
                leaked.setdefault((event.origin_run, event.origin_user), []).append(event)
            elif event.run != event.origin_run:
                stamped.setdefault((event.origin_run, event.run), []).append(event)
        for (run, owner), group in leaked.items():
            problems.append(
                f"{_names(group)} of run {run} (user {owner}) delivered to user {user} "
                f"(stamped as run {group[0].run} of user {group[0].user})"
            )
        for (run, label), group in stamped.items():
            problems.append(
                f"{_names(group)} of run {run} (user {user}) delivered stamped as run {label}"
            )
    return problems


def run_violations(log: RunLog, received: Mapping[str, Sequence[AgentEvent]]) -> list[str]:
    """Lost, duplicated, reordered or misshapen deliveries of one run to its owner."""
    context = log.context
    who = f"run {context.run} (user {context.user})"
    mine = [event for event in received.get(context.user, ()) if event.origin_run == context.run]
    elsewhere = {
        event.seq: user
        for user, events in received.items()
        if user != context.user
        for event in events
        if event.origin_run == context.run
    }
    problems: list[str] = []
    counts: dict[int, int] = {}
    for event in mine:
        counts[event.seq] = counts.get(event.seq, 0) + 1
    lost = [event for event in log.events if event.seq not in counts]
    if lost:
        reasons = list(
            dict.fromkeys(
                log.drops.get(event.seq)
                or (
                    f"delivered to user {elsewhere[event.seq]} instead"
                    if event.seq in elsewhere
                    else ""
                )
                or "never reached a client"
                for event in lost
            )
        )
        line = f"{who}: {_names(lost)} emitted but never delivered (dropped: {'; '.join(reasons)})"
        if log.seen_at_creation:
            line += f"; at creation: {log.seen_at_creation}"
        problems.append(line)
    repeated = [event for event in log.events if counts.get(event.seq, 0) > 1]
    if repeated:
        problems.append(f"{who}: {_names(repeated)} delivered more than once")
    firsts = list({event.seq: event for event in reversed(mine)}.values())[::-1]
    for earlier, later in itertools.pairwise(firsts):
        if later.seq < earlier.seq:
            problems.append(
                f"{who}: {earlier.type} #{earlier.seq} delivered before {later.type} "
                f"#{later.seq}, which was emitted first"
            )
            break
    if mine or not lost:
        problems.extend(f"{who}: {shape}" for shape in shape_violations([e.type for e in mine]))
    return problems


def wiring_violations(
    unwired: Mapping[str, str],
    logs: Iterable[RunLog],
    received: Mapping[str, Sequence[AgentEvent]],
) -> list[str]:
    """Sessions that ended unwired, with the events their users' runs lost because of it."""
    problems = []
    for user, why in unwired.items():
        delivered: dict[str, set[int]] = {}
        for event in received.get(user, ()):
            delivered.setdefault(event.origin_run, set()).add(event.seq)
        lost = []
        for log in logs:
            if log.context.user != user:
                continue
            got = delivered.get(log.context.run, set())
            missing = [event for event in log.events if event.seq not in got]
            if missing:
                lost.append(f"run {log.context.run} lost {_names(missing)}")
        consequence = f" ({'; '.join(lost)})" if lost else ""
        problems.append(f"session {user} was never wired: {why}{consequence}")
    return problems


def delivery_violations(
    logs: Iterable[RunLog],
    received: Mapping[str, Sequence[AgentEvent]],
    unwired: Mapping[str, str] | None = None,
    properties: Iterable[str] = PROPERTIES,
) -> list[str]:
    """The end-state violations of a workload run for ``properties``, as sentences."""
    chosen = set(properties)
    logs = list(logs)
    problems = leak_violations(received) if "isolation" in chosen else []
    if "delivery" in chosen:
        for log in logs:
            problems.extend(run_violations(log, received))
    if "wiring" in chosen:
        problems.extend(wiring_violations(unwired or {}, logs, received))
    return problems
