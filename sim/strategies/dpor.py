"""Optimal dynamic partial-order reduction: one execution per Mazurkiewicz trace.

Abdulla, Aronis, Jonsson and Sagonas, *Optimal dynamic partial order reduction*, POPL 2014
(Algorithm 2, "optimal-DPOR" with wake-up trees and sleep sets). Two interleavings that differ only
in the order of commuting steps (see :mod:`._history` for the dependence relation over footprints)
reach the same state, so exploring one per equivalence class is enough; ``dfs`` explores them all.
After each execution every *reversible race* ``e < e'`` (dependent steps of different tasks that
nothing else orders) is reversed by scheduling ``v = notdep(e).e'`` from the state before ``e``:
``v`` is inserted into that state's *wake-up tree* unless a task in the state's *sleep set* (a
branch already explored from an equivalent state) is a weak initial of ``v``. A node explores the
branches of its wake-up tree in order; an explored branch goes to sleep, and stays asleep in the
states below until a step dependent on it runs. The result is optimal: no two executions are
equivalent and none is blocked by its sleep set (checked in ``tests/quality``).

Facts of this engine the algorithm adapts to: a step's footprint is known only after it ran, so
sleep-set entries and wake-up tree nodes carry the footprint their step had when it ran (the same
step from an equivalent state touches the same keys); ``choose`` is called only when two or more
tasks can run, so forced steps are recorded as positions whose enabled set is the one task; and a
blocked task is not enabled, its blocking acquire is in the step before it blocked, which is how
reversing that acquire with the waker's release explores "the wait found it already set".

``preemption_bound=k`` keeps only executions with at most ``k`` preemptions, adding Coons, Musuvathi
and McKinley's conservative branch (*Bounded partial-order reduction*, OOPSLA 2013) at the point
where the racing task was scheduled, and drops sleep-set inheritance, which is unsound under a
bound. With ``explore_time`` a decision where the clock may advance explores every alternative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._history import CLOCK, Event, History, dependent, footprint_of
from ._protocol import BaseStrategy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._schedule import Schedule
    from .._trace import Step, Trace
    from ._history import Footprint
    from ._protocol import Choice


@attrs.define(eq=False)
class _Branch:
    """A wake-up tree node: the step that leads to it (task, footprint) and its ordered children."""

    task: int
    footprint: Footprint = None
    children: list[_Branch] = attrs.field(factory=list)


@attrs.define(eq=False)
class _Node:
    event: Event
    tree: _Branch  #: the wake-up tree of this state; its first child is the branch being explored
    sleep: dict[int, Footprint]  #: task -> footprint of its step explored from an equivalent state
    last: int | None  #: the task of the step before this position
    preemptions: int  #: preemptions before this position

    @property
    def preempts(self) -> bool:
        return self.event.task != self.last and self.last in self.event.enabled


class DporStrategy(BaseStrategy):
    name = "dpor"
    exhaustive = True

    def __init__(self, preemption_bound: int | None = None) -> None:
        if preemption_bound is not None and preemption_bound < 0:
            raise ValueError("preemption_bound must be >= 0 (or None for no bound)")
        self.preemption_bound = preemption_bound
        self._nodes: list[_Node] = []
        self._branch = 0  #: the position where this execution leaves the previous one
        self._position = 0
        self._synced = 0
        self._pending: _Node | None = None  #: chose a task whose step has not finished yet
        self._started = False
        self.exhausted = False
        self.sleep_blocked = 0  #: executions where every enabled task was asleep (0 when optimal)

    def describe(self) -> str:
        if self.preemption_bound is None:
            return "dpor (optimal: wake-up trees + sleep sets)"
        return f"dpor (preemption bound {self.preemption_bound})"

    # -- the exploration tree ------------------------------------------------------------------
    def new_execution(self) -> bool:
        if self._started:
            while self._nodes:
                node = self._nodes[-1]
                node.tree.children.pop(0)
                node.sleep[node.event.task] = node.event.footprint
                allowed = self._allowed(node)
                node.tree.children[:] = [c for c in node.tree.children if c.task in allowed]
                if node.tree.children:
                    break
                self._nodes.pop()
            if not self._nodes:
                self.exhausted = True
                return False
        self._started = True
        self._branch = len(self._nodes) - 1 if self._nodes else 0
        self._position = self._synced = 0
        self._pending = None
        return True

    def _enter(self, enabled: tuple[int, ...], last: int | None) -> _Node:
        """The node at the current position, choosing its event unless it replays a prefix."""
        position = self._position
        self._position += 1
        if position < self._branch:
            node = self._nodes[position]
            if node.event.task not in enabled:
                raise RuntimeError(
                    "internal error in racesim - please report: the scenario is not deterministic "
                    f"(at position {position} task {node.event.task} is no longer runnable)"
                )
            return node
        bound = self.preemption_bound
        if position < len(self._nodes):
            node = self._nodes[position]
        else:
            before = self._nodes[-1] if self._nodes else None
            node = _Node(Event(CLOCK, enabled), _Branch(CLOCK), {}, last, 0)
            if before is not None:
                node.tree = before.tree.children[0]
                node.preemptions = before.preemptions + before.preempts
                if bound is None:  # sleep sets are unsound under a preemption bound
                    node.sleep = {
                        task: foot
                        for task, foot in before.sleep.items()
                        if task != before.event.task and not dependent(foot, before.event.footprint)
                    }
            self._nodes.append(node)
        node.event.enabled = enabled
        allowed = self._allowed(node)
        children = node.tree.children
        while children and children[0].task not in allowed:
            children.pop(0)  # a reversal this state cannot take, or the bound forbids
        if not children:
            awake = [task for task in enabled if task in allowed and task not in node.sleep]
            if not awake:
                self.sleep_blocked += 1
                awake = sorted(allowed)
            first = last if last in awake else awake[0]
            children.append(_Branch(first))
            if CLOCK in enabled:  # timing is not in the footprints: try every alternative
                children.extend(_Branch(task) for task in awake if task != first)
        node.event = Event(children[0].task, enabled)
        return node

    def _allowed(self, node: _Node) -> set[int]:
        """The tasks the node may run: all enabled ones, or only the last one at the bound."""
        bound, last = self.preemption_bound, node.last
        if bound is not None and last in node.event.enabled and node.preemptions >= bound:
            return {last}
        return set(node.event.enabled)

    # -- the strategy protocol ---------------------------------------------------------------------
    def _sync(self, steps: Sequence[Step]) -> None:
        for seq in range(self._synced, len(steps)):
            step = steps[seq]
            self._synced += 1
            node = self._pending
            if node is None:
                node = self._enter((step.task,), steps[seq - 1].task if seq else None)
            self._pending = None
            if node.event.task != step.task:
                raise RuntimeError(
                    "internal error in racesim - please report: dpor expected a step of task "
                    f"{node.event.task}, but task {step.task} ran"
                )
            node.event.footprint = node.tree.children[0].footprint = footprint_of(step)
            node.event.step = step

    def choose(self, choice: Choice) -> int:
        steps = choice.recorder.steps
        self._sync(steps)
        node = self._enter(choice.candidates, steps[-1].task if steps else None)
        if node.event.task == CLOCK:
            node.event.footprint = node.tree.children[0].footprint = None
        else:
            self._pending = node
        return choice.candidates.index(node.event.task)

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        self._sync(trace.steps)
        if self._pending is not None:  # the run stopped before the chosen step ran (step budget)
            self._position -= 1
            self._pending = None
        del self._nodes[self._position :]
        self._reverse_races(History([node.event for node in self._nodes]))

    # -- race reversal -----------------------------------------------------------------------------
    def _reverse_races(self, history: History) -> None:
        events = history.events
        for i, j in history.races:
            node = self._nodes[i]
            sequence = [*history.not_after(i), j]
            initial = events[next(k for k in sequence if history.is_initial(k, sequence))].task
            if self.preemption_bound is not None:
                self._bounded_reversal(events, i, initial)
            if initial not in self._allowed(node):
                continue  # not reversible after all (blocked by something the model cannot see)
            if any(_weak_initial(history, t, f, sequence) for t, f in node.sleep.items()):
                continue
            _insert(history, node.tree, sequence)

    def _bounded_reversal(self, events: Sequence[Event], i: int, initial: int) -> None:
        """Coons et al.'s branches: the racing task, or every allowed task where it cannot go,
        both before the race and where the task that lost the race was last switched to."""
        start = i
        while start > 0 and events[start - 1].task == events[i].task:
            start -= 1
        for node in [self._nodes[i]] if start == i else [self._nodes[i], self._nodes[start]]:
            allowed = self._allowed(node)
            for task in [initial] if initial in allowed else sorted(allowed):
                if task not in node.sleep and all(c.task != task for c in node.tree.children):
                    node.tree.children.append(_Branch(task, None))


def _weak_initial(history: History, task: int, foot: Footprint, sequence: Sequence[int]) -> bool:
    """``task``, whose next step touches ``foot``, can go first without reordering ``sequence``."""
    events = history.events
    for k in sequence:
        if events[k].task == task:
            return history.is_initial(k, sequence)
    return not any(dependent(foot, events[k].footprint) for k in sequence)


def _insert(history: History, tree: _Branch, sequence: list[int]) -> None:
    """Add ``sequence`` to the wake-up tree unless a branch already starts with an equivalent one."""
    events = history.events
    sequence = list(sequence)
    while sequence:
        for child in tree.children:
            if _weak_initial(history, child.task, child.footprint, sequence):
                if not child.children:
                    return
                sequence = [k for k in sequence if k != _first_of(events, child.task, sequence)]
                tree = child
                break
        else:
            for k in sequence:
                branch = _Branch(events[k].task, events[k].footprint)
                tree.children.append(branch)
                tree = branch
            return


def _first_of(events: Sequence[Event], task: int, sequence: Sequence[int]) -> int | None:
    return next((k for k in sequence if events[k].task == task), None)
