"""Random small trio programs, emitted as the source text of real modules, and their outcome sets.

The property tests of issue 11 need programs that mix every kind of shared state racesim claims to
see (``@sim.tracked`` attributes, class-level defaults, ``__slots__``, nested containers, container
methods), state it does not see without automatic footprints (plain objects, module globals,
closure cells), and trio's synchronisation (Lock, Semaphore, Condition, Event, memory channels with
``clone``/``close``, cancel scopes with deadlines, async generators). Automatic footprints rewrite a
module's *source*, so a program here is text: :func:`generate` draws one from a seed and
:meth:`Program.load` writes it to a directory on ``sys.path`` and imports it under a unique module
name. The module exposes ``async def scenario()`` and a list ``RESULTS``; every run appends one
hashable snapshot of the shared state (and of what each task read) in a ``finally`` block, so
runs that fail or deadlock still say where they ended.

The reference is exhaustive ``dfs``: :func:`outcomes` drives a strategy with ``run_once`` (as
tests/test_dpor.py does) and collects, for *every* schedule, ``(snapshot, failure)`` where failure
is ``None`` or the run's kind with the types of the exceptions that ended it. Two strategies are
compared by these sets, never by counts.

Programs terminate by construction: every wait (Event, Condition, channel receive) sits under a
``trio.move_on_after`` deadline, sends never fill the buffer, and a cancel scope is entered at most
once. ``Knobs(deadlocks=True)`` drops some of those deadlines, so ``deadlock`` becomes an outcome.
Knobs also choose the features, the sizes, virtual-time sleeps (``timers``, for ``explore_time``)
and whether the tracked classes carry ``@sim.tracked`` at all (``decorate``), so one seed gives the
same program with and without instrumentation. Typical use::

    module = generate(7, Knobs(timers=True)).load(tmp_path)
    reference = outcomes(module, DfsStrategy(preemption_bound=1), explore_time=True)
    assert outcomes(module, DporStrategy(preemption_bound=1), explore_time=True).reached == (
        reference.reached
    )
"""

from __future__ import annotations

import hashlib
import importlib
import math
import random
import sys
from typing import TYPE_CHECKING, Any

import attrs

from sim._run import run_once
from sim.strategies.replay import ReplayStrategy

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from sim._run import Outcome
    from sim._schedule import Schedule

#: shared state
STATE_FEATURES = (
    "tracked",  # an attribute of a @sim.tracked instance
    "class_default",  # a @sim.tracked class attribute with a class-level default, read before written
    "slots",  # an attribute of a @sim.tracked class with __slots__
    "nested",  # a list inside a dict of a tracked instance: box.d["k"].append(x)
    "deque_insert",  # a tracked deque: insert(0, x) and append
    "set_intersection_update",  # a tracked set: intersection_update and add
    "list_imul_alias",  # `alias = box.l; alias *= 2`
    "alias",  # a plain list `delivered` and `box.bridge = delivered; box.bridge.append(x)`
    "untracked",  # an attribute of a plain object
    "global",  # a module global (`global G`) and a module-level dict
    "closure",  # a closure cell (`nonlocal c`)
)
#: synchronisation and control flow
SYNC_FEATURES = (
    "lock",
    "semaphore",  # `async with sem:` and reading sem.value
    "condition",
    "event",
    "channel",  # send, receive, clone, close, statistics()
    "cancel_deadline",  # a shared CancelScope: entered by one task, its deadline set by another
    "agen",  # async generators, run to the end or closed with contextlib.aclosing
)
#: opt-in: an async generator abandoned after ``break`` (finalised by trio, outside the schedule;
#: trio warns with a ResourceWarning, which a test must filter)
OPT_IN_FEATURES = ("agen_finalizer",)
ALL_FEATURES = frozenset(STATE_FEATURES + SYNC_FEATURES + OPT_IN_FEATURES)
DEFAULT_FEATURES = frozenset(STATE_FEATURES + SYNC_FEATURES)


