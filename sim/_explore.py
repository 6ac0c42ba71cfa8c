"""The exploration loop: run schedules until a bound, judge each run, shrink what fails.

``explore`` asks the strategy for executions until it says the space is done (``EXHAUSTED``), a
budget runs out (``MAX_SCHEDULES``, ``TIME_BUDGET``) or enough failures were found
(``FAILURE_LIMIT``). Each run is judged in this order: an exception or assertion from the scenario,
deadlock, runaway (``livelock``); then the required order (``requires=``) on the run's
happens-before relation — an edge that held only by luck is a failure too, which is how one run
predicts what another interleaving would do; then data races on ``@sim.tracked`` state.

Every failure is shrunk (fewest preemptions, then shortest) before it is reported, and carries a
token that replays it exactly (``sim.replay``) and, for randomised strategies, the seed of the
execution. The time budget only decides when to stop; it never changes what a schedule does, so
results are deterministic up to the point where the loop stopped.

Like Hypothesis's engine, every exploration ends with an :class:`ExitReason` that can describe itself.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import time
import warnings
from typing import TYPE_CHECKING, Any

import attrs

from . import _instrument, _settings
from ._health import HealthCheck, HealthCheckWarning, Watch
from ._run import Outcome, run_once
from ._schedule import Schedule, decode
from .strategies import resolve
from .strategies.replay import ReplayStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    import networkx as nx

    from ._order import Order
    from ._trace import Trace
    from .strategies._protocol import Strategy

    ScenarioFn = Callable[[], Awaitable[None]]


class ExitReason(enum.Enum):
    EXHAUSTED = "exhausted"
    MAX_SCHEDULES = "max_schedules"
    TIME_BUDGET = "time_budget"
    FAILURE_LIMIT = "failure_limit"

    def describe(self) -> str:
        return {
            ExitReason.EXHAUSTED: "explored every schedule in the bounded space",
            ExitReason.MAX_SCHEDULES: "stopped at the schedule budget (max_schedules)",
            ExitReason.TIME_BUDGET: "stopped at the time budget",
            ExitReason.FAILURE_LIMIT: "stopped after finding a failure",
        }[self]


@attrs.frozen(eq=False)
class Failure:
    """A failing run, shrunk, with everything needed to replay and explain it."""

    kind: str  #: assertion | exception | deadlock | livelock | unawaited | order | race
    message: str
    token: str
    seed: int | None  #: execution seed (randomised strategies), None for systematic ones
    schedule: Schedule
    trace: Trace
    details: str = ""  #: traceback, blocked-task report, or verdict explanations
    strategy: str = ""
    verdicts: tuple[Any, ...] = ()  #: non-ok order verdicts (sim._happens_before.Verdict)
    races: tuple[Any, ...] = ()  #: data races found in the run
    found_at: int = 0  #: index of the schedule that first failed
    shrunk_from: tuple[int, int] | None = None  #: (preemptions, decisions) before shrinking
    scenario_name: str = ""

    @property
    def graph(self) -> nx.DiGraph:
        """The happens-before graph of the failing run (built on demand)."""
        from ._happens_before import happens_before_graph

        return happens_before_graph(self.trace)

    @property
    def replay_command(self) -> str:
        return f"racesim replay {self.token}"

    def shrink_summary(self) -> str:
        if self.shrunk_from is None:
            return ""
        before_p, before_d = self.shrunk_from
        return (
            f"shrunk: {before_p} preemptions -> {self.schedule.preemptions}, "
            f"{before_d} decisions -> {len(self.schedule)}"
        )

    def describe(self) -> str:
        """The failure as a user should read it: what, where, and how to replay."""
        lines = [f"[{self.kind}] {self.message}"]
        if self.details and self.details != self.message:
            lines.append(self.details.rstrip())
        summary = self.shrink_summary()
        if summary:
            lines.append(summary)
        if self.seed is not None:
            lines.append(f"seed: {self.seed} (strategy {self.strategy})")
        lines.append(f"replay: {self.replay_command}")
        return "\n".join(lines)


@attrs.frozen(eq=False)
class Result:
    failures: list[Failure]
    schedules_run: int
    exhausted: bool
    exit_reason: ExitReason
    first_failure_at: int | None
    strategy: str
    elapsed: float
    #: distinct step orders among the runs (exact up to ``DISTINCT_ORDERS_TRACKED``, then a
    #: lower bound: the set of digests is capped so long explorations keep flat memory)
    distinct_orders: int
    fingerprint: str
    #: steps (over every run) that ran code racesim does not see, and of how many
    unseen_steps: int = 0
    total_steps: int = 0
    #: one sentence per thing the verdict does not cover (unseen code, health checks that fired)
    notes: tuple[str, ...] = ()
    #: the health checks that fired (suppressed ones excluded)
    health: tuple[HealthCheck, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures


@attrs.frozen(eq=False)
class Run:
    """The result of :func:`replay`: the reproduced failure, or None when the run passes now."""

    failure: Failure | None
    trace: Trace
    schedule: Schedule


#: After a data race, how many more schedules an exploration runs looking for a run where the
#: scenario itself fails (its assertion is what the user needs to see); then the race is reported.
RACE_LOOK_AHEAD = 100

#: How many distinct step orders an exploration remembers (as 8-byte digests, ~0.1 KB each).
DISTINCT_ORDERS_TRACKED = 100_000


def _order_digest(trace: Trace) -> bytes:
    return hashlib.blake2b("\x00".join(trace.order()).encode(), digest_size=8).digest()


def fingerprint_of(scenario: Callable[..., Any]) -> str:
    """A short hash of the scenario's identity and code (or the one a scenario file attached)."""
    explicit = getattr(scenario, "__racesim_fingerprint__", None)
    if explicit:
        return str(explicit)
    try:
        source = inspect.getsource(scenario)
    except (OSError, TypeError):
        code = getattr(scenario, "__code__", None)
        source = code.co_code.hex() if code is not None else repr(scenario)
    name = f"{getattr(scenario, '__module__', '')}.{getattr(scenario, '__qualname__', '')}"
    return hashlib.sha256(f"{name}\n{source}".encode()).hexdigest()[:10]


