r"""Replay: follow a recorded schedule — exactly (``rs1``), or by what it meant (``rs2``).

Replay is just another strategy (shuttle's ``ReplayScheduler``). :class:`ReplayStrategy` follows
the recorded indices and checks that the recorded task is runnable at each; if the code under test
changed so that it is not, it raises :class:`ReplayDivergence` naming the decision, the expected
task and what was runnable instead. A run that needs more decisions than recorded, or ends before
using them all, diverges too. With ``strict=False`` (used by the shrinker) it follows the recorded
indices while they fit and then keeps running the task that ran last, never raising.

:class:`AnchoringReplay` is an exact replay that also notes where each runnable task waited, so a
failing schedule can be sealed into an ``rs2`` token whose decisions carry their sites.

:class:`IntentReplay` follows an ``rs2`` schedule through changes to the code: a decision is
"run this task, waiting at this site" (a site is matched by file, function and the text of the
line, so moved lines still match). It catches a task up through new ``await``\ s, lets a task
whose step gained a stop keep running (a step that was atomic stays atomic), drops decisions a
task has already passed, lets later decisions go first while a task cannot run (a fix made it
wait), and records every such drift in one sentence; :mod:`sim._drift` turns the counts into
one of four endings. The matching is greedy and local, never a search: its result is a
schedule that means what the recording meant wherever the code still allows it, and the numbers
say how far that was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._schedule import EXIT, label_key
from ._protocol import BaseStrategy

if TYPE_CHECKING:
    from .._schedule import Schedule, Site
    from .._trace import Trace
    from ._protocol import Choice


class ReplayDivergence(Exception):
    """The scenario no longer follows the recorded schedule (its code changed)."""


class ReplayStrategy(BaseStrategy):
    name = "replay"

    def __init__(self, schedule: Schedule, *, strict: bool = True) -> None:
        self.schedule = schedule
        self.strict = strict
        self._position = 0
        self._done = False

    def new_execution(self) -> bool:
        if self._done:
            return False
        self._done = True
        self._position = 0
        return True

    def choose(self, choice: Choice) -> int:
        decisions = self.schedule.decisions
        position = self._position
        self._position += 1
        if position >= len(decisions):
            if self.strict:
                raise ReplayDivergence(
                    f"the run needs a decision #{position} but the schedule has only "
                    f"{len(decisions)}; runnable: {', '.join(choice.names)}. The scenario changed "
                    "since the token was recorded: explore again for a fresh token"
                )
            return choice.previous if choice.previous is not None else 0
        expected = decisions[position]
        fits = expected.index < len(choice.candidates) and (
            choice.names[expected.index] == expected.task or not self.strict
        )
        if not fits:
            if self.strict:
                raise ReplayDivergence(
                    f"decision #{position} (step {choice.step}) expected task "
                    f"{expected.task!r} at position {expected.index}, but the runnable tasks were "
                    f"{', '.join(choice.names)}. The scenario changed since the token was "
                    "recorded: explore again for a fresh token"
                )
            return min(expected.index, len(choice.candidates) - 1)
        return expected.index

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        unused = len(self.schedule.decisions) - self._position
        if self.strict and unused > 0:
            raise ReplayDivergence(
                f"the run finished after {self._position} decisions but the schedule has "
                f"{len(self.schedule.decisions)}; the scenario changed since the token was "
                "recorded: explore again for a fresh token"
            )


class AnchoringReplay(ReplayStrategy):
    """An exact replay that also notes where every runnable task waited at each decision, so the
    schedule can be sealed into an ``rs2`` token (:meth:`anchored`)."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__(schedule)
        self.seen: list[tuple[int, tuple[int, ...], dict[int, Site]]] = []

    def choose(self, choice: Choice) -> int:
        from .._anchor import current_sites

        self.seen.append((choice.step, choice.candidates, current_sites(choice.candidates)))
        return super().choose(choice)

    def anchored(self, trace: Trace, schedule: Schedule) -> Schedule:
        """``schedule`` (as run) with each decision's site, step end site and first note label."""
        decisions = []
        for number, decision in enumerate(schedule.decisions):
            step, candidates, sites = self.seen[number]
            task = candidates[decision.index]
            if task < 0 or step >= len(trace.steps) or trace.steps[step].task != task:
                decisions.append(decision)
                continue
            ran = trace.steps[step]
            to_site: Site | None = EXIT if ran.location == "exit" else None
            for later_step, later_candidates, later_sites in self.seen[number + 1 :]:
                if any(s.task == task for s in trace.steps[step + 1 : later_step]):
                    break
                if task in later_candidates:
                    to_site = later_sites[task]
                    break
            decisions.append(
                attrs.evolve(
                    decision,
                    site=sites[task],
                    to_site=to_site,
                    label=ran.notes[0].label if ran.notes else "",
                )
            )
        return attrs.evolve(schedule, decisions=tuple(decisions))


#: How many steps a task may take to reach the site a recorded decision expects it at.
CATCH_UP_LIMIT = 50


@attrs.define
class _Applied:
    decision: int  #: position in the recorded schedule
    step: int  #: seq of the step it ran now
    late: bool  #: an earlier recorded decision was still waiting