@attrs.frozen
class Knobs:
    """What a generated program may contain."""

    features: frozenset[str] = DEFAULT_FEATURES
    tasks: tuple[int, int] = (2, 3)  #: inclusive range of model tasks
    ops: tuple[int, int] = (1, 4)  #: inclusive range of operations per task
    decorate: bool = True  #: put @sim.tracked on the tracked classes
    timers: bool = False  #: operations that sleep a nonzero virtual time
    deadlocks: bool = False  #: some waits without a deadline (deadlock is then an outcome)
    failures: bool = True  #: tasks may raise ValueError, the scenario may assert on the end state
    #: draws whose estimated number of interleavings (a multinomial over the tasks' checkpoints)
    #: is above this are thrown away and drawn again from the same random stream
    max_interleavings: int = 400
    state_per_program: tuple[int, int] = (1, 3)  #: inclusive range of state features used
    sync_per_program: tuple[int, int] = (0, 2)  #: inclusive range of sync features used

    def __attrs_post_init__(self) -> None:
        unknown = self.features - ALL_FEATURES
        if unknown:
            raise ValueError(f"unknown program features: {sorted(unknown)}")
        if not self.features & set(STATE_FEATURES):
            raise ValueError("a program needs at least one state feature")


@attrs.frozen
class Program:
    """One generated program: its source and what it uses."""

    seed: int
    knobs: Knobs
    features: frozenset[str]  #: the features this program actually uses
    source: str
    interleavings: int  #: the estimate the draw was accepted on

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:10]

    def load(self, directory: Path, tag: str = "") -> ModuleType:
        """Write the source to ``directory`` (put on ``sys.path``) and import it. ``tag`` makes a
        second, independent copy of the same source (its own module, classes and globals)."""
        name = f"racesim_generated_{self.seed}_{self.digest}{'_' + tag if tag else ''}"
        if name in sys.modules:
            return sys.modules[name]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.py").write_text(self.source)
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        module.scenario.__racesim_fingerprint__ = name
        return module


# -- drawing -----------------------------------------------------------------------------------------


@attrs.frozen
class _Loc:
    """A scalar location: how to read it, how to assign it, and the declaration it needs."""

    feature: str
    read: str
    target: str
    declare: str = ""  #: "global G" / "nonlocal c" in functions that assign it


_SCALARS = {
    "tracked": _Loc("tracked", "box.a", "box.a"),
    "class_default": _Loc("class_default", "flags.ready", "flags.ready"),
    "slots": _Loc("slots", "slotted.a", "slotted.a"),
    "untracked": _Loc("untracked", "plain.a", "plain.a"),
    "global": _Loc("global", "G", "G", "global G"),
    "closure": _Loc("closure", "c", "c", "nonlocal c"),
}

#: operations on containers: (lines, is_a_write)
_CONTAINER_OPS: dict[str, list[tuple[str, ...]]] = {
    "nested": [
        ('box.d["k"].append({k})',),
        ('log.append(len(box.d["k"]))',),
        ('box.d["k"] = box.d["k"] + [{k}]',),
    ],
    "deque_insert": [
        ("box.q.insert(0, {k})",),
        ("box.q.append({k})",),
        ("log.append(box.q[0])",),
    ],
    "set_intersection_update": [
        ("box.s.intersection_update({{{k}, {k1}}})",),
        ("box.s.add({k})",),
        ("log.append({k} in box.s)",),
    ],
    "list_imul_alias": [
        ("alias = box.l", "alias *= 2"),
        ("box.l.append({k})",),
        ("log.append(len(box.l))",),
    ],
    "alias": [
        ("box.bridge = delivered", "box.bridge.append({k})"),
        ("delivered.append({k})",),
        ("log.append((len(delivered), box.bridge is delivered))",),
        ("log.append((type(box.bridge).__name__, repr(box.bridge), box.bridge == delivered))",),
    ],
    "global": [
        ('REG["n"] = REG.get("n", 0) + {k}',),
        ('log.append(REG.get("n", 0))',),
    ],
}

_CHECKPOINT = "await trio.sleep(0)"


