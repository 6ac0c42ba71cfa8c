"""Scenario files: declarative TOML that names the code to explore, its parameters and a verdict.

A scenario file says *what* to explore. The code is either any importable async function of the
user's (``target = "myapp.checks:two_writers"``, its ``[params]`` passed as keyword arguments), or
a bundled system (``system_under_test.SYSTEMS``) referenced by name — the one place where ``sim``
reaches into the system under test, and only lazily, when a file asks for it. The format
(documented with examples in ``scenarios/README.md``)::

    [scenario]                 # target, or system and variant; expect (default "clean")
    target = "myapp.checks:two_writers"
    instrument = ["myapp"]     # optional: packages whose accesses racesim records
    description = "..."
    expect = "race"            # or "clean"
    [params]                   # target only: keyword arguments of the function

    [scenario]                 # a bundled system: description, system, variant, expect
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

A target named on the command line without a file (``racesim explore myapp.checks:two_writers``)
is a scenario too (:func:`scenario_from_target`); its fingerprint is the function's own
(:func:`sim._explore.fingerprint_of`), so its tokens replay with ``sim.replay`` as well.

A reported race (``scenarios/reported/*.toml``) points at a scenario file and records how it was
found — the strategy and what that strategy uses (a seed only for seeded ones, bounds) — with the
token, the failure kind and a string its message contained: :func:`load_reported` reads one,
:meth:`Reported.reproduce` finds it again, :meth:`Reported.is_same` tells the recorded failure
from another one.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import re
import sys
import tomllib
import warnings
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

#: Strategies that take a seed (a reported race records one only for these).
SEEDED: tuple[str, ...] = ("random", "pct", "pos")
#: ``module:function`` — a target named on the command line or in a file.
TARGET = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

_SECTIONS = ("scenario", "workload", "params", "explore", "expect_failure")
_SCENARIO_KEYS = (
    "description",
    "target",
    "instrument",
    "system",
    "variant",
    "expect",
    "properties",
    "transport",
)
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
_REQUIRED_REPORTED_KEYS = ("scenario", "strategy", "token", "kind", "message_contains")


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

    name: str  #: the file stem (the target, for one named on the command line)
    path: Path | None  #: the file (None: a target named on the command line)
    description: str
    system: str  #: a bundled system's name ("" for a target)
    variant: str
    expect: str  #: "race", "clean" or "unawaited" (a never-awaited coroutine is the failure)
    workload: tuple[tuple[str, Any], ...]  #: [workload] or [params], sorted by key
    properties: tuple[str, ...] | None  #: asserted properties (None: the system's default)
    explore_settings: ExploreSettings
    expect_failure: ExpectFailure | None
    fingerprint: str
    transport: str = "model"  #: the system's last hop (``[scenario] transport``)
    target: str = ""  #: ``module:function`` of the user's code ("" for a bundled system)
    instrument: tuple[str, ...] = ()  #: packages and modules to instrument besides the target's
    reported_from: Path | None = None  #: the reported-race file this was loaded from, if any

    @property
    def workload_dict(self) -> dict[str, Any]:
        return dict(self.workload)

    @property
    def spec(self) -> str:
        """What names this scenario on a command line: its file, or its target."""
        if self.reported_from is not None:
            return str(self.reported_from)
        return str(self.path) if self.path is not None else self.target

    def build(self) -> tuple[ScenarioFn, Order]:
        """The runnable ``async def`` scenario (tagged with name and fingerprint) and its order."""
        if self.target:
            from ._order import Order

            fn = _bound_target(self.target, self.workload_dict)
            fn.__racesim_fingerprint__ = self.fingerprint  # type: ignore[attr-defined]
            fn.__racesim_name__ = self.name  # type: ignore[attr-defined]
            fn.__racesim_instrument__ = self.instrument  # type: ignore[attr-defined]
            return fn, Order()
        builder = _system(self.system).build
        extra = {} if self.transport == "model" else {"transport": self.transport}
        if self.properties is None:
            fn, order = builder(self.variant, self.workload_dict, **extra)
        else:
            fn, order = builder(self.variant, self.workload_dict, self.properties, **extra)
        fn.__racesim_fingerprint__ = self.fingerprint
        fn.__racesim_name__ = self.name
        # the system's whole package gets automatic footprints (not only the builder's module),
        # with what the system's build names (a transport's codec) and the file's own list
        fn.__racesim_instrument__ = (
            builder.__module__.partition(".")[0],
            *getattr(fn, "__racesim_instrument__", ()),
            *self.instrument,
        )
        return fn, order

    def explore(self, **overrides: Any) -> Result:
        """``sim.explore`` with this file's settings (``overrides`` win) and required order."""
        from ._explore import explore
        from ._health import HealthCheckWarning

        fn, order = self.build()
        settings = {**self.explore_settings.as_kwargs(), **overrides}
        requires = order if order.rules else None
        with warnings.catch_warnings():  # a file is judged by its expectation; health checks
            warnings.simplefilter("ignore", HealthCheckWarning)  # stay in Result.notes
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
    seed: int | None  #: only for seeded strategies (dfs and dpor ignore seeds)
    preemption_bound: int | None
    max_schedules: int | None
    token: str
    kind: str
    message_contains: str

    def overrides(self) -> dict[str, Any]:
        """The exploration settings that found it (what its strategy uses)."""
        overrides: dict[str, Any] = {"strategy": self.strategy}
        if self.seed is not None:
            overrides["seed"] = self.seed
        if self.preemption_bound is not None:
            overrides["preemption_bound"] = self.preemption_bound
        if self.max_schedules is not None:
            overrides["max_schedules"] = self.max_schedules
        return overrides

    def is_same(self, failure: Failure) -> bool:
        """Whether ``failure`` is the recorded one: same kind, message containing the key."""
        return failure.kind == self.kind and self.message_contains in failure.message

    def reproduce(self) -> Failure | None:
        """Explore again with the recorded strategy and seed; the failure that matches, if any."""
        result = self.scenario.explore(**self.overrides())
        for failure in result.failures:
            if self.is_same(failure):
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