def declared_state(trace: Trace) -> Trace:
    """``trace`` without the accesses automatic footprints recorded: a data race is reported on
    state the user declared shared (``@sim.tracked``) and on trio's objects; automatic footprints
    order the exploration, and the scenario's own assertions judge what they reach."""
    if not any(access.auto for step in trace.steps for access in step.accesses):
        return trace
    steps = tuple(
        attrs.evolve(step, accesses=tuple(a for a in step.accesses if not a.auto))
        for step in trace.steps
    )
    return attrs.evolve(trace, steps=steps)


def judge(
    outcome: Outcome, requires: Order | None, races: bool
) -> tuple[str, str, str, tuple[Any, ...], tuple[Any, ...]] | None:
    """``(kind, message, details, verdicts, races)`` when the run fails, else None."""
    if outcome.kind is not None:
        return (outcome.kind, outcome.message, outcome.details, (), ())
    if requires is None and not races:
        return None
    from ._happens_before import Clocks, check_order, data_races

    clocks = Clocks.of(outcome.trace)
    if requires is not None:
        bad = tuple(v for v in check_order(outcome.trace, requires, clocks) if not v.ok)
        if bad:
            first = bad[0]
            message = f"required order {first.rule} is {first.status}"
            if first.group is not None:
                message += f" ({first.group})"
            details = "\n".join(f"- {v.status}: {v.explanation}" for v in bad)
            return ("order", message, details, bad, ())
    if races:
        found = tuple(data_races(declared_state(outcome.trace), clocks))
        if found:
            message = f"data race: {found[0].explanation.splitlines()[0]}"
            details = "\n".join(f"- {race.explanation}" for race in found)
            return ("race", message, details, (), found)
    return None


