"""Footprints of user state: ``@sim.tracked`` classes and ``sim.note`` events.

A tracked class records, into the step that is running, every read and write of its instances'
attributes: those in the instance ``__dict__``, ``__slots__`` members, and class-level defaults read
before the first write (``class Flags: ready = False``); methods and other descriptors are not
state. Values are stored as given — a list assigned to a tracked attribute *is* that list
afterwards (no wrapper, no copy), so identity, aliasing, equality, ``isinstance`` and pickling are
the program's own. What happens *inside* a container is recorded by automatic footprints
(:mod:`sim._instrument`) in the code that touches it; code racesim does not instrument marks its
steps unseen, so nothing is silently missed.

Outside a racesim run nothing is recorded and the cost is one global lookup per access, so the
system under test runs unchanged under plain ``trio.run``.
"""

from __future__ import annotations

import os
import sys
import types
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


def _is_state(cls: type, name: str) -> bool:
    """``name`` looked up on an instance of ``cls`` without an instance ``__dict__`` entry is state
    (a class-level default or a ``__slots__`` member), not a method or other descriptor."""
    for klass in cls.__mro__:
        if name in vars(klass):
            value = vars(klass)[name]
            if isinstance(value, types.MemberDescriptorType):
                return True  # a __slots__ member
            return not (
                callable(value) or hasattr(value, "__get__") or isinstance(value, classmethod)
            )
    return False


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

    state_names: dict[str, bool] = {}

    def __getattribute__(self: Any, name: str) -> Any:
        value = base_getattribute(self, name)
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None and name[:2] != "__":
            try:
                own = name in object.__getattribute__(self, "__dict__")
            except AttributeError:
                own = False
            if not own:
                known = state_names.get(name)
                if known is None:
                    known = state_names[name] = _is_state(type(self), name)
                own = known
            if own:
                recorder.access(self, name, "read")
        return value

    def __setattr__(self: Any, name: str, value: Any) -> None:
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