class _Drawer:
    def __init__(self, rng: random.Random, knobs: Knobs) -> None:
        self.rng = rng
        self.knobs = knobs
        enabled = knobs.features
        state = [f for f in STATE_FEATURES if f in enabled]
        sync = [f for f in SYNC_FEATURES + OPT_IN_FEATURES if f in enabled]
        low, high = knobs.state_per_program
        self.state = rng.sample(state, min(len(state), rng.randint(low, high)))
        low, high = knobs.sync_per_program
        self.sync = rng.sample(sync, min(len(sync), rng.randint(low, high)))
        self.scalars = [_SCALARS[f] for f in self.state if f in _SCALARS]
        if not self.scalars and any(
            f in self.sync for f in ("lock", "semaphore", "agen", "agen_finalizer")
        ):
            # sections and generators need a scalar: the first enabled one (tracked if none is)
            name = next((f for f in _SCALARS if f in enabled), "tracked")
            self.scalars.append(_SCALARS[name])
            self.state.append(name)
        self.scoped_taken = False  # a CancelScope can be entered once
        self.touched: set[str] = set()  #: features some operation uses

    def k(self) -> int:
        return self.rng.randint(1, 3)

    def scalar(self) -> _Loc | None:
        return self.rng.choice(self.scalars) if self.scalars else None

    def scalar_op(self, loc: _Loc, task: int) -> list[str]:
        self.touched.add(loc.feature)
        r, t, k = loc.read, loc.target, self.k()
        choices = [
            [f"log.append({r})"],
            [f"{t} = {k}"],
            [f"{t} += 1"],
            [f"v = {r}", _CHECKPOINT, f"{t} = v + 1"],
        ]
        if self.knobs.failures:
            choices.append([f"if {r} == {k}:", f'    raise ValueError("t{task} saw {k}")'])
        weights = [3, 2, 2, 3, 1][: len(choices)]
        return self.rng.choices(choices, weights)[0]

    def state_op(self, task: int) -> list[str]:
        feature = self.rng.choice(self.state)
        if feature in _CONTAINER_OPS and (feature not in _SCALARS or self.rng.random() < 0.5):
            k = self.k()
            self.touched.add(feature)
            lines = self.rng.choice(_CONTAINER_OPS[feature])
            return [line.format(k=k, k1=k + 1) for line in lines]
        return self.scalar_op(_SCALARS[feature], task)

    def section(self, task: int) -> list[str]:
        """The body of a critical section: an operation on a scalar, or just a checkpoint."""
        loc = self.scalar()
        return self.scalar_op(loc, task) if loc is not None else [_CHECKPOINT]

    def wait(self, lines: list[str], timeout: float = 5) -> list[str]:
        """``lines`` under a deadline, unless the deadlocks knob lets this wait block forever."""
        if self.knobs.deadlocks and self.rng.random() < 0.5:
            return lines
        return [f"with trio.move_on_after({timeout}):", *("    " + line for line in lines)]

    def sync_op(self, feature: str, task: int) -> list[str]:
        rng = self.rng
        self.touched.add(feature)
        if feature in ("agen", "agen_finalizer"):
            self.touched.add(self.scalars[0].feature)
        if feature == "lock":
            return ["async with lock:", *("    " + line for line in self.section(task))]
        if feature == "semaphore":
            if rng.random() < 0.3:
                return ["log.append(sem.value)"]
            return ["async with sem:", *("    " + line for line in self.section(task))]
        if feature == "condition":
            if rng.random() < 0.5:
                return ["async with cond:", "    cond_ready = True", "    cond.notify_all()"]
            return [
                *self.wait(
                    ["async with cond:", "    while not cond_ready:", "        await cond.wait()"]
                ),
                "log.append(cond_ready)",
            ]
        if feature == "event":
            if rng.random() < 0.5:
                return ["event.set()"]
            return [*self.wait(["await event.wait()"]), "log.append(event.is_set())"]
        if feature == "channel":
            choice = rng.choice(["send", "send", "receive", "receive", "clone", "close", "stats"])
            k = self.k()
            if choice == "send":
                return [
                    "try:",
                    f"    send.send_nowait({k})",
                    "except (trio.ClosedResourceError, trio.BrokenResourceError) as error:",
                    "    log.append(type(error).__name__)",
                ]
            if choice == "receive":
                if rng.random() < 0.5:
                    return [
                        "try:",
                        "    log.append(recv.receive_nowait())",
                        "except (trio.WouldBlock, trio.EndOfChannel) as error:",
                        "    log.append(type(error).__name__)",
                    ]
                return [
                    "try:",
                    *("    " + line for line in self.wait(["log.append(await recv.receive())"], 1)),
                    "except trio.EndOfChannel:",
                    '    log.append("EndOfChannel")',
                ]
            if choice == "clone":
                return [
                    "try:",
                    "    extra = send.clone()",
                    "except trio.ClosedResourceError:",
                    '    log.append("clone after close")',
                    "else:",
                    f"    extra.send_nowait({k})",
                    "    extra.close()",
                ]
            if choice == "close":
                return ["send.close()"]
            return ["log.append(recv.statistics().current_buffer_used)"]
        if feature == "cancel_deadline":
            if not self.scoped_taken and rng.random() < 0.5:
                self.scoped_taken = True
                return [
                    "with scope:",
                    '    log.append("in")',
                    f"    {_CHECKPOINT}",
                    '    log.append("through")',
                    "log.append(scope.cancelled_caught)",
                ]
            return [
                rng.choice(
                    [
                        "scope.deadline = trio.current_time()",
                        "scope.deadline = trio.current_time() + 1",
                        "scope.cancel()",
                    ]
                )
            ]
        if feature == "agen":
            if rng.random() < 0.5:
                return ["async for x in stream():", "    log.append(x)"]
            return [
                "async with contextlib.aclosing(closing_stream()) as items:",
                "    async for x in items:",
                "        log.append(x)",
                "        break",
            ]
        if feature == "agen_finalizer":
            return ["async for x in closing_stream():", "    log.append(x)", "    break"]
        raise AssertionError(feature)

    def op(self, task: int) -> list[str]:
        if self.knobs.timers and self.rng.random() < 0.15:
            return [f"await trio.sleep({self.rng.choice([0.5, 1, 2])})"]
        if self.sync and self.rng.random() < 0.45:
            return self.sync_op(self.rng.choice(self.sync), task)
        return self.state_op(task)