def _target_function(target: str) -> Callable[..., Any]:
    """The async function ``module:function`` names; :class:`ScenarioError` saying what to fix."""
    if not TARGET.fullmatch(target):
        raise ScenarioError(
            f"target {target!r} is not module:function; write it like "
            '"myapp.checks:two_writers" (an importable module, a colon, an async function)'
        )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ScenarioError(
                f"target {target}: no module named {exc.name!r} on the import path; run from "
                "the project root (racesim adds it to the path) or set PYTHONPATH"
            ) from None
        raise ScenarioError(
            f"target {target}: importing {module_name} failed: {exc}; fix that import"
        ) from None
    except Exception as exc:
        raise ScenarioError(
            f"target {target}: importing {module_name} raised {type(exc).__name__}: {exc}; "
            "fix the module so it imports"
        ) from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ScenarioError(
                f"target {target}: {module_name} has no attribute {attribute!r}; check the "
                "function's name"
            )
        value = getattr(value, part)
    if not inspect.iscoroutinefunction(value):
        raise ScenarioError(
            f"target {target} is not an async function (async def); point it at the "
            "async function that runs the concurrent code"
        )
    return value  # type: ignore[no-any-return]


def _bound_target(target: str, params: Mapping[str, Any]) -> ScenarioFn:
    """``target`` called with ``params`` as keyword arguments, as a zero-argument scenario that
    keeps the function's module, name and code (``__wrapped__``) for instrumentation and
    messages."""
    function = _target_function(target)
    try:
        inspect.signature(function).bind(**params)
    except TypeError as exc:
        raise ScenarioError(
            f"target {target}: [params] do not fit its signature ({exc}); give exactly its "
            "keyword arguments in [params]"
        ) from None

    @functools.wraps(function)
    async def scenario() -> None:
        await function(**params)

    return scenario


def is_target(spec: str) -> bool:
    """Whether ``spec`` names ``module:function`` (and no existing file)."""
    return TARGET.fullmatch(spec) is not None and not Path(spec).exists()