def failure_from(
    scenario: Callable[..., Any],
    outcome: Outcome,
    verdict: tuple[str, str, str, tuple[Any, ...], tuple[Any, ...]],
    *,
    fingerprint: str,
    strategy: str,
    seed: int | None = None,
    found_at: int = 0,
) -> Failure:
    """The :class:`Failure` for a run that ``judge`` found failing."""
    kind, message, details, bad, found = verdict
    return Failure(
        kind=kind,
        message=message,
        token=outcome.schedule.encode(fingerprint) if fingerprint else "",
        seed=seed,
        schedule=outcome.schedule,
        trace=outcome.trace,
        details=details,
        strategy=strategy,
        verdicts=bad,
        races=found,
        found_at=found_at,
        scenario_name=getattr(scenario, "__racesim_name__", "")
        or getattr(scenario, "__qualname__", ""),
    )


def _failure_key(kind: str, verdicts: tuple[Any, ...]) -> tuple[str, str]:
    return (kind, verdicts[0].rule if verdicts else "")


def explore(
    scenario: ScenarioFn,
    strategy: str | Strategy = "dpor",
    max_schedules: int | None = None,
    seed: int = 0,
    preemption_bound: int | None = None,
    requires: Order | None = None,
    mode: str = "free",
    *,
    races: bool = True,
    explore_time: bool = False,
    time_budget: float | None = None,
    max_steps: int | None = None,
    max_failures: int | None = None,
    shrink: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    instrument: Sequence[str] = (),
    suppress_health_check: Iterable[HealthCheck] = (),
) -> Result:
    """Explore interleavings of ``scenario`` (``async def scenario() -> None`` in plain trio).

    The scenario's module and the modules or packages named in ``instrument`` get automatic
    footprints (:mod:`sim._instrument`). Returns a :class:`Result`; every failure in it is shrunk
    and carries a replay token; health checks that fire are warned about
    (:class:`HealthCheckWarning`) and listed in ``Result.notes``.
    """
    if isinstance(instrument, str):
        instrument = (instrument,)
    _instrument.prepare(scenario, instrument)
    suppressed = frozenset(suppress_health_check)
    watch = Watch()
    if mode not in ("free", "batch"):
        raise ValueError(f"mode must be 'free' or 'batch', not {mode!r}")
    settings = _settings.from_env(
        max_schedules=max_schedules,
        max_steps=max_steps,
        time_budget=time_budget,
        max_failures=max_failures,
    )
    chosen = resolve(strategy, seed=seed, preemption_bound=preemption_bound)
    fingerprint = fingerprint_of(scenario)
    failures: list[Failure] = []
    seen_keys: set[tuple[str, str]] = set()
    orders: set[bytes] = set()
    schedules = 0
    first_failure_at: int | None = None
    started = time.monotonic()
    exit_reason = ExitReason.MAX_SCHEDULES
    pending_race: tuple[Outcome, Any, int, int | None] | None = None
    look_ahead: int | None = None

    def record(outcome: Outcome, verdict: Any, found_at: int, execution_seed: int | None) -> bool:
        """Keep (shrunk) a failure not seen before; True when enough were found."""
        nonlocal first_failure_at
        key = _failure_key(verdict[0], verdict[3])
        if key in seen_keys:
            return False
        seen_keys.add(key)
        if first_failure_at is None or found_at < first_failure_at:
            first_failure_at = found_at
        failure = failure_from(
            scenario,
            outcome,
            verdict,
            fingerprint=fingerprint,
            strategy=getattr(chosen, "name", type(chosen).__name__),
            seed=execution_seed,
            found_at=found_at,
        )
        if shrink and settings.shrink_runs > 0:
            from ._shrink import shrink_failure

            failure = shrink_failure(
                scenario,
                failure,
                requires=requires,
                races=races,
                fingerprint=fingerprint,
                budget=settings.shrink_runs,
                max_steps=settings.max_steps,
            )
        failures.append(failure)
        return len(failures) >= settings.max_failures

    while True:
        if look_ahead is not None and schedules >= look_ahead:
            exit_reason = ExitReason.FAILURE_LIMIT
            break
        if schedules >= settings.max_schedules:
            exit_reason = ExitReason.MAX_SCHEDULES
            break
        budget = settings.time_budget
        if budget is not None and time.monotonic() - started >= budget:
            exit_reason = ExitReason.TIME_BUDGET
            break
        if not chosen.new_execution():
            exit_reason = ExitReason.EXHAUSTED
            break
        execution_seed = getattr(chosen, "execution_seed", None)
        outcome = run_once(
            scenario,
            chosen,
            seed=execution_seed if execution_seed is not None else seed,
            mode=mode,
            max_steps=settings.max_steps,
            explore_time=explore_time,
        )
        chosen.execution_finished(outcome.trace, outcome.schedule)
        watch.observe(outcome.trace)
        schedules += 1
        if len(orders) < DISTINCT_ORDERS_TRACKED:
            orders.add(_order_digest(outcome.trace))
        verdict = judge(outcome, requires, races)
        if on_progress is not None:
            on_progress(schedules, len(failures) + (verdict is not None))
        if verdict is None:
            continue
        if verdict[0] == "race":
            # A data race is a cause; the user's own assertion is the symptom they wrote the test
            # for. Keep the first race and look a little further for a run that fails outright.
            if pending_race is None:
                pending_race = (outcome, verdict, schedules - 1, execution_seed)
                look_ahead = schedules + RACE_LOOK_AHEAD
            continue
        if record(outcome, verdict, schedules - 1, execution_seed):
            exit_reason = ExitReason.FAILURE_LIMIT
            break
    if pending_race is not None and len(failures) < settings.max_failures:
        record(*pending_race)
    exhausted = exit_reason is ExitReason.EXHAUSTED and bool(getattr(chosen, "exhaustive", False))
    described = chosen.describe() if hasattr(chosen, "describe") else chosen.name
    fired = [
        (check, message)
        for check, message in watch.findings(
            schedules=schedules, exhausted=exhausted, failed=bool(failures), strategy=described
        )
        if check not in suppressed
    ]
    for _check, message in fired:
        warnings.warn(HealthCheckWarning(message), stacklevel=2)
    notes = [message for _check, message in fired]
    sentence = watch.unseen_sentence()
    if sentence and not any(check is HealthCheck.unseen_code for check, _ in fired):
        notes.insert(0, sentence)
    return Result(
        failures=failures,
        schedules_run=schedules,
        exhausted=exhausted,
        exit_reason=exit_reason,
        first_failure_at=first_failure_at,
        strategy=described,
        elapsed=time.monotonic() - started,
        distinct_orders=len(orders),
        fingerprint=fingerprint,
        unseen_steps=watch.unseen,
        total_steps=watch.steps,
        notes=tuple(notes),
        health=tuple(check for check, _ in fired),
    )