def _steps(lines: list[str]) -> int:
    """About how many scheduling steps the lines take (for the size filter only)."""
    text = "\n".join(lines)
    generators = text.count("stream()") * 2
    return (
        1 + text.count("await ") + text.count("async with ") + text.count("async for ") + generators
    )


def _interleavings(tasks: list[list[str]]) -> int:
    steps = [_steps(task) for task in tasks]
    return math.factorial(sum(steps)) // math.prod(math.factorial(s) for s in steps)


def generate(seed: int, knobs: Knobs | None = None) -> Program:
    """The program of ``seed`` (the same seed and knobs always give the same source)."""
    knobs = knobs or Knobs()
    rng = random.Random(seed)
    while True:
        drawer = _Drawer(rng, knobs)
        count = rng.randint(*knobs.tasks)
        tasks: list[list[str]] = []
        for number in range(count):
            lines: list[str] = []
            for index in range(rng.randint(*knobs.ops)):
                if index:
                    lines.append(_CHECKPOINT)
                lines.extend(drawer.op(number))
            tasks.append(lines)
        estimate = _interleavings(tasks)
        if estimate <= knobs.max_interleavings:
            break
    forbidden = None
    scalars = [loc for loc in drawer.scalars if loc.feature in drawer.touched]
    if knobs.failures and scalars and rng.random() < 0.5:
        forbidden = (rng.choice(scalars), rng.randint(0, 3))
    source = _emit(seed, knobs, drawer, tasks, forbidden)
    return Program(seed, knobs, frozenset(drawer.touched), source, estimate)


# -- emitting ----------------------------------------------------------------------------------------