def scenario_from_target(target: str, defaults: ExploreSettings | None = None) -> Scenario:
    """A scenario for ``module:function`` named without a file: expected clean, the project's
    default settings, the function's own fingerprint (its tokens replay with ``sim.replay``)."""
    from ._anchor import identity_of

    function = _target_function(target)
    try:
        inspect.signature(function).bind()
    except TypeError:
        raise ScenarioError(
            f"target {target} needs arguments; write a scenario file with target = "
            f'"{target}" and its keyword arguments under [params]'
        ) from None
    return Scenario(
        name=target,
        path=None,
        description=(inspect.getdoc(function) or "").split("\n", 1)[0],
        system="",
        variant="",
        expect="clean",
        workload=(),
        properties=None,
        explore_settings=defaults or ExploreSettings(),
        expect_failure=None,
        fingerprint=identity_of(function),  # the token's scenario, as sim.replay(function) sees it
        target=target,
    )


def load(spec: str | Path, defaults: ExploreSettings | None = None) -> Scenario:
    """A scenario file, a reported-race file (:func:`reported_scenario`), or a
    ``module:function`` target named without a file."""
    if isinstance(spec, str) and is_target(spec):
        return scenario_from_target(spec, defaults)
    if is_reported(Path(spec)):
        return reported_scenario(load_reported(spec))
    return load_scenario(spec, defaults)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory; pass a .toml file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r});"
            " TOML files must be UTF-8: re-save it as UTF-8"
        ) from None
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


def load_scenario(path: str | Path, defaults: ExploreSettings | None = None) -> Scenario:
    """Read and validate one scenario file; ``[explore]`` keys it does not set come from
    ``defaults`` (a project's ``[tool.racesim]``). Raises :class:`ScenarioError` for any mistake."""
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
    if "target" in head.table:
        return _load_target_scenario(path, data, head, defaults or ExploreSettings())
    if "params" in data or "instrument" in head.table:
        key = "[params]" if "params" in data else "[scenario] instrument"
        raise ScenarioError(
            f"{path}: {key}: belongs to a target scenario; add target = "
            '"module:function" to [scenario], or remove it'
        )
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

    settings = _explore_settings(path, data, defaults or ExploreSettings())
    expect_failure = _expect_failure(path, data, expect)

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


def _explore_settings(
    path: Path, data: Mapping[str, Any], defaults: ExploreSettings
) -> ExploreSettings:
    explore = _Checker(path, _table(path, data, "explore"), "explore")
    explore.only(_EXPLORE_KEYS)
    strategies = _strategy_names()
    bound = explore.integer("preemption_bound", defaults.preemption_bound, 0)
    return ExploreSettings(
        strategy=explore.string("strategy", defaults.strategy, choices=strategies),
        max_schedules=explore.integer("max_schedules", defaults.max_schedules, 1)
        or defaults.max_schedules,
        seed=explore.integer("seed", defaults.seed, 0) or 0,
        preemption_bound=bound,
        mode=explore.string("mode", defaults.mode, choices=MODES),
        max_failures=explore.integer("max_failures", defaults.max_failures, 1)
        or defaults.max_failures,
        races=explore.boolean("races", defaults.races),
    )


def _expect_failure(path: Path, data: Mapping[str, Any], expect: str) -> ExpectFailure | None:
    if "expect_failure" not in data:
        if expect == "unawaited":  # the kind is what such a scenario expects
            return ExpectFailure(kinds=("unawaited",), mentions=())
        return None
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
    return ExpectFailure(kinds=kinds, mentions=checker.strings("mentions"))