def replay_schedule(
    scenario: ScenarioFn,
    schedule: Schedule,
    *,
    requires: Order | None = None,
    races: bool = True,
    strict: bool = True,
    fingerprint: str = "",
    max_steps: int | None = None,
    seed: int = 0,
    instrument: Sequence[str] = (),
) -> Run:
    _instrument.prepare(scenario, instrument)
    settings = _settings.from_env(max_steps=max_steps)
    strategy = ReplayStrategy(schedule, strict=strict)
    strategy.new_execution()
    outcome = run_once(
        scenario,
        strategy,
        seed=seed,
        mode=schedule.mode,
        max_steps=settings.max_steps,
        explore_time=schedule.explore_time,
    )
    strategy.execution_finished(outcome.trace, outcome.schedule)
    verdict = judge(outcome, requires, races)
    failure = None
    if verdict is not None:
        failure = failure_from(
            scenario, outcome, verdict, fingerprint=fingerprint, strategy="replay"
        )
    return Run(failure=failure, trace=outcome.trace, schedule=outcome.schedule)


def replay(
    scenario: ScenarioFn,
    token: str,
    *,
    requires: Order | None = None,
    races: bool = True,
    max_steps: int | None = None,
    instrument: Sequence[str] = (),
) -> Run:
    """Re-run ``scenario`` exactly as the token says (instrumented as ``explore`` did: pass the
    same ``instrument``). Raises :class:`TokenMismatch` when the token
    belongs to another scenario or version, :class:`ReplayDivergence` when the scenario's code no
    longer follows the recorded decisions."""
    fingerprint = fingerprint_of(scenario)
    schedule = decode(token, fingerprint)
    return replay_schedule(
        scenario,
        schedule,
        requires=requires,
        races=races,
        fingerprint=fingerprint,
        max_steps=max_steps,
        instrument=instrument,
    )
