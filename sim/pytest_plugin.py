"""racesim's pytest plugin: ``@pytest.mark.racesim`` explores the interleavings of an async test.

The body of a marked ``async def`` test *is* the scenario: racesim runs it once per schedule, each
time in a fresh ``trio.run`` under its controlled scheduler, and fails the test with the shrunk
failing interleaving and the token that replays it::

    @pytest.mark.racesim(strategy="dpor", max_schedules=500)
    async def test_counter(): ...

    pytest 'tests/test_x.py::test_counter' --racesim-replay rs1.<fingerprint>.<payload>

The one hard constraint is that ``trio.run`` cannot nest, so a marked test must never run inside
pytest-trio's ``trio.run``. pytest-trio (0.8) decides per test in ``pytest_runtest_call``: a test
with the ``trio`` marker (added to every coroutine test in ``trio_mode``) gets ``item.obj`` replaced
by a runner that calls ``trio.run``, which pytest's default ``pytest_pyfunc_call`` then calls. We
leave that alone and answer ``pytest_pyfunc_call`` first (``tryfirst``) for marked tests, calling
the *original* test function (kept at setup, before pytest-trio swaps it) ourselves, so pytest-trio's
runner is never invoked. Unmarked tests never reach our code and behave exactly as before.

Fixtures: values of sync fixtures are passed to every schedule (``lambda: test_fn(**funcargs)``), so
state a test mutates must be built in the body, not in a fixture, or schedules would leak into each
other. Async (trio) fixtures cannot work: they would need a ``trio.run`` of their own that outlives
each schedule's run. They are refused at setup, by name, before anything is set up; so are trio
clock and instrument fixtures, which pytest-trio would hand to its ``trio.run`` and racesim cannot.

Tokens: the scenario wrapper carries ``__racesim_fingerprint__`` = a hash of the test's node id and
source, so a token is refused once the test changed, and ``--racesim-replay TOKEN`` can pick its test
out of a whole session (every other test is deselected). Statistics travel as
``item.user_properties`` (JUnit ``<property>``; they survive xdist) and the verbose terminal summary
is built from those reports, not from process-local state.
"""

from __future__ import annotations

import hashlib
import inspect
import shlex
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio

from . import _settings
from ._explore import Failure, explore, replay
from ._schedule import TokenError, TokenMismatch, decode, token_fingerprint
from .strategies import NAMES, ReplayDivergence, resolve

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable

    from ._health import HealthCheck
    from ._order import Order

MARKER = "racesim"
#: Keyword arguments the marker accepts, passed to :func:`sim.explore` under the same names.
MARKER_KWARGS = (
    "strategy",
    "max_schedules",
    "seed",
    "requires",
    "preemption_bound",
    "mode",
    "races",
    "explore_time",
    "time_budget",
    "max_steps",
    "instrument",
    "suppress_health_check",
)
#: Prefix of the ``item.user_properties`` this plugin writes.
PROPERTY_PREFIX = "racesim_"

_ORIGINAL = pytest.StashKey["Callable[..., Any]"]()


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen
class Exploration:
    """What a marked test explores, after options have overridden the marker."""

    strategy: str = "dpor"
    max_schedules: int | None = None
    seed: int = 0
    requires: Order | None = None
    preemption_bound: int | None = None
    mode: str = "free"
    races: bool = True
    explore_time: bool = False
    time_budget: float | None = None
    max_steps: int | None = None
    #: modules / packages to give automatic footprints, besides the test's own module
    instrument: tuple[str, ...] = attrs.field(default=(), converter=_names)
    suppress_health_check: tuple[HealthCheck, ...] = attrs.field(default=(), converter=tuple)


# -- options and marker ----------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "racesim", "racesim: explore interleavings of @pytest.mark.racesim tests"
    )
    group.addoption(
        "--racesim-replay",
        metavar="TOKEN",
        help="replay the racesim test this token was printed for (other tests are deselected)",
    )
    group.addoption(
        "--racesim-seed", metavar="N", help="seed for every racesim test (overrides markers)"
    )
    group.addoption(
        "--racesim-max-schedules",
        metavar="N",
        help="schedule budget for every racesim test (overrides markers)",
    )
    group.addoption(
        "--racesim-strategy",
        metavar="NAME",
        help=f"strategy for every racesim test (overrides markers): {', '.join(NAMES)}",
    )