def _load_target_scenario(
    path: Path, data: Mapping[str, Any], head: _Checker, defaults: ExploreSettings
) -> Scenario:
    from ._explore import fingerprint_of

    for key in ("system", "variant", "properties"):
        if key in head.table:
            raise head.fail(
                key, "belongs to a bundled system, not a target", "remove it (or remove target)"
            )
    if "workload" in data:
        raise ScenarioError(
            f"{path}: [workload]: a target takes [params] (its keyword arguments); rename "
            "[workload] to [params]"
        )
    target = head.string("target")
    if not TARGET.fullmatch(target):
        raise head.fail(
            "target",
            f"{target!r} is not module:function",
            'write it like target = "myapp.checks:two_writers"',
        )
    instrument = head.strings("instrument")
    for name in instrument:
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
            raise head.fail(
                "instrument",
                f"{name!r} is not a module or package name",
                'write dotted names such as "myapp" or "myapp.cache"',
            )
    expect = head.string("expect", "clean", choices=EXPECTS)
    params = _table(path, data, "params")
    try:
        function = _bound_target(target, params)
    except ScenarioError as error:
        raise ScenarioError(f"{path}: [scenario] {error}") from None
    description = (
        head.string("description")
        if "description" in head.table
        else (inspect.getdoc(function) or target).split("\n", 1)[0]
    )
    code = fingerprint_of(getattr(function, "__wrapped__", function))
    return Scenario(
        name=path.stem,
        path=path,
        description=description,
        system="",
        variant="",
        expect=expect,
        workload=tuple(sorted(params.items())),
        properties=None,
        explore_settings=_explore_settings(path, data, defaults),
        expect_failure=_expect_failure(path, data, expect),
        fingerprint=fingerprint_of_content({"file": data, "code": code}),
        target=target,
        instrument=instrument,
    )


def add_import_root(root: Path) -> None:
    """Make modules under ``root`` importable for targets, as ``python -m`` does for the working
    directory (first on ``sys.path``, once)."""
    entry = str(root.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


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


def discover(
    paths: Iterable[str | Path], defaults: ExploreSettings | None = None
) -> list[Scenario]:
    """Scenarios from files, directories (``*.toml`` directly inside, sorted by name;
    ``reported/`` is never a scenario directory) and ``module:function`` targets. A file named
    explicitly may be a reported race (:func:`load`). Each appears once, in the order given."""
    found: list[tuple[str | Path, bool]] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found.extend(
                (p.resolve(), False)
                for p in sorted(path.glob("*.toml"))
                if p.is_file() and p.parent.name not in SKIPPED_DIRECTORIES
            )
        elif path.is_file():
            found.append((path.resolve(), True))
        elif isinstance(entry, str) and is_target(entry):
            found.append((entry, True))
        else:
            raise ScenarioError(
                f"{path}: no such file or directory (nor a module:function target); check the path"
            )
    unique: dict[str | Path, bool] = {}
    for spec, explicit in found:
        unique.setdefault(spec, explicit)
    return [
        load(spec if isinstance(spec, str) else str(spec), defaults)
        if explicit
        else load_scenario(spec, defaults)
        for spec, explicit in unique.items()
    ]


def is_reported(path: Path) -> bool:
    """Whether ``path`` is a reported-race file (a token and the scenario it points at)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(data.get("token"), str) and isinstance(data.get("scenario"), str)


def reported_scenario(reported: Reported) -> Scenario:
    """The scenario of a reported race, set up to find it again: the recorded strategy, seed and
    bounds, expecting a race of the recorded kind whose message contains the recorded key."""
    base = reported.scenario
    settings = attrs.evolve(base.explore_settings, **reported.overrides())
    return attrs.evolve(
        base,
        name=f"reported/{reported.path.stem}",
        description=base.description,
        expect="race",
        explore_settings=settings,
        expect_failure=ExpectFailure(kinds=(reported.kind,), mentions=(reported.message_contains,)),
        reported_from=reported.path,
    )


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
    seeded = strategy in SEEDED
    if "seed" in data and not seeded:
        raise checker.fail(
            "seed",
            f"strategy {strategy} does not use a seed, so a seed here replays nothing",
            "remove it",
        )
    if "seed" not in data and seeded:
        raise checker.fail("seed", f"missing; strategy {strategy} needs it", "add seed = N")
    return Reported(
        path=path,
        scenario=load_scenario(target),
        strategy=strategy,
        seed=checker.integer("seed", None, 0) if seeded else None,
        preemption_bound=checker.integer("preemption_bound", None, 0),
        max_schedules=checker.integer("max_schedules", None, 1),
        token=token,
        kind=checker.string("kind", choices=FAILURE_KINDS),
        message_contains=checker.string("message_contains"),
    )
