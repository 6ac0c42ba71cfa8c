"""Scenario files: declarative TOML that names a system, a variant, a workload and a verdict.

A scenario file says *what* to explore; the Python that builds it lives with the system
(``system_under_test.SYSTEMS``), referenced by name — the one place where ``sim`` reaches into
the system under test, and only lazily, when a file asks for it. The format (documented with
examples in ``scenarios/README.md``)::

    [scenario]                 # required: description, system, variant, expect
    description = "..."
    system = "agent_registry"
    variant = "legacy"
    expect = "race"            # or "clean", or "unawaited"
    properties = ["wiring"]    # optional: the end-state properties asserted (default: all)
    transport = "memory"       # optional: the system's last hop (default "model")
    [workload]                 # the system's parameters
    [explore]                  # default exploration: strategy, max_schedules, seed,
                               # preemption_bound, mode, max_failures, races
    [expect_failure]           # optional, race scenarios: kinds = [...], mentions = [...]

The invariant: a file either loads into a frozen :class:`Scenario` whose every field is valid, or
raises :class:`ScenarioError` whose message names the file, the key and the fix — never a
traceback for a user's mistake. Validation goes as far as building the scenario once, so a bad
workload value is reported at load time, not in the middle of an exploration.

The fingerprint is a short hash of the *parsed* content (``json.dumps(sort_keys=True)``): comments,
whitespace and key order do not change it, any value does. Tokens carry it, so a token recorded
against another version of the file is refused instead of replaying something else.

A reported race (``scenarios/reported/*.toml``) points at a scenario file and records how it was
found — strategy, seed, bounds — with the token, the failure kind and a string its message
contained: :func:`load_reported` reads one, :meth:`Reported.reproduce` finds it again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from ._explore import Failure, Result, Run
    from ._order import Order

    ScenarioFn = Callable[[], Awaitable[None]]

#: Where systems are looked up by name.
SYSTEMS_MODULE = "system_under_test"
#: Failure kinds racesim reports (what ``[expect_failure] kinds`` may list).
FAILURE_KINDS: tuple[str, ...] = (
    "assertion",
    "exception",
    "order",
    "race",
    "deadlock",
    "livelock",
    "stalled",
    "unawaited",
)
#: Exploration modes.
MODES: tuple[str, ...] = ("free", "batch")
#: Verdicts a scenario may expect.
EXPECTS: tuple[str, ...] = ("race", "clean", "unawaited")
#: Directories ``discover`` never descends into for scenarios.
SKIPPED_DIRECTORIES: frozenset[str] = frozenset({"reported"})

_SECTIONS = ("scenario", "workload", "explore", "expect_failure")
_SCENARIO_KEYS = ("description", "system", "variant", "expect", "properties", "transport")
_REQUIRED_SCENARIO_KEYS = ("description", "system", "variant", "expect")
_EXPLORE_KEYS = (
    "strategy",
    "max_schedules",
    "seed",
    "preemption_bound",
    "mode",
    "max_failures",
    "races",
)
_EXPECT_FAILURE_KEYS = ("kinds", "mentions")
_REPORTED_KEYS = (
    "scenario",
    "strategy",
    "seed",
    "preemption_bound",
    "max_schedules",
    "token",
    "kind",
    "message_contains",
)
_REQUIRED_REPORTED_KEYS = ("scenario", "strategy", "seed", "token", "kind", "message_contains")


class ScenarioError(Exception):
    """A scenario (or reported-race) file that cannot be used; the message names the file, the
    key and the fix."""


def _strategy_names() -> tuple[str, ...]:
    from .strategies import NAMES

    return NAMES


@attrs.frozen
class ExploreSettings:
    """Default exploration settings of a scenario (``[explore]``)."""

    strategy: str = "dfs"  #: a strategy name (``sim.strategies.NAMES``)
    max_schedules: int = 1000  #: schedule budget
    seed: int = 0  #: seed of randomised strategies
    preemption_bound: int | None = None  #: dfs/dpor preemption bound (None: unbounded)
    mode: str = "free"  #: "free" or "batch"
    max_failures: int = 1  #: distinct failures to collect before stopping
    races: bool = True  #: report data races on tracked state

    def as_kwargs(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class ExpectFailure:
    """What a race scenario's failure must show: a kind among ``kinds``, every string of
    ``mentions`` in its message (or details)."""

    kinds: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()

    def matches(self, failure: Failure) -> bool:
        text = f"{failure.message}\n{failure.details}"
        kind_ok = not self.kinds or failure.kind in self.kinds
        return kind_ok and all(mention in text for mention in self.mentions)

    def describe(self) -> str:
        kinds = " or ".join(self.kinds) if self.kinds else "any kind"
        mentions = ", ".join(repr(m) for m in self.mentions)
        return f"{kinds}" + (f" mentioning {mentions}" if mentions else "")


@attrs.frozen
class Scenario:
    """A validated scenario file. ``build()`` makes the runnable scenario and its order."""

    name: str  #: the file stem
    path: Path
    description: str
    system: str
    variant: str
    expect: str  #: "race", "clean" or "unawaited" (a never-awaited coroutine is the failure)
    workload: tuple[tuple[str, Any], ...]  #: the [workload] table, sorted by key
    properties: tuple[str, ...] | None  #: asserted properties (None: the system's default)
    explore_settings: ExploreSettings
    expect_failure: ExpectFailure | None
    fingerprint: str
    transport: str = "model"  #: the system's last hop (``[scenario] transport``)

    @property
    def workload_dict(self) -> dict[str, Any]:
        return dict(self.workload)

    def build(self) -> tuple[ScenarioFn, Order]:
        """The runnable ``async def`` scenario (tagged with name and fingerprint) and its order."""
        builder = _system(self.system).build
        extra = {} if self.transport == "model" else {"transport": self.transport}
        if self.properties is None:
            fn, order = builder(self.variant, self.workload_dict, **extra)
        else:
            fn, order = builder(self.variant, self.workload_dict, self.properties, **extra)
        fn.__racesim_fingerprint__ = self.fingerprint
        fn.__racesim_name__ = self.name
        # the system's whole package gets automatic footprints, not only the builder's module
        fn.__racesim_instrument__ = (builder.__module__.partition(".")[0],)
        return fn, order

    def explore(self, **overrides: Any) -> Result:
        """``sim.explore`` with this file's settings (``overrides`` win) and required order."""
        from ._explore import explore

        fn, order = self.build()
        settings = {**self.explore_settings.as_kwargs(), **overrides}
        requires = order if order.rules else None
        return explore(fn, requires=requires, **settings)

    def replay(self, token: str) -> Run:
        """``sim.replay`` of ``token`` against this scenario, judged as ``explore`` judges."""
        from ._explore import replay

        fn, order = self.build()
        requires = order if order.rules else None
        return replay(fn, token, requires=requires, races=self.explore_settings.races)


