"""The five agent events, the contexts that label them, and the shape every run must deliver.

An :class:`AgentEvent` carries two identities. ``run`` / ``user`` are what the *system* stamped on
it — what routing acts on, and what a buggy component can get wrong. ``origin_run`` /
``origin_user`` are the ground truth: the run whose agent actually produced it, fixed at emission
and never changed by the model. The harness judges deliveries against the ground truth, so a tool
event stamped with another user's context is seen for what it is: a leak.

:func:`shape_violations` is the per-run shape the seed report promises, as a pure function over a
delivered sequence of event types: ``agent_started`` first, ``agent_completed`` (or
``agent_failed``) last, ``agent_thinking`` any number of times, tool events nesting like brackets
with equal counts. Runs without tools or without thinking are valid shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence

AGENT_STARTED = "agent_started"
AGENT_THINKING = "agent_thinking"
TOOL_EXECUTING = "tool_executing"
TOOL_COMPLETED = "tool_completed"
AGENT_COMPLETED = "agent_completed"
AGENT_FAILED = "agent_failed"

#: The five critical events, in the order a run with one thinking step and one tool emits them.
CRITICAL_EVENTS: tuple[str, ...] = (
    AGENT_STARTED,
    AGENT_THINKING,
    TOOL_EXECUTING,
    TOOL_COMPLETED,
    AGENT_COMPLETED,
)
#: Events that close a run.
CLOSING_EVENTS: frozenset[str] = frozenset({AGENT_COMPLETED, AGENT_FAILED})


@attrs.frozen
class UserContext:
    """Who a request belongs to: user, conversation thread, and this run of an agent."""

    user: str
    thread: str
    run: str

    def describe(self) -> str:
        return f"run {self.run} (user {self.user})"


@attrs.frozen
class AgentEvent:
    """One event on its way to a client. ``seq`` numbers the events of ``origin_run`` from 0."""

    type: str
    run: str  #: the run the system stamped on the event (routing uses it)
    user: str  #: the user the system stamped on the event
    origin_run: str  #: the run whose agent produced it (ground truth)
    origin_user: str  #: the user who owns that run (ground truth)
    seq: int
    tool: str | None = None

    @classmethod
    def of(cls, type: str, context: UserContext, seq: int, tool: str | None = None) -> AgentEvent:
        """An event produced by ``context``'s run and stamped with that same context."""
        return cls(type, context.run, context.user, context.run, context.user, seq, tool)

    def stamped(self, context: UserContext) -> AgentEvent:
        """The same event stamped with another context (what a shared dispatcher does)."""
        return attrs.evolve(self, run=context.run, user=context.user)

    def describe(self) -> str:
        tool = f" {self.tool}" if self.tool else ""
        return f"{self.type}{tool} #{self.seq} of run {self.origin_run} (user {self.origin_user})"


def shape_violations(types: Sequence[str]) -> list[str]:
    """What is wrong with one run's delivered event types, as readable sentences ([] if valid)."""
    problems: list[str] = []
    if not types:
        return ["no event delivered"]
    if types[0] != AGENT_STARTED:
        problems.append(f"first event is {types[0]}, not {AGENT_STARTED}")
    if types[-1] not in CLOSING_EVENTS:
        problems.append(f"last event is {types[-1]}, not {AGENT_COMPLETED}")
    open_tools = 0
    for position, kind in enumerate(types):
        if kind == AGENT_STARTED and position != 0:
            problems.append(f"{AGENT_STARTED} repeated at position {position}")
        elif kind in CLOSING_EVENTS and position != len(types) - 1:
            problems.append(f"{kind} at position {position} is followed by more events")
        elif kind == TOOL_EXECUTING:
            open_tools += 1
        elif kind == TOOL_COMPLETED:
            if open_tools == 0:
                problems.append(
                    f"{TOOL_COMPLETED} at position {position} has no open {TOOL_EXECUTING}"
                )
            else:
                open_tools -= 1
    if open_tools:
        problems.append(f"{open_tools} {TOOL_EXECUTING} never followed by {TOOL_COMPLETED}")
    return problems