class IntentReplay(BaseStrategy):
    """Follow what a recorded ``rs2`` schedule *meant* in code that may have changed.

    Each recorded decision says: run task ``T``, which waits at site ``S``. At each decision the
    first recorded decision that applies (its task runnable, at its site) is taken; a recorded
    decision whose task is runnable elsewhere first lets that task *catch up* (an ``await`` was
    added on its way); one whose task is already past its site (an ``await`` was removed) no
    longer applies; one whose task is not runnable (a fix made it wait) waits, and later
    decisions go first. A task whose step now stops at a site the recording never saw it at keeps
    running, so a step that was atomic stays atomic. When the recording runs out, the task that
    ran last continues. :attr:`drift` lists every difference, one sentence each.
    """

    name = "replay"

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.recorded = schedule.decisions
        self._sites_of: dict[str, set[int]] = {}
        for decision in self.recorded:
            for site in (decision.site, decision.to_site):
                if site is not None:
                    self._sites_of.setdefault(decision.task, set()).add(site.key)
        self._done = False
        self.consumed = [False] * len(self.recorded)
        self.skipped: list[int] = []
        self.applied: list[_Applied] = []
        self.by_position = 0
        self.extra = 0  #: steps or decisions the recording did not have
        self.drift: list[str] = []
        self._continuing: tuple[str, Site | None] | None = None
        self._catch_up = 0

    def new_execution(self) -> bool:
        if self._done:
            return False
        self._done = True
        return True

    def _first_open(self, task: str | None = None) -> int | None:
        for number, used in enumerate(self.consumed):
            if not used and (task is None or self.recorded[number].task == task):
                return number
        return None

    def _skip(self, number: int, why: str) -> None:
        self.consumed[number] = True
        self.skipped.append(number)
        decision = self.recorded[number]
        where = f" at {decision.site.describe()}" if decision.site is not None else ""
        self.drift.append(f"decision {number}: {decision.task!r}{where} no longer applies ({why})")

    def _skip_passed(
        self, names: tuple[str, ...], sites: dict[int, Site], ids: tuple[int, ...]
    ) -> None:
        """Recorded decisions of tasks that are already past them (an ``await`` was removed)."""
        for position, name in enumerate(names):
            key = sites[ids[position]].key
            pending = [
                n for n, d in enumerate(self.recorded) if not self.consumed[n] and d.task == name
            ]
            if not pending or self.recorded[pending[0]].site is None:
                continue
            later = [n for n in pending if self.recorded[n].site.key == key]  # type: ignore[union-attr]
            if later and later[0] != pending[0]:
                for number in pending[: pending.index(later[0])]:
                    self._skip(number, "its task is already past that point")

    def choose(self, choice: Choice) -> int:
        from .._anchor import current_sites

        names = choice.names
        sites = current_sites(choice.candidates)
        previous = choice.previous
        if self._continuing is not None and previous is not None:
            task, to_site = self._continuing
            site = sites[choice.candidates[previous]]
            if (
                names[previous] == task
                and (to_site is None or site.key != to_site.key)
                and site.key not in self._sites_of.get(task, set())
                and site.key != 0
            ):
                self.extra += 1
                self.drift.append(
                    f"{task!r} now also stops at {site.describe()}, a new point: it continues "
                    "there, as its step did not stop in the recording"
                )
                return previous
        self._continuing = None
        self._skip_passed(names, sites, choice.candidates)
        first = self._first_open()
        if first is not None:
            wanted = self.recorded[first]
            if wanted.task in names and wanted.site is not None:
                position = names.index(wanted.task)
                if sites[choice.candidates[position]].key != wanted.site.key:
                    self._catch_up += 1
                    if self._catch_up <= CATCH_UP_LIMIT:
                        self.extra += 1
                        return position
                    self._skip(first, f"its task never reached {wanted.site.describe()}")
                    self._catch_up = 0
                    return self.choose(choice)
        self._catch_up = 0
        for number, decision in enumerate(self.recorded):
            if self.consumed[number] or decision.task not in names:
                continue
            position = names.index(decision.task)
            site = sites[choice.candidates[position]]
            if decision.site is not None and site.key != decision.site.key:
                continue
            return self._apply(number, position, choice, site, late=number != first)
        if first is not None:
            wanted = self.recorded[first]
            known = {info.name for info in choice.recorder.tasks}
            if wanted.task not in known and wanted.index < len(names):
                self.by_position += 1
                self.drift.append(
                    f"decision {first}: no task is named {wanted.task!r} now; followed its "
                    f"position ({wanted.index}): {names[wanted.index]!r}"
                )
                return self._apply(first, wanted.index, choice, None, late=False)
        self.extra += 1
        return previous if previous is not None else 0

    def _apply(
        self, number: int, position: int, choice: Choice, site: Site | None, *, late: bool
    ) -> int:
        decision = self.recorded[number]
        self.consumed[number] = True
        self.applied.append(_Applied(number, choice.step, late))
        if late:
            self.drift.append(
                f"decision {number}: {decision.task!r} ran later than recorded (a task before "
                "it could not run at that point)"
            )
        if site is not None and decision.site is not None and site.line != decision.site.line:
            self.drift.append(
                f"decision {number}: {decision.task!r} at {decision.site.describe()} is now at "
                f"{site.describe()}"
            )
        self._continuing = (decision.task, decision.to_site)
        return position

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        for number, used in enumerate(self.consumed):
            if not used:
                self._skip(number, "the run ended before it")
        for applied in self.applied:
            label = self.recorded[applied.decision].label
            if not label or applied.step >= len(trace.steps):
                continue
            notes = trace.steps[applied.step].notes
            now = notes[0].label if notes else ""
            if label_key(now) != label_key(label):
                was = "" if label.startswith("#") else f" ({label!r})"
                self.drift.append(
                    f"decision {applied.decision}: its step no longer records the note it "
                    f"recorded first{was}; now " + (f"{now!r}" if now else "no note")
                )
