"""Footprints of user state: ``@sim.tracked`` classes and ``sim.note`` events.

A tracked class records, into the step that is running, every read and write of its instances'
attributes (only attributes that live in the instance ``__dict__``: methods and class constants are
not state). Mutable containers assigned to a tracked attribute (``dict``, ``list``, ``set``,
``collections.deque``) are wrapped so that mutating them counts as a write of that attribute and
looking into them as a read: ``self.sessions[user] = s`` is a write of ``sessions``, not a read.

The trade-off: keys are whole attributes, not container items, so two tasks touching different keys
of one dict still conflict. That is conservative — it can only add dependencies (more schedules for
DPOR, possible race reports on genuinely shared containers), never hide one.

Outside a racesim run nothing is recorded and the cost is one global lookup per access, so the
system under test runs unchanged under plain ``trio.run``.
"""

from __future__ import annotations

import collections
import os
import sys
from typing import TYPE_CHECKING, Any, TypeVar

from . import _trace

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T", bound=type)


def _caller_location(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def note(label: str, /, **attrs: object) -> None:
    """Record the event ``label`` (with attributes, e.g. ``run="r1"``) in the running step.

    Required orders (``sim.Order``) are stated over these labels. Outside a racesim run this does
    nothing, so instrumented code runs unchanged under plain trio.
    """
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder.note(label, attrs, _caller_location())


def _record(owner: object, attr: str, kind: _trace.AccessKind) -> None:
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder.access(owner, attr, kind)


def _wrap_methods(
    base: type, reads: tuple[str, ...], writes: tuple[str, ...]
) -> Callable[[type], type]:
    def decorate(cls: type) -> type:
        def make(name: str, kind: _trace.AccessKind) -> Callable[..., Any]:
            original = getattr(base, name)

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                _record(self._owner, self._attr, kind)
                return original(self, *args, **kwargs)

            method.__name__ = name
            method.__qualname__ = f"{cls.__name__}.{name}"
            return method

        for name in reads:
            setattr(cls, name, make(name, "read"))
        for name in writes:
            setattr(cls, name, make(name, "write"))
        return cls

    return decorate


_COMMON_READS = ("__contains__", "__iter__", "__len__", "__eq__", "__repr__", "copy")


@_wrap_methods(
    dict,
    (*_COMMON_READS, "__getitem__", "get", "keys", "values", "items"),
    ("__setitem__", "__delitem__", "pop", "popitem", "setdefault", "update", "clear"),
)
class TrackedDict(dict):  # type: ignore[type-arg]
    """A dict whose reads and writes count as accesses of its owner's attribute."""

    def __init__(self, owner: object, attr: str, data: dict[Any, Any]) -> None:
        super().__init__(data)
        self._owner = owner
        self._attr = attr

    __hash__ = None


@_wrap_methods(
    list,
    (*_COMMON_READS, "__getitem__", "index", "count"),
    (
        "__setitem__",
        "__delitem__",
        "__iadd__",
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "clear",
        "sort",
        "reverse",
    ),
)
class TrackedList(list):  # type: ignore[type-arg]
    """A list whose reads and writes count as accesses of its owner's attribute."""

    def __init__(self, owner: object, attr: str, data: list[Any]) -> None:
        super().__init__(data)
        self._owner = owner
        self._attr = attr

    __hash__ = None


@_wrap_methods(
    set,
    (*_COMMON_READS, "issubset", "issuperset", "union", "intersection", "difference"),
    ("add", "discard", "remove", "pop", "clear", "update", "difference_update", "__ior__"),
)
class TrackedSet(set):  # type: ignore[type-arg]
    """A set whose reads and writes count as accesses of its owner's attribute."""

    def __init__(self, owner: object, attr: str, data: set[Any]) -> None:
        super().__init__(data)
        self._owner = owner
        self._attr = attr

    __hash__ = None


@_wrap_methods(
    collections.deque,
    (*_COMMON_READS, "__getitem__", "index", "count"),
    (
        "__setitem__",
        "__delitem__",
        "append",
        "appendleft",
        "extend",
        "extendleft",
        "pop",
        "popleft",
        "remove",
        "clear",
        "rotate",
    ),
)
class TrackedDeque(collections.deque):  # type: ignore[type-arg]
    """A deque whose reads and writes count as accesses of its owner's attribute."""

    def __init__(self, owner: object, attr: str, data: collections.deque[Any]) -> None:
        super().__init__(data, data.maxlen)
        self._owner = owner
        self._attr = attr

    def __reduce__(self) -> Any:
        return (collections.deque, (list(self), self.maxlen))


_WRAPPERS: dict[type, type] = {
    dict: TrackedDict,
    list: TrackedList,
    set: TrackedSet,
    collections.deque: TrackedDeque,
}


def tracked(cls: T) -> T:
    """Class decorator: record attribute reads and writes of instances into the running step.

    Two steps *conflict* when they touch the same attribute of the same instance and one writes;
    conflicting steps unordered by happens-before are reported as a data race, and DPOR uses the
    same relation to decide which interleavings are worth exploring.
    """
    # Looked up on the class, these are the unbound functions instances would use.
    base_getattribute: Callable[[Any, str], Any] = cls.__getattribute__  # type: ignore[assignment]
    base_setattr: Callable[[Any, str, Any], None] = cls.__setattr__  # type: ignore[assignment]
    base_delattr: Callable[[Any, str], None] = cls.__delattr__  # type: ignore[assignment]

    def __getattribute__(self: Any, name: str) -> Any:
        value = base_getattribute(self, name)
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None and name[:2] != "__":
            try:
                state = object.__getattribute__(self, "__dict__")
            except AttributeError:
                return value
            if name in state:
                recorder.access(self, name, "read")
        return value

    def __setattr__(self: Any, name: str, value: Any) -> None:
        wrapper = _WRAPPERS.get(type(value))
        if wrapper is not None:
            value = wrapper(self, name, value)
        _record(self, name, "write")
        base_setattr(self, name, value)

    def __delattr__(self: Any, name: str) -> None:
        _record(self, name, "write")
        base_delattr(self, name)

    cls.__getattribute__ = __getattribute__  # type: ignore[assignment]
    cls.__setattr__ = __setattr__  # type: ignore[assignment]
    cls.__delattr__ = __delattr__  # type: ignore[assignment]
    cls.__racesim_tracked__ = True  # type: ignore[attr-defined]
    return cls