def _int_option(config: pytest.Config, name: str, minimum: int) -> int | None:
    raw = config.getoption(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        option = "--" + name.replace("_", "-")
        raise pytest.UsageError(
            f"{option}={raw!r}: expected an integer >= {minimum}, e.g. {option}={minimum + 41}"
        )
    return value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "racesim(strategy='dpor', max_schedules=None, seed=0, requires=None, "
        "preemption_bound=None, mode='free', races=True): explore the interleavings of this async "
        "test under racesim's controlled scheduler; a failure prints a replay token",
    )
    _int_option(config, "racesim_seed", 0)
    _int_option(config, "racesim_max_schedules", 1)
    strategy = config.getoption("racesim_strategy")
    if strategy is not None and strategy not in NAMES:
        raise pytest.UsageError(
            f"--racesim-strategy={strategy!r} is not a racesim strategy; "
            f"choose one of: {', '.join(NAMES)}"
        )
    token = config.getoption("racesim_replay")
    if token is not None:
        try:
            decode(token)
        except TokenError as error:
            raise pytest.UsageError(f"--racesim-replay: {error}") from None
    config.pluginmanager.register(_Summary(), "racesim-summary")


def _marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker(MARKER)
    assert marker is not None
    if marker.args:
        raise _usage(item, "the racesim marker takes keyword arguments only, e.g. strategy='dfs'")
    unknown = sorted(set(marker.kwargs) - set(MARKER_KWARGS))
    if unknown:
        raise _usage(
            item,
            f"unknown racesim marker argument(s) {', '.join(unknown)}; "
            f"valid: {', '.join(MARKER_KWARGS)}",
        )
    return dict(marker.kwargs)


def _project_defaults(item: pytest.Item) -> dict[str, Any]:
    """``[tool.racesim]`` of the project (environment variables win over its bounds)."""
    try:
        project = _settings.project_config(item.config.rootpath)
    except _settings.SettingsError as error:
        raise _usage(item, str(error)) from None
    values = {
        key: getattr(project, key) for key in ("strategy", "seed", "preemption_bound", "mode")
    }
    values["instrument"] = project.instrument or None
    values.update(
        {key: project.layered(key) for key in ("max_schedules", "time_budget", "max_steps")}
    )
    return {key: value for key, value in values.items() if value is not None}


def exploration_of(item: pytest.Item) -> Exploration:
    """The marker's settings for ``item`` with the ``--racesim-*`` options applied on top, over
    the project's ``[tool.racesim]`` defaults."""
    project = _project_defaults(item)
    marker = _marker_kwargs(item)
    kwargs = {**project, **marker}
    if "instrument" in project:  # the project's packages, and the marker's on top
        kwargs["instrument"] = (*project["instrument"], *_names(marker.get("instrument", ())))
    config = item.config
    overrides = {
        "strategy": config.getoption("racesim_strategy"),
        "seed": _int_option(config, "racesim_seed", 0),
        "max_schedules": _int_option(config, "racesim_max_schedules", 1),
    }
    kwargs.update({key: value for key, value in overrides.items() if value is not None})
    try:
        exploration = Exploration(**kwargs)
        resolve(
            exploration.strategy,
            seed=exploration.seed,
            preemption_bound=exploration.preemption_bound,
        )
        _settings.from_env(
            max_schedules=exploration.max_schedules,
            max_steps=exploration.max_steps,
            time_budget=exploration.time_budget,
        )
    except (TypeError, ValueError) as error:
        raise _usage(item, str(error)) from None
    if exploration.mode not in ("free", "batch"):
        raise _usage(item, f"mode must be 'free' or 'batch', not {exploration.mode!r}")
    return exploration


def _usage(item: pytest.Item, problem: str) -> BaseException:
    """A failure of ``item`` that says what to fix, shown without a traceback."""
    return pytest.fail.Exception(f"{item.nodeid}: {problem}", pytrace=False)


