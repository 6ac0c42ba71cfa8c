"""Health checks: the exploration tells the user when its verdict rests on less than it seems.

After Hypothesis's health checks: each one is loud (a :class:`HealthCheckWarning`, which pytest's
``-W error`` turns into a failure), says what was seen, why the verdict is weaker than it looks and
what to do, and can be silenced deliberately with ``suppress_health_check=[sim.HealthCheck.X]``.

- ``nothing_shared``: two or more model tasks ran, and no run saw two tasks touch one object with
  at least one of them changing it. Either
  the tasks really share nothing (then exploring them is pointless) or they share state racesim
  cannot see, and "clean" means nothing.
- ``unseen_code``: steps ran code racesim does not instrument. ``dpor`` treats them as dependent on
  every step that touched anything, so exhaustive stays true, but data races inside that code are
  not reported and reduction is lost: instrument the modules named.
- ``no_checkpoint``: every task ran to its end without reaching a checkpoint, so racesim could
  only reorder whole tasks: there was nothing to interleave.
- ``tiny_budget``: the budget stopped the exploration after a single schedule: nothing was compared.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._trace import Trace


_STRUCTURE = ("Nursery#", "CancelScope#")


class HealthCheck(enum.Enum):
    """The health checks an exploration runs; pass members to ``suppress_health_check``."""

    nothing_shared = "nothing_shared"
    unseen_code = "unseen_code"
    no_checkpoint = "no_checkpoint"
    tiny_budget = "tiny_budget"


class HealthCheckWarning(UserWarning):
    """An exploration's verdict rests on less than it seems (see :class:`HealthCheck`)."""


def _silence(check: HealthCheck) -> str:
    return f"silence it with suppress_health_check=[sim.HealthCheck.{check.value}]"


@attrs.define(eq=False)
class Watch:
    """Accumulates, run by run, what the health checks need."""

    steps: int = 0
    unseen: int = 0
    most_tasks: int = 0
    shared: bool = False
    #: every spawned task finished within its first step, in every run so far
    one_step_tasks: bool = True
    causes: dict[str, None] = attrs.Factory(dict)

    def observe(self, trace: Trace) -> None:
        self.steps += len(trace.steps)
        spawned = len(trace.tasks) - 1  # the scenario's root task only waits for its children
        self.most_tasks = max(self.most_tasks, spawned)
        touched: dict[tuple[str, str], tuple[int, bool]] = {}  # key -> (first task, written)
        for step in trace.steps:
            if step.unseen:
                self.unseen += 1
            if step.task != 0 and step.index > 0:
                self.one_step_tasks = False
            if self.shared:
                continue
            for access in step.accesses:
                if access.obj.startswith(_STRUCTURE):
                    continue  # every task enters and leaves its nursery: not shared state
                first, written = touched.get(access.key, (step.task, False))
                written = written or access.kind != "read"
                touched[access.key] = (first, written)
                if first != step.task and written:
                    self.shared = True
                    break
        for cause in trace.hidden:
            if len(self.causes) < 5:
                self.causes.setdefault(cause, None)

    def unseen_sentence(self) -> str:
        """One sentence on unseen steps ('' when every step was seen)."""
        if not self.unseen:
            return ""
        causes = ", ".join(self.causes) or "code outside the instrumented modules"
        return (
            f"{self.unseen} of {self.steps} steps ran code racesim cannot see ({causes}): they "
            "count as dependent on every step that touched shared state (less reduction, nothing "
            "missed) and races inside that code are not reported; instrument those modules "
            "(instrument=[...]) to get reduction and race reports back."
        )

    def findings(
        self, *, schedules: int, exhausted: bool, failed: bool, strategy: str
    ) -> list[tuple[HealthCheck, str]]:
        found: list[tuple[HealthCheck, str]] = []
        if self.most_tasks >= 2 and not self.shared and not self.unseen and not failed:
            check = HealthCheck.nothing_shared
            found.append(
                (
                    check,
                    f"{self.most_tasks} model tasks ran in {schedules} schedule(s), but no two of "
                    "them ever touched the same object with one of them changing it: if they "
                    "share state, racesim cannot see "
                    "it and 'clean' means nothing. Instrument the modules that hold the state "
                    "(instrument=['myapp']) or mark its classes with @sim.tracked; "
                    + _silence(check)
                    + ".",
                )
            )
        if self.unseen and not failed and strategy.startswith("dpor"):
            check = HealthCheck.unseen_code
            found.append((check, f"{self.unseen_sentence()} S{_silence(check)[1:]}."))
        if self.most_tasks >= 2 and self.one_step_tasks and not failed:
            check = HealthCheck.no_checkpoint
            found.append(
                (
                    check,
                    f"the scenario's {self.most_tasks} tasks each ran to its end without reaching "
                    "a checkpoint, so only whole tasks could be reordered: add the "
                    "`await` the real code would make (e.g. `await trio.sleep(0)`) where tasks "
                    f"can be preempted; {_silence(check)}.",
                )
            )
        if schedules <= 1 and not exhausted and not failed:
            check = HealthCheck.tiny_budget
            found.append(
                (
                    check,
                    f"the budget stopped the exploration after {schedules} schedule(s): nothing "
                    "was compared; raise max_schedules / time_budget; " + _silence(check) + ".",
                )
            )
        return found