def _emit(
    seed: int,
    knobs: Knobs,
    drawer: _Drawer,
    tasks: list[list[str]],
    forbidden: tuple[_Loc, int] | None,
) -> str:
    used = drawer.touched
    decorator = ["@sim.tracked"] if knobs.decorate else []
    out = [
        f'"""Generated by tests/programs.py: seed {seed}, features {", ".join(sorted(used))}."""',
        "",
        "import collections",
        "import contextlib",
        "",
        "import trio",
        "",
        "import sim",
        "",
        "RESULTS = []",
        "G = 0",
        "REG = {}",
        "",
    ]
    box_attrs = []
    if "tracked" in used:
        box_attrs.append("self.a = 0")
    if "nested" in used:
        box_attrs.append('self.d = {"k": []}')
    if "deque_insert" in used:
        box_attrs.append("self.q = collections.deque([0])")
    if "set_intersection_update" in used:
        box_attrs.append("self.s = {1, 2, 3}")
    if "list_imul_alias" in used:
        box_attrs.append("self.l = [1]")
    if "alias" in used:
        box_attrs.append("self.bridge = None")
    if box_attrs:
        out += [*decorator, "class Box:", "    def __init__(self):"]
        out += ["        " + line for line in box_attrs] + ["", ""]
    if "class_default" in used:
        out += [*decorator, "class Flags:", "    ready = 0", "", ""]
    if "slots" in used:
        out += [*decorator, "class Slotted:", '    __slots__ = ("a",)', ""]
        out += ["    def __init__(self):", "        self.a = 0", "", ""]
    if "untracked" in used:
        out += ["class Plain:", "    def __init__(self):", "        self.a = 0", "", ""]

    body: list[str] = ["global G", "G = 0", "REG.clear()"]
    if box_attrs:
        body.append("box = Box()")
    if "class_default" in used:
        body.append("flags = Flags()")
    if "slots" in used:
        body.append("slotted = Slotted()")
    if "untracked" in used:
        body.append("plain = Plain()")
    body.append("c = 0")
    if "alias" in used:
        body.append("delivered = []")
    if "lock" in used:
        body.append("lock = trio.Lock()")
    if "semaphore" in used:
        body.append(f"sem = trio.Semaphore({drawer.rng.randint(1, 2)})")
    if "condition" in used:
        body += ["cond = trio.Condition()", "cond_ready = False"]
    if "event" in used:
        body.append("event = trio.Event()")
    if "channel" in used:
        body.append("send, recv = trio.open_memory_channel(64)")
    if "cancel_deadline" in used:
        body.append("scope = trio.CancelScope()")
    body.append(f"logs = tuple([] for _ in range({len(tasks)}))")
    loc = drawer.scalars[0] if drawer.scalars else None
    if "agen" in used and loc is not None:
        body += ["", "async def stream():", "    for _ in range(2):", f"        yield {loc.read}"]
        body += [f"        {_CHECKPOINT}"]
    if ("agen" in used or "agen_finalizer" in used) and loc is not None:
        body += ["", "async def closing_stream():"]
        if loc.declare:
            body.append(f"    {loc.declare}")
        body += ["    try:", f"        yield {loc.read}", f"        yield {loc.read}"]
        body += ["    finally:", f"        {loc.target} += 10"]
    declarations = ["global G", "nonlocal c"]
    if "condition" in used:
        declarations.append("nonlocal cond_ready")
    for number, lines in enumerate(tasks):
        body += ["", f"async def t{number}():", *("    " + d for d in declarations)]
        body += [f"    log = logs[{number}]", *("    " + line for line in lines)]

    snapshot = []
    if "tracked" in used:
        snapshot.append("box.a")
    if "nested" in used:
        snapshot += ['tuple(box.d["k"])', "type(box.d).__name__"]
    if "deque_insert" in used:
        snapshot += ["tuple(box.q)", "type(box.q).__name__"]
    if "set_intersection_update" in used:
        snapshot += ["tuple(sorted(box.s))", "type(box.s).__name__"]
    if "list_imul_alias" in used:
        snapshot += ["tuple(box.l)", "type(box.l).__name__"]
    if "alias" in used:
        snapshot += ["tuple(delivered)", "box.bridge is delivered", "type(box.bridge).__name__"]
    if "class_default" in used:
        snapshot.append("flags.ready")
    if "slots" in used:
        snapshot.append("slotted.a")
    if "untracked" in used:
        snapshot.append("plain.a")
    snapshot += ["G", 'REG.get("n")', "c"]
    if "semaphore" in used:
        snapshot.append("sem.value")
    if "condition" in used:
        snapshot.append("cond_ready")
    if "event" in used:
        snapshot.append("event.is_set()")
    if "channel" in used:
        snapshot.append("drain()")
    if "cancel_deadline" in used:
        snapshot.append("scope.cancelled_caught")
    snapshot.append("tuple(tuple(log) for log in logs)")
    if "channel" in used:
        body += [
            "",
            "def drain():",
            "    items = []",
            "    while True:",
            "        try:",
            "            items.append(recv.receive_nowait())",
            "        except (trio.WouldBlock, trio.EndOfChannel):",
            "            return tuple(items)",
        ]
    body += ["", "try:", "    async with trio.open_nursery() as nursery:"]
    body += [f'        nursery.start_soon(t{n}, name="t{n}")' for n in range(len(tasks))]
    body += ["finally:", "    RESULTS.append((", *(f"        {s}," for s in snapshot), "    ))"]
    if forbidden is not None:
        where, value = forbidden
        body.append(f'assert {where.read} != {value}, "{where.read} ended at {value}"')
    out += ["async def scenario():", *("    " + line if line else "" for line in body), ""]
    return "\n".join(out)


