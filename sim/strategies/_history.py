"""Dependence and happens-before of one execution as the partial-order strategies see it.

Mazurkiewicz trace theory (Mazurkiewicz 1987; Godefroid 1996) needs one relation: which pairs of
events do *not* commute. Here an event is a model task's step and its footprint is what the recorder
saw it touch. Two events are dependent when they touch the same key and one of them changes it
(:meth:`Access.conflicts_with`: trio sync operations count as changes). One exception, shared with
the happens-before checker: sibling tasks' exits from a nursery commute with each other (each only
leaves the nursery), so a child exit counts as a read of its nursery here. Steps with empty
footprints commute with everything. A step that ran code racesim does not see (``Step.unseen``) is
dependent on every step that touched anything (the ``UNSEEN`` key). A step that cancels a scope (or whose task failed, which
cancels its nursery) is dependent on every step: the checkpoints that notice are not in footprints.
The virtual clock advancing (``explore_time``) is an event of its own with footprint ``None``,
dependent on everything (it races like a step that cancelled a scope).

Sync objects (:data:`HANDOFF`) follow the semantics optimal DPOR is proved under (Abdulla et al.
2014; Nidhugg): a blocked acquire is not an event, the acquisition is recorded in the step that
resumes. An ``acquire`` after another task's ``release`` of the same object is then a *handoff*:
ordered, never a reversible race (the acquire could not have gone first) — unless the two steps
also conflict elsewhere (the acquiring step read what the releasing one wrote before it reached
the lock: that part could have gone first, and reversing it is the execution where the acquire
blocks). The race of a lock is acquire-vs-acquire: each acquire is checked against the previous
acquire of the object with the path through the release left out, and reversing it lets the
other task take the object first. Semaphores and
limiters record taking one of several free units as a plain ``write`` (it could have gone before
the release), and a blocking call under a deadline records no handoff (it may time out instead).
Kept conservative: Condition waiters' registration and notify are writes of the Condition; user
code parking on a ``ParkingLot`` directly records acquire / release on the lot, as before.

The happens-before relation of an execution is the transitive closure of program order, the order
of dependent events, and edges that are not races because they cannot be reversed: spawn (the
spawning step -> the child's first step), wake-up (the waking step -> the woken task's next step),
join (every child exit -> the parent's step after its nursery block) and *barrier*: a task that was
blocked and became runnable without a recorded wake-up was woken by the clock, which moves only
when every model task is blocked, so its next step happens after everything before that point.
:class:`History` keeps vector clocks of that relation (O(1) queries) and lists the *reversible
races*: dependent events of different tasks ordered only by their own conflict, not by any other
path and not by an edge that cannot be reversed — exactly the pairs DPOR must try both ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._happens_before import is_child_exit

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import TypeAlias

    from .._trace import Step

    #: What an event touches: ``(object, attribute) -> writes``; ``None`` for the clock.
    Footprint: TypeAlias = Mapping[tuple[str, str], bool] | None

CLOCK = -1  #: the task id of "advance the virtual clock" in :class:`Choice.candidates`


#: The key of a step that cancelled a scope: every checkpoint inside it could notice, and those
#: reads are not recorded, so such a step is dependent on every other.
EVERYTHING = ("*", "")


#: The key of code racesim cannot see: written by every unseen step, read by every step that
#: touched anything, so an unseen step is dependent on each of those and on every other unseen step.
UNSEEN = ("?", "")

#: Objects whose ``acquire`` after another task's ``release`` is a handoff, never a race: a
#: blocked acquire is not an event, so the acquire could not have come first.
HANDOFF = (
    "Lock#",
    "StrictFIFOLock#",
    "Semaphore#",
    "CapacityLimiter#",
    "Event#",
    "MemoryChannelState#",
)


def footprint_of(step: Step) -> dict[tuple[str, str], bool]:
    """The footprint of a finished step (see the module docstring for child exits and unseen
    steps)."""
    touched: dict[tuple[str, str], bool] = {}
    for access in step.accesses:
        writes = (
            access.kind != "read"
            and not is_child_exit(step, access)
            and not (
                access.kind == "acquire" and not access.attr and access.obj.startswith("Event#")
            )
        )
        touched[access.key] = touched.get(access.key, False) or writes
        if access.kind == "release" and access.obj.startswith("CancelScope#"):
            touched[EVERYTHING] = True
    if step.unseen:
        touched[UNSEEN] = True
    elif touched:
        touched[UNSEEN] = False
    return touched


def dependent(a: Footprint, b: Footprint) -> bool:
    """The two events do not commute."""
    if a is None or b is None or EVERYTHING in a or EVERYTHING in b:
        return True
    if len(a) > len(b):
        a, b = b, a
    for key, writes in a.items():
        other = b.get(key)
        if other is not None and (writes or other):
            return True
    return False


@attrs.define(eq=False)
class Event:
    """One position of an execution: who ran, who could have, and what the step touched."""

    task: int
    enabled: tuple[int, ...]
    footprint: Footprint = attrs.field(factory=dict)
    step: Step | None = None


def _taken(step: Step) -> list[tuple[str, str]]:
    """The handoff objects ``step`` acquired (an Event's wait takes nothing from other waiters,
    so it joins the release -> acquire rule but not the acquire-vs-acquire race)."""
    return [
        a.key
        for a in step.accesses
        if a.kind == "acquire" and not a.attr and a.obj.startswith(HANDOFF)
    ]


def _claimed(step: Step) -> list[tuple[str, str]]:
    """The handoff objects ``step`` took a unit of: an acquire, or a write that takes without a
    handoff (a timed acquire, a Semaphore unit among several free) — a later acquire of the same
    object races with either."""
    return [
        a.key
        for a in step.accesses
        if a.kind in ("acquire", "write")
        and not a.attr
        and a.obj.startswith(HANDOFF)
        and not a.obj.startswith("Event#")
    ]


def _conflict_beyond(a: Footprint, b: Footprint, keys: Sequence[tuple[str, str]]) -> bool:
    """``a`` and ``b`` also conflict on a key outside ``keys``: a step that read shared state and
    then took a lock can have done the read before the release, so that pair stays a race."""
    if a is None or b is None:
        return True
    return any(key not in keys and key in b and (writes or b[key]) for key, writes in a.items())


class History:
    """Vector clocks and reversible races of a sequence of events (see the module docstring)."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        width = max((e.task for e in events), default=0) + 2  # the clock is the last component
        self._slot = [e.task if e.task != CLOCK else width - 1 for e in events]
        self._index: list[int] = []
        self.clocks: list[list[int]] = []
        self.races: list[tuple[int, int]] = []
        counts = [0] * width
        last: dict[int, int] = {}
        wakers: dict[int, list[int]] = {}
        joining: dict[int, tuple[str, int]] = {}
        exits: dict[str, list[int]] = {}
        writer: dict[tuple[str, str], int] = {}
        released: dict[tuple[str, str], int] = {}  # handoff key -> the last step releasing it
        acquired: dict[tuple[str, str], int] = {}  # handoff key -> the last step taking it
        readers: dict[tuple[str, str], list[int]] = {}
        alive: set[int] = {events[0].task} if events else set()
        blocked: dict[int, int] = {}  # task -> last position where it was alive but not enabled
        peak = [0] * width  # component-wise max of every clock so far
        peaks: list[list[int]] = []
        cancelled: int | None = None  # the last step that cancelled a scope
        for j, event in enumerate(events):
            task, step = event.task, event.step
            for other in alive.difference(event.enabled):
                blocked[other] = j
            fixed = [last[task]] if task in last else []  # edges that are never races
            fixed += wakers.pop(task, [])
            joined = joining.pop(task, None)
            if joined is not None:
                fixed += [e for e in exits.get(joined[0], ()) if e > joined[1]]
            barrier = blocked.pop(task, None)
            if barrier is not None and barrier in fixed:
                barrier = None
            conflicts: set[int] = set()
            if cancelled is not None:
                conflicts.add(cancelled)
            if event.footprint is None or EVERYTHING in event.footprint:
                conflicts.update(p for t, p in last.items() if t != task)
                cancelled = j
            handoffs: set[int] = set()
            contenders: set[int] = set()
            takes = _taken(step) if step is not None else ()
            for key in takes:
                giver = released.get(key)
                if (
                    giver is not None
                    and giver == writer.get(key)
                    and events[giver].task != task
                    and not _conflict_beyond(events[giver].footprint, event.footprint, takes)
                ):
                    handoffs.add(giver)  # release -> acquire: ordered, never a race
                rival = acquired.get(key)
                if rival is not None and events[rival].task != task and key[0][:6] != "Event#":
                    contenders.add(rival)  # acquire vs acquire: the lock race
            fixed += handoffs
            for key, writes in (event.footprint or {}).items():
                if key in writer and writer[key] not in handoffs:
                    conflicts.add(writer[key])
                if writes:
                    conflicts.update(readers.get(key, ()))
                    writer[key] = j
                    readers[key] = []
                else:
                    readers.setdefault(key, []).append(j)
            clock = list(peaks[barrier]) if barrier is not None else [0] * width
            for p in (*fixed, *conflicts):
                clock = list(map(max, clock, self.clocks[p]))
            self._index.append(counts[self._slot[j]])
            counts[self._slot[j]] += 1
            clock[self._slot[j]] = counts[self._slot[j]]
            self.clocks.append(clock)
            peak = list(map(max, peak, clock))
            peaks.append(peak)
            for i in sorted(conflicts):
                if events[i].task == task or i in fixed:
                    continue
                others = [p for p in (*fixed, *conflicts) if p != i]
                if barrier is not None and peaks[barrier][self._slot[i]] > self._index[i]:
                    continue
                if not any(self.before(i, p) for p in others):
                    self.races.append((i, j))
            givers = {released[key] for key in takes if key in released}
            for i in sorted(contenders - conflicts):
                others = [p for p in (*fixed, *conflicts) if p != i and p not in givers]
                if barrier is not None and peaks[barrier][self._slot[i]] > self._index[i]:
                    continue
                if not any(self.before(i, p) for p in others):
                    self.races.append((i, j))
            for key in _claimed(step) if step is not None else ():
                acquired[key] = j  # later acquires contend with this one (the lock race)
            if task != CLOCK:
                last[task] = j
            if step is not None:
                for child in step.spawned:
                    wakers.setdefault(child, []).append(j)
                    alive.add(child)
                for woken in step.woke:
                    wakers.setdefault(woken, []).append(j)
                for access in step.accesses:
                    if (
                        access.kind == "release"
                        and not access.attr
                        and access.obj.startswith(HANDOFF)
                    ):
                        released[access.key] = j
                    if is_child_exit(step, access):
                        exits.setdefault(access.obj, []).append(j)
                    elif access.kind == "acquire" and access.obj.startswith("Nursery#"):
                        joining[task] = (access.obj, j)
                if step.location == "exit":
                    alive.discard(task)

    def before(self, i: int, j: int) -> bool:
        """Event ``i`` happens before (or is) event ``j``."""
        return i == j or self.clocks[j][self._slot[i]] > self._index[i]

    def not_after(self, i: int) -> list[int]:
        """``notdep(e, E)``: the positions after ``i`` that do not happen after it, in order."""
        return [k for k in range(i + 1, len(self.events)) if not self.before(i, k)]

    def is_initial(self, k: int, positions: Iterable[int]) -> bool:
        """Nothing else among ``positions`` (ascending) happens before ``k``: only the positions
        before ``k`` can, so the scan stops at ``k``."""
        for p in positions:
            if p == k:
                return True
            if self.before(p, k):
                return False
        return True