# -- the scenario a test becomes ---------------------------------------------------------------
def fingerprint_of_test(nodeid: str, function: Callable[..., Any]) -> str:
    """The token fingerprint of a marked test: its node id and source (any edit changes it)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = function.__code__.co_code.hex()
    return hashlib.sha256(f"pytest\n{nodeid}\n{source}".encode()).hexdigest()[:10]


def scenario_of(
    item: pytest.Function, function: Callable[..., Coroutine[Any, Any, None]]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """``test_fn(**funcargs)`` as a racesim scenario, named and fingerprinted after the test.

    A plain function returning the coroutine (trio accepts that), so no wrapper frame shows in
    tracebacks and the root task is named after the test."""
    funcargs = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}

    def scenario() -> Coroutine[Any, Any, None]:
        return function(**funcargs)

    scenario.__name__ = scenario.__qualname__ = function.__name__
    scenario.__module__ = function.__module__
    scenario.__racesim_fingerprint__ = fingerprint_of_test(item.nodeid, function)  # type: ignore[attr-defined]
    scenario.__racesim_name__ = item.nodeid  # type: ignore[attr-defined]
    return scenario


def _async_fixture(item: pytest.Function) -> str | None:
    infos = item._fixtureinfo.name2fixturedefs
    for name in item.fixturenames:
        definitions = infos.get(name)
        if not definitions:
            continue
        func = definitions[-1].func
        if (
            inspect.iscoroutinefunction(func)
            or inspect.isasyncgenfunction(func)
            or getattr(func, "_force_trio_fixture", False)
        ):
            return name
    return None


# -- collection: --racesim-replay selects its test -------------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    token = config.getoption("racesim_replay")
    if token is None:
        return
    wanted = token_fingerprint(token)
    marked = [item for item in items if item.get_closest_marker(MARKER) is not None]
    keep = [
        item
        for item in marked
        if isinstance(item, pytest.Function)
        and fingerprint_of_test(item.nodeid, item.obj) == wanted
    ]
    if not keep:
        raise pytest.UsageError(
            f"--racesim-replay: the token was recorded for test version {wanted}, which none of "
            f"the {len(marked)} collected racesim test(s) is; if you edited the test since, its "
            "tokens changed: run it without --racesim-replay to explore it again, and pass the node "
            "id the failure message printed"
        )
    deselected = [item for item in items if item not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


# -- running a marked test ---------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(MARKER) is None or not isinstance(item, pytest.Function):
        return
    function = item.obj
    if hasattr(function, "hypothesis"):
        raise _usage(
            item,
            "@pytest.mark.racesim cannot be combined with Hypothesis' @given: racesim explores "
            "the schedules itself; drop @given (or drop the racesim marker)",
        )
    if not inspect.iscoroutinefunction(function):
        raise _usage(
            item,
            "@pytest.mark.racesim needs an 'async def' test: its body is the scenario racesim "
            "runs once per schedule",
        )
    fixture = _async_fixture(item)
    if fixture is not None:
        raise _usage(
            item,
            f"the test uses the async fixture {fixture!r}, which a racesim test cannot use: "
            "racesim runs the test body in a fresh trio.run per schedule, and an async fixture "
            "would need a trio.run of its own around all of them (trio.run cannot nest). Make "
            f"{fixture!r} a sync fixture, or build that state in the test body",
        )
    item.stash[_ORIGINAL] = function


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.get_closest_marker(MARKER) is None:
        return None
    item = pyfuncitem
    for name in item._fixtureinfo.argnames:
        value = item.funcargs[name]
        if isinstance(value, trio.abc.Clock | trio.abc.Instrument):
            kind = "clock" if isinstance(value, trio.abc.Clock) else "instrument"
            raise _usage(
                item,
                f"the fixture {name!r} is a trio {kind}, which racesim cannot pass on: every "
                "schedule runs on racesim's own MockClock(autojump_threshold=0) and instruments. "
                "Drop the fixture (use trio.current_time() for virtual time)",
            )
    exploration = exploration_of(item)
    scenario = scenario_of(item, item.stash[_ORIGINAL])
    token = item.config.getoption("racesim_replay")
    if token is not None:
        _replay_test(item, scenario, token, exploration)
    else:
        _explore_test(item, scenario, exploration)
    return True


def _record(item: pytest.Item, **values: object) -> None:
    for key, value in values.items():
        item.user_properties.append((PROPERTY_PREFIX + key, value))


def _explore_test(
    item: pytest.Function, scenario: Callable[[], Any], exploration: Exploration
) -> None:
    result = explore(
        scenario,
        strategy=exploration.strategy,
        max_schedules=exploration.max_schedules,
        seed=exploration.seed,
        preemption_bound=exploration.preemption_bound,
        requires=exploration.requires,
        mode=exploration.mode,
        races=exploration.races,
        explore_time=exploration.explore_time,
        time_budget=exploration.time_budget,
        max_steps=exploration.max_steps,
        instrument=exploration.instrument,
        suppress_health_check=exploration.suppress_health_check,
    )
    _record(
        item,
        schedules=result.schedules_run,
        exhausted=result.exhausted,
        exit_reason=result.exit_reason.value,
        strategy=result.strategy,
        time=round(result.elapsed, 3),
    )
    if result.notes:
        _record(item, notes=" ".join(result.notes))
    if result.failures:
        failure = result.failures[0]
        _record(item, token=failure.token)
        where = (
            f"in schedule {failure.found_at + 1} of {result.schedules_run} explored "
            f"(strategy {result.strategy}"
            + (f", seed {failure.seed}" if failure.seed is not None else "")
            + ")"
        )
        pytest.fail(failure_message(item.nodeid, failure, failure.token, where), pytrace=False)


def _replay_test(
    item: pytest.Function, scenario: Callable[[], Any], token: str, exploration: Exploration
) -> None:
    _record(item, schedules=1, exhausted=False, exit_reason="replay")
    try:
        run = replay(
            scenario,
            token,
            requires=exploration.requires,
            races=exploration.races,
            max_steps=exploration.max_steps,
            instrument=exploration.instrument,
        )
    except TokenMismatch as error:
        raise _usage(item, f"--racesim-replay: {error}") from None
    except ReplayDivergence as error:
        pytest.fail(
            f"{item.nodeid}: the test no longer follows the schedule in the token: {error}\n"
            "The code changed since the token was printed; run the test without "
            "--racesim-replay to explore it again.",
            pytrace=False,
        )
    if run.failure is not None:
        _record(item, token=token)
        pytest.fail(
            failure_message(item.nodeid, run.failure, token, "in the replayed schedule"),
            pytrace=False,
        )


def replay_commands(nodeid: str, token: str) -> list[str]:
    """The shell commands that replay ``token`` of the test ``nodeid``."""
    return [
        f"pytest {shlex.quote(nodeid)} --racesim-replay {token}",
        f"racesim replay {token}",
    ]


def failure_message(nodeid: str, failure: Failure, token: str, where: str) -> str:
    """What a failing racesim test prints: kind and message, the shrunk trace one column per task,
    the explanation, and the commands that replay it."""
    from ._render import render_failure_trace

    lines = [
        f"racesim: {failure.kind} {where}",
        failure.message,
        "",
        "interleaving (one column per task: where each step stopped):",
        render_failure_trace(failure),
    ]
    if failure.details and failure.details.strip() != failure.message.strip():
        heading = "traceback:" if failure.kind in ("assertion", "exception") else "explanation:"
        lines += ["", heading, failure.details.rstrip()]
    summary = failure.shrink_summary()
    if summary:
        lines += ["", summary]
    lines += ["", "replay exactly this schedule with:"]
    lines += [f"  {command}" for command in replay_commands(nodeid, token)]
    return "\n".join(lines)


# -- reporting ---------------------------------------------------------------------------------
class _Summary:
    """Collects the racesim properties of each test's call report (also those xdist workers send
    back) and prints them in the terminal summary with ``-v``."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, object]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        values = {
            key.removeprefix(PROPERTY_PREFIX): value
            for key, value in report.user_properties
            if key.startswith(PROPERTY_PREFIX)
        }
        if report.when == "call" and values:
            self.rows.append((report.nodeid, values))

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if not self.rows or config.get_verbosity() < 1:
            return
        terminalreporter.section("racesim exploration")
        for nodeid, values in self.rows:
            terminalreporter.write_line(f"{nodeid}: {describe_stats(values)}")


def describe_stats(values: dict[str, object]) -> str:
    """One summary line from a test's ``racesim_*`` properties (prefix removed)."""
    if values.get("exit_reason") == "replay":
        text = "replayed 1 schedule"
    else:
        reason = "exhausted" if values.get("exhausted") else values.get("exit_reason")
        schedules = values.get("schedules")
        plural = "" if schedules == 1 else "s"
        text = (
            f"{schedules} schedule{plural} ({values.get('strategy')}), {reason}, "
            f"{values.get('time')}s"
        )
    text += f", failed: token {values['token']}" if "token" in values else ""
    return text + (f"\n    note: {values['notes']}" if "notes" in values else "")