# -- running -----------------------------------------------------------------------------------------


def automatic_footprints(module: ModuleType) -> dict[str, Any]:
    """The ``run_once`` arguments that record the program's accesses without decorators (issue 11:
    ``instrument=``)."""
    return {"instrument": (module.__name__,)}


def failure_of(outcome: Outcome) -> tuple[str, tuple[str, ...]] | None:
    """``None`` for a passing run, else its kind and the sorted types of the exceptions that ended
    it (messages of assertions show only what the snapshot already says)."""
    if outcome.kind is None:
        return None
    if outcome.kind in ("assertion", "exception"):
        names = sorted({part.split(":")[0].strip() for part in outcome.message.split("; ")})
        return (outcome.kind, tuple(names))
    return (outcome.kind, ())


@attrs.frozen
class Outcomes:
    """What one strategy reached on one program."""

    reached: frozenset[tuple[object, object]]  #: (final-state snapshot, failure_of)
    runs: int
    exhausted: bool
    schedules: tuple[Schedule, ...] = ()  #: the schedules run, when asked for


def outcomes(
    module: ModuleType,
    strategy: Any,
    *,
    limit: int = 2000,
    keep_schedules: bool = False,
    **run: Any,
) -> Outcomes:
    """Drive ``strategy`` over the program's ``scenario`` until it is done or ``limit`` runs, and
    collect ``(snapshot, failure)`` of every run. ``run`` goes to ``run_once`` (``mode``,
    ``explore_time``, and ``instrument`` once racesim has it)."""
    reached: set[tuple[object, object]] = set()
    schedules: list[Schedule] = []
    runs = 0
    while runs < limit and strategy.new_execution():
        outcome = run_program(module, strategy, **run)
        strategy.execution_finished(outcome[2].trace, outcome[2].schedule)
        runs += 1
        reached.add(outcome[:2])
        if keep_schedules:
            schedules.append(outcome[2].schedule)
    done = runs < limit or not strategy.new_execution()
    return Outcomes(frozenset(reached), runs, done, tuple(schedules))


def run_program(module: ModuleType, strategy: Any, **run: Any) -> tuple[object, object, Outcome]:
    """One run: ``(snapshot, failure_of, outcome)``."""
    module.RESULTS.clear()
    outcome = run_once(module.scenario, strategy, **run)
    snapshot = module.RESULTS[0] if module.RESULTS else None
    return snapshot, failure_of(outcome), outcome


def replay_program(
    module: ModuleType, schedule: Schedule, **run: Any
) -> tuple[object, object, Outcome]:
    """``(snapshot, failure_of, outcome)`` of ``module`` run under exactly ``schedule`` (raises
    ``ReplayDivergence`` when the program no longer follows it)."""
    strategy = ReplayStrategy(schedule)
    strategy.new_execution()
    snapshot, failure, outcome = run_program(
        module, strategy, mode=schedule.mode, explore_time=schedule.explore_time, **run
    )
    strategy.execution_finished(outcome.trace, outcome.schedule)
    return snapshot, failure, outcome
