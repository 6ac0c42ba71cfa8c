"""Wake-up trees (Abdulla et al., POPL 2014, section 6): the branches optimal DPOR owes a state.

A wake-up tree is an ordered tree of step sequences; a state explores its branches in order. A
sequence ``v`` is *covered* by a branch when the branch's steps are, in order, weak initials of
what remains of ``v``: the same task's first step in ``v`` with nothing in ``v`` before it that
it depends on, or a task absent from ``v`` whose step commutes with all of it. Inserting ``v``
walks down covering branches; if it reaches a leaf the tree already owes ``v`` (up to
equivalence), otherwise the rest of ``v`` becomes a new last branch there. Steps are identified by
task; the footprint a branch carries is that of the step it stood for when inserted (the
engine learns a step's footprint only by running it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._history import dependent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._history import Footprint, History


@attrs.define(eq=False)
class Branch:
    """A wake-up tree node: the step that leads to it (task, footprint) and its ordered children."""

    task: int
    footprint: Footprint = None
    children: list[Branch] = attrs.field(factory=list)


def weak_initial(history: History, task: int, foot: Footprint, sequence: Sequence[int]) -> bool:
    """``task``, whose next step touches ``foot``, can go first without reordering ``sequence``
    (positions of ``history``)."""
    events = history.events
    for k in sequence:
        if events[k].task == task:
            return history.is_initial(k, sequence)
    return not any(dependent(foot, events[k].footprint) for k in sequence)


def insert(history: History, tree: Branch, sequence: Sequence[int]) -> None:
    """Add ``sequence`` to ``tree`` unless a branch already covers it."""
    events = history.events
    remaining = list(sequence)
    while remaining:
        for child in tree.children:
            if weak_initial(history, child.task, child.footprint, remaining):
                if not child.children:
                    return
                own = next((k for k in remaining if events[k].task == child.task), None)
                remaining = [k for k in remaining if k != own]
                tree = child
                break
        else:
            for k in remaining:
                branch = Branch(events[k].task, events[k].footprint)
                tree.children.append(branch)
                tree = branch
            return