@attrs.frozen
class Reported:
    """A reported race: the scenario, how it was found, and what the failure showed."""

    path: Path
    scenario: Scenario
    strategy: str
    seed: int
    preemption_bound: int | None
    max_schedules: int | None
    token: str
    kind: str
    message_contains: str

    def reproduce(self) -> Failure | None:
        """Explore again with the recorded strategy and seed; the failure that matches, if any."""
        overrides: dict[str, Any] = {"strategy": self.strategy, "seed": self.seed}
        if self.preemption_bound is not None:
            overrides["preemption_bound"] = self.preemption_bound
        if self.max_schedules is not None:
            overrides["max_schedules"] = self.max_schedules
        result = self.scenario.explore(**overrides)
        for failure in result.failures:
            if failure.kind == self.kind and self.message_contains in failure.message:
                return failure
        return None


# -- loading ------------------------------------------------------------------------------------


def _system(name: str) -> Any:
    module = importlib.import_module(SYSTEMS_MODULE)
    systems: Mapping[str, Any] = module.SYSTEMS
    return systems[name]


def _system_names() -> tuple[str, ...]:
    module = importlib.import_module(SYSTEMS_MODULE)
    return tuple(module.SYSTEMS)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read it ({exc.strerror}); check the path") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(
            f"{path}: invalid TOML: {exc}; fix the syntax there "
            '(strings need quotes, tables are written [name], values key = "value")'
        ) from None


