"""Optimal dynamic partial-order reduction: one execution per Mazurkiewicz trace.

Abdulla, Aronis, Jonsson and Sagonas, *Optimal dynamic partial order reduction*, POPL 2014
(Algorithm 2: wake-up trees and sleep sets). Interleavings that differ only in the order of
commuting steps (:mod:`._history` defines dependence over footprints) reach the same state, so one
per equivalence class suffices; ``dfs`` runs them all. After each execution, every reversible race
``e < e'`` is reversed by inserting ``v = notdep(e).e'`` into the wake-up tree (:mod:`._wakeup`) of
the state before ``e``, unless a task asleep there (explored from an equivalent state) is a weak
initial of ``v``. A state explores its tree's branches in order; an explored branch falls asleep,
and stays asleep below until a dependent step runs. No two executions are then equivalent, and
none ends with every enabled task asleep (``sleep_blocked`` counts those) — provided a step's
footprint does not change when a racing step is moved before it; when it does (a step that reads
and then decides what to write), some executions may be redundant, never missing.

Adaptations to this engine: a step's footprint is known only after it ran, so sleep entries and
tree branches carry the footprint their step had (the same step after commuting steps touches the
same keys); ``choose`` sees only decisions, so forced steps become positions whose enabled set is
the one task. A blocked acquire or wait is a *disabled* transition, not an event (Abdulla et al.;
Nidhugg): :mod:`.._primitives` moves the acquisition into the step that resumes after the handoff,
so release -> acquire is an ordering, never a race, and lock races are acquire-vs-acquire
(:mod:`._history`). Keys of sync objects are fixed when the object is made, so a footprint means
the same object in every execution.

``preemption_bound=k`` keeps executions with at most ``k`` preemptions. Reductions can need more
preemptions than the schedule they stand for, so, after Coons, Musuvathi and McKinley (*Bounded
partial-order reduction*, OOPSLA 2013), each race also adds a branch where the losing task was
switched to, and sleep sets are not inherited. With ``explore_time`` the clock advance is an event
dependent on every step (footprint ``None``), also when every task is blocked and it is forced
(``clock_advanced``): its races move it before the steps it overtook, and a decision where the
clock may advance tries every alternative, as a step that cancels a pending timer disables it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._history import CLOCK, Event, History, dependent, footprint_of
from ._protocol import BaseStrategy
from ._wakeup import Branch, insert, weak_initial

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._schedule import Schedule
    from .._trace import Recorder, Step, Trace
    from ._history import Footprint
    from ._protocol import Choice


@attrs.define(eq=False)
class _Node:
    event: Event
    tree: Branch  #: the wake-up tree of this state; its first child is the branch being explored
    sleep: dict[int, Footprint]  #: task -> footprint of its step explored from an equivalent state
    last: int | None  #: the task of the step before this position
    preemptions: int  #: preemptions before this position


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
        self.sleep_blocked = 0  #: states where every enabled task was asleep (0 when optimal)

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
            node = _Node(Event(CLOCK, enabled), Branch(CLOCK), {}, last, 0)
            if before is not None:
                node.tree = before.tree.children[0]
                switched = before.event.task != before.last and before.last in before.event.enabled
                node.preemptions = before.preemptions + switched
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
        awake = [task for task in enabled if task in allowed and task not in node.sleep]
        if not children:
            self.sleep_blocked += not awake
            children.append(Branch(last if last in awake else (awake or sorted(allowed))[0]))
        if CLOCK in enabled:
            children.extend(Branch(t) for t in awake if all(c.task != t for c in children))
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

    def clock_advanced(self, recorder: Recorder) -> None:
        """Every task is blocked and the clock advances (``explore_time``): a forced event that
        races with everything, so its reversals run the same advance while tasks are runnable."""
        steps = recorder.steps
        self._sync(steps)
        node = self._enter((CLOCK,), steps[-1].task if steps else None)
        node.event.footprint = node.tree.children[0].footprint = None

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
            initial = events[sequence[0]].task  # the first position is always an initial
            if self.preemption_bound is not None:
                self._bounded_reversal(events, i, initial)
            if initial not in self._allowed(node):
                continue  # not reversible after all (blocked by something the model cannot see)
            if any(weak_initial(history, t, f, sequence) for t, f in node.sleep.items()):
                continue
            insert(history, node.tree, sequence)

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
                    node.tree.children.append(Branch(task, None))