class _Checker:
    """Typed access to one table of a file, every error naming file, key and fix."""

    def __init__(self, path: Path, table: Mapping[str, Any], section: str) -> None:
        self.path = path
        self.table = table
        self.section = section

    def where(self, key: str) -> str:
        return f"{self.path}: [{self.section}] {key}" if self.section else f"{self.path}: {key}"

    def fail(self, key: str, problem: str, fix: str) -> ScenarioError:
        return ScenarioError(f"{self.where(key)}: {problem}; {fix}")

    def only(self, valid: tuple[str, ...]) -> None:
        for key in self.table:
            if key not in valid:
                raise self.fail(
                    key, "unknown key", f"valid keys are {', '.join(valid)} (remove or rename it)"
                )

    def require(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            if key not in self.table:
                raise ScenarioError(
                    f"{self.where(key)}: missing; add it (required: {', '.join(keys)})"
                )

    def string(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str) or (not value and not choices):
            raise self.fail(
                key, f"must be a non-empty string, got {_show(value)}", f'write {key} = "..."'
            )
        if choices and value not in choices:
            raise self.fail(
                key,
                f"unknown value {value!r}",
                f"use one of {', '.join(repr(c) for c in choices)}",
            )
        return value

    def integer(self, key: str, default: int | None, minimum: int) -> int | None:
        value = self.table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                key,
                f"must be an integer, got {_show(value)}",
                f"write {key} = {max(minimum, 0)} (no quotes)",
            )
        if value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}", f"use a number >= {minimum}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(
                key, f"must be true or false, got {_show(value)}", f"write {key} = true"
            )
        return value

    def strings(self, key: str, choices: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(
                key,
                f"must be a list of non-empty strings, got {_show(value)}",
                f'write {key} = ["..."]',
            )
        for item in value:
            if choices and item not in choices:
                raise self.fail(
                    key,
                    f"unknown value {item!r}",
                    f"use values among {', '.join(repr(c) for c in choices)}",
                )
        return tuple(value)


def _show(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _table(checker_path: Path, data: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise ScenarioError(
            f"{checker_path}: [{section}]: must be a table, got {_show(value)}; "
            f"write it as a [{section}] section"
        )
    return value


def fingerprint_of_content(data: Mapping[str, Any]) -> str:
    """The short hash of a parsed scenario file (canonical JSON, sorted keys)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file. Raises :class:`ScenarioError` for any mistake."""
    path = Path(path)
    data = _read_toml(path)
    for section in data:
        if section not in _SECTIONS:
            raise ScenarioError(
                f"{path}: [{section}]: unknown section; valid sections are "
                f"{', '.join(f'[{s}]' for s in _SECTIONS)} (remove or rename it)"
            )
    if "scenario" not in data:
        raise ScenarioError(
            f"{path}: [scenario]: missing; add a [scenario] table with "
            f"{', '.join(_REQUIRED_SCENARIO_KEYS)}"
        )
    head = _Checker(path, _table(path, data, "scenario"), "scenario")
    head.only(_SCENARIO_KEYS)
    head.require(_REQUIRED_SCENARIO_KEYS)
    description = head.string("description")
    system_name = head.string("system")
    systems = _system_names()
    if system_name not in systems:
        raise head.fail(
            "system", f"unknown system {system_name!r}", f"use one of {', '.join(systems)}"
        )
    system = _system(system_name)
    variant = head.string("variant", choices=tuple(system.variants))
    expect = head.string("expect", choices=EXPECTS)
    properties = (
        head.strings("properties", choices=tuple(system.properties))
        if "properties" in head.table
        else None
    )
    transport = head.string(
        "transport", "model", choices=tuple(getattr(system, "transports", ("model",)))
    )

    workload_table = _table(path, data, "workload")
    workload = _Checker(path, workload_table, "workload")
    workload.only(tuple(system.workload_keys))

    explore = _Checker(path, _table(path, data, "explore"), "explore")
    explore.only(_EXPLORE_KEYS)
    strategies = _strategy_names()
    settings = ExploreSettings(
        strategy=explore.string("strategy", "dfs", choices=strategies),
        max_schedules=explore.integer("max_schedules", 1000, 1) or 1000,
        seed=explore.integer("seed", 0, 0) or 0,
        preemption_bound=explore.integer("preemption_bound", None, 0),
        mode=explore.string("mode", "free", choices=MODES),
        max_failures=explore.integer("max_failures", 1, 1) or 1,
        races=explore.boolean("races", True),
    )

    expect_failure: ExpectFailure | None = None
    if "expect_failure" in data:
        checker = _Checker(path, _table(path, data, "expect_failure"), "expect_failure")
        checker.only(_EXPECT_FAILURE_KEYS)
        if expect == "clean":
            raise ScenarioError(
                f"{path}: [expect_failure]: only race scenarios expect a failure, and this one "
                'expects "clean"; remove [expect_failure] or set expect = "race"'
            )
        kinds = checker.strings("kinds", choices=FAILURE_KINDS)
        if expect == "unawaited" and kinds not in ((), ("unawaited",)):
            raise checker.fail(
                "kinds",
                f"an unawaited scenario expects kind 'unawaited', got {list(kinds)}",
                'remove kinds or write kinds = ["unawaited"]',
            )
        expect_failure = ExpectFailure(kinds=kinds, mentions=checker.strings("mentions"))
    if expect == "unawaited" and (expect_failure is None or not expect_failure.kinds):
        mentions = expect_failure.mentions if expect_failure is not None else ()
        expect_failure = ExpectFailure(kinds=("unawaited",), mentions=mentions)

    scenario = Scenario(
        name=path.stem,
        path=path,
        description=description,
        system=system_name,
        variant=variant,
        expect=expect,
        workload=tuple(sorted(workload_table.items())),
        properties=properties,
        explore_settings=settings,
        expect_failure=expect_failure,
        fingerprint=fingerprint_of_content(data),
        transport=transport,
    )
    _check_builds(scenario, system)
    return scenario


def _check_builds(scenario: Scenario, system: Any) -> None:
    try:
        scenario.build()
    except ValueError as exc:
        key = getattr(exc, "key", "")
        section, _, name = key.partition(".")
        if section == "workload":
            where = f"[workload] {name}"
            fix = f"set {name} in [workload] to an allowed value"
        elif key:
            where = f"[scenario] {key}"
            fix = f"fix {key} in [scenario]"
        else:
            where, fix = "[workload]", "fix the workload parameters"
        raise ScenarioError(f"{scenario.path}: {where}: {exc}; {fix}") from None


def discover(paths: Iterable[str | Path]) -> list[Scenario]:
    """Scenarios from files and directories (``*.toml`` directly inside, sorted by name;
    ``reported/`` is never a scenario directory). Each file appears once, in the order given."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.toml") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or directory; check the path")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return [load_scenario(path) for path in unique if path.parent.name not in SKIPPED_DIRECTORIES]


def load_reported(path: str | Path) -> Reported:
    """Read a reported race (``scenarios/reported/*.toml``) and the scenario it points at."""
    path = Path(path)
    data = _read_toml(path)
    checker = _Checker(path, data, "")
    checker.only(_REPORTED_KEYS)
    checker.require(_REQUIRED_REPORTED_KEYS)
    target = (path.parent / checker.string("scenario")).resolve()
    if not target.is_file():
        raise checker.fail(
            "scenario",
            f"points at {target}, which does not exist",
            "give the scenario file's path relative to this file",
        )
    strategy = checker.string("strategy", choices=_strategy_names())
    token = checker.string("token")
    if not token.startswith("rs"):
        raise checker.fail("token", f"{token!r} is not a racesim token", "paste the rs1.… token")
    return Reported(
        path=path,
        scenario=load_scenario(target),
        strategy=strategy,
        seed=checker.integer("seed", 0, 0) or 0,
        preemption_bound=checker.integer("preemption_bound", None, 0),
        max_schedules=checker.integer("max_schedules", None, 1),
        token=token,
        kind=checker.string("kind", choices=FAILURE_KINDS),
        message_contains=checker.string("message_contains"),
    )
