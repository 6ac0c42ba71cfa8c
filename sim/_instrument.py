"""Automatic footprints: instrument the code under test, record what it touches, flag what it hides.

**Why source rewriting.** A footprint needs the *object* an access touches. ``sys.settrace`` with
opcode events (3.11) and ``sys.monitoring`` (3.12+) report that an instruction ran, never the
operands on the value stack, so neither can tell which dict a ``STORE_SUBSCR`` wrote. Rewriting
the syntax tree (as pytest rewrites ``assert``) passes the objects to the recorder at the point of
access, costs nothing outside a run (one global lookup and a ``None`` test per access), and keeps
the user's objects untouched: no proxies, no copies, so identity, aliasing, ``isinstance``,
pickling and ``repr`` are what the program made them. :mod:`sim._rewrite` holds the transformation.

**What gets instrumented.** The scenario's own module by default, plus every module or package the
user names (``instrument=`` on :func:`sim.explore` and the pytest marker, ``instrument = [...]`` in a
scenario file or ``[tool.racesim]``). Modules already imported are recompiled from their source and
their functions' ``__code__`` swapped in place (every reference to the function sees it; pytest's
assertion rewriting is applied first where pytest had applied it); modules imported later go
through an import hook that never writes bytecode caches.

**Keys.** An attribute ``(object, name)``; a container's contents ``(container, "")``, the
container named after where it was first found (``Client#1.received``, ``app.CACHE``) — builtin
container methods are classified as reading or writing the contents, anything unknown counts as
a write; a module global ``(module, name)``, the same key as ``module.name`` from elsewhere; a
closure cell ``(defining function, name)``, conservatively shared by every call of that function.

**Unknown is dependent.** A step that ran Python code racesim did not instrument — a call from
instrumented code into such a function, a task whose coroutine is such code, or a task that was
suspended inside such code — is marked *unseen* (:attr:`sim._trace.Step.unseen`). ``dpor`` treats
it as dependent on every step that touched anything, and the result says how many steps were
unseen. trio (whose objects :mod:`sim._primitives` records), racesim itself and a few stdlib
modules that only wrap calls (``contextlib``, ``functools``) count as seen. C functions are seen
when they are known readers (``len``, ``sorted``, ...) or methods of builtin containers; any other
C function with possible effects (``next``, ``heapq.heappush``, a ``random.Random`` method) marks
the step unseen. Blind spot, stated: an uninstrumented function called back *from C code*
(``sorted(key=f)`` where ``f`` lives in an uninstrumented module) runs without a mark.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import functools
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import threading
import types
import typing
from typing import TYPE_CHECKING, Any

import trio

from . import _rewrite, _trace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

_CONTAINERS = (list, dict, set, bytearray, collections.deque)
_IMMUTABLE = (
    str, bytes, int, float, complex, tuple, frozenset, range, type(None), re.Pattern, re.Match
)  # fmt: skip
#: ``object``'s slots that change their object (everything else of ``object`` only looks)
_WRITING_SLOTS = frozenset({"__setattr__", "__delattr__", "__set__", "__delete__"})
#: Container attributes that only look at the contents; every other one counts as a write.
_OBSERVING = frozenset(
    {
        "__contains__", "__getitem__", "__iter__", "__len__", "__eq__", "__ne__", "__repr__",
        "__reversed__", "__sizeof__", "__format__", "__str__", "__hash__", "__class__",
        "copy", "count", "index", "get", "keys", "values", "items", "maxlen", "issubset",
        "issuperset", "isdisjoint", "union", "intersection", "difference",
        "symmetric_difference", "fromkeys", "most_common", "elements", "total", "hex",
        "decode", "startswith", "endswith", "find", "rfind", "default_factory",
    }
)  # fmt: skip
#: Builtins that read their arguments and change nothing racesim does not record otherwise.
_PURE_BUILTINS = frozenset(
    {
        "len", "isinstance", "issubclass", "repr", "str", "int", "float", "bool", "complex",
        "list", "tuple", "dict", "set", "frozenset", "sorted", "reversed", "sum", "min", "max",
        "any", "all", "enumerate", "zip", "map", "filter", "range", "abs", "round", "hash", "id",
        "type", "print", "format", "divmod", "callable", "iter", "ord",
        "chr", "pow", "bytes", "bytearray", "object", "slice", "ascii", "bin", "hex", "oct",
        "locals", "globals", "memoryview",
    }
)  # fmt: skip
_SEEN_DIRS = (os.path.dirname(trio.__file__) + os.sep, os.path.dirname(__file__) + os.sep)
#: stdlib modules that only wrap calls or make typing objects: nothing shared
_SEEN_FILES = frozenset({functools.__file__, contextlib.__file__, typing.__file__})
_PYTEST_ASSERTION = os.sep + os.path.join("_pytest", "assertion") + os.sep
#: C functions with no effect on the program's shared state (urandom reads the OS's entropy)
_SEEN_C_FUNCTIONS = frozenset({("posix", "urandom"), ("nt", "urandom")})
#: Python stdlib modules whose functions only compute on their arguments (or make new objects)
_PURE_STDLIB = ("base64", "binascii", "struct", "hashlib", "string", "re", "codecs", "enum",
                "dataclasses", "keyword", "numbers", "types", "textwrap", "encodings")  # fmt: skip
_SEEN_MODULES = frozenset(
    {"builtins", "math", "operator", "_operator", "_abc", "abc", "_functools", "_struct",
     "binascii", "_codecs", "zlib", "_sre", "_hashlib", "_sha1", "_sha256", "_md5", "_json"}
)  # fmt: skip

_STDLIB = os.path.dirname(os.__file__) + os.sep
_STDLIB_PURE_PATHS = tuple(
    _STDLIB + name + suffix for name in _PURE_STDLIB for suffix in (".py", os.sep)
)

#: Every code object produced by instrumentation (and its nested ones).
INSTRUMENTED: set[types.CodeType] = set()
_modules: dict[str, tuple[types.ModuleType, dict[tuple[str, int], types.CodeType]]] = {}
_targets: set[str] = set()
_verdicts: dict[types.CodeType, bool] = {}


# -- the recorder hooks the rewritten code calls -------------------------------------------------
def _recorder() -> _trace.Recorder | None:
    recorder = _trace.ACTIVE
    if recorder is None or recorder.current is None or recorder.thread != threading.get_ident():
        return None
    return recorder


def _contents(recorder: _trace.Recorder, container: object, kind: _trace.AccessKind) -> None:
    if kind == "read" and type(container) is collections.defaultdict:
        kind = "write"  # a missing key is inserted by the lookup
    recorder.access(container, "", kind, True)


def get(obj: Any, name: str) -> Any:
    """``obj.name`` as a load."""
    value = getattr(obj, name)
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder = _recorder()
        if recorder is not None:
            if isinstance(obj, _CONTAINERS):
                _contents(recorder, obj, "read" if name in _OBSERVING else "write")
            elif isinstance(obj, types.ModuleType):
                recorder.access_named(obj.__name__, name, "read", True)
            else:
                recorder.access(obj, name, "read", True)
                if not isinstance(obj, type) and not callable(value):
                    _class_default(recorder, obj, name)
            if isinstance(value, _CONTAINERS):
                if not isinstance(obj, _CONTAINERS):
                    owner = obj.__name__ if isinstance(obj, types.ModuleType) else None
                    recorder.name_object(value, f"{owner or recorder.key_of(obj)}.{name}")
                _contents(recorder, value, "read")
    return value


def _class_default(recorder: _trace.Recorder, instance: Any, name: str) -> None:
    """``instance.name`` found on its class (a default): a read of the class's attribute too, so
    ``Flags.ready = True`` elsewhere conflicts with it."""
    state = getattr(instance, "__dict__", None)
    if isinstance(state, dict) and name in state:
        return
    for klass in type(instance).__mro__:
        if name in vars(klass):
            recorder.access(klass, name, "read", True)
            return


def obj(target: Any, name: str, kind: int) -> Any:
    """The object of ``target.name = ...`` / ``del target.name`` / ``target.name += ...``."""
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder = _recorder()
        if recorder is not None:
            if isinstance(target, types.ModuleType):
                recorder.access_named(target.__name__, name, "write", True)
            else:
                recorder.access(target, name, "write", True)
            if kind == _rewrite.AUG:  # ``x.items += [...]`` changes the list in place
                state = getattr(target, "__dict__", None)
                current = state.get(name) if isinstance(state, dict) else None
                if isinstance(current, _CONTAINERS):
                    _contents(recorder, current, "write")
    return target


def item(container: Any, kind: int) -> Any:
    """The object of ``container[key]`` in any context."""
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder = _recorder()
        if recorder is not None:
            _contents(recorder, container, "read" if kind == _rewrite.READ else "write")
    return container


def use(value: Any, kind: int) -> Any:
    """A local name whose contents an operation reads (or, for ``x op= ...``, writes)."""
    if isinstance(value, _CONTAINERS):
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None:
            recorder = _recorder()
            if recorder is not None:
                _contents(recorder, value, "read" if kind == _rewrite.READ else "write")
    return value


def name(key: str, label: str, value: Any) -> Any:
    """A load of a module global or closure cell ``label``."""
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder = _recorder()
        if recorder is not None:
            recorder.access_named(key, label, "read", True)
            if isinstance(value, _CONTAINERS):
                recorder.name_object(value, f"{key}.{label}")
                _contents(recorder, value, "read")
    return value


def store(key: str, label: str, value: Any = None) -> Any:
    """A store to a module global or closure cell ``label`` (after it happened)."""
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder = _recorder()
        if recorder is not None:
            recorder.access_named(key, label, "write", True)
    return value


def _getattr(target: Any, attr: str, *default: Any) -> Any:
    try:
        return get(target, attr)
    except AttributeError:
        if default:
            return default[0]
        raise


def _hasattr(target: Any, attr: str) -> bool:
    try:
        get(target, attr)
    except AttributeError:
        return False
    return True


def _setattr(target: Any, attr: str, value: Any) -> None:
    setattr(obj(target, attr, _rewrite.WRITE), attr, value)


def _delattr(target: Any, attr: str) -> None:
    delattr(obj(target, attr, _rewrite.WRITE), attr)


def _read_fields(value: Any, recorder: _trace.Recorder, depth: int = 4) -> None:
    """Reads of ``value``'s fields, and of the containers it holds (nested ones too, a few deep:
    ``json.dumps`` reads everything it is given)."""
    if isinstance(value, _CONTAINERS):
        _contents(recorder, value, "read")
        if depth:
            for inner in value.values() if isinstance(value, dict) else value:
                if isinstance(inner, _CONTAINERS):
                    _read_fields(inner, recorder, depth - 1)
        return
    for field in getattr(value, "__dict__", {}):
        recorder.access(value, field, "read", True)
    for klass in type(value).__mro__:
        for field in vars(klass).get("__slots__", ()):
            recorder.access(value, field, "read", True)


def _reading(function: Callable[..., Any]) -> Callable[..., Any]:
    """A library function that only reads its arguments' fields (and makes new objects)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = _recorder()
        if recorder is not None:
            for value in (*args, *kwargs.values()):
                _read_fields(value, recorder)
        return function(*args, **kwargs)

    return wrapper


def _library_readers() -> dict[Any, Callable[..., Any]]:
    import copy
    import dataclasses
    import json

    readers: list[Any] = [
        copy.copy,
        dataclasses.replace,
        dataclasses.asdict,
        dataclasses.astuple,
        json.dumps,
        json.loads,
    ]
    try:
        import attr
        import attrs

        readers += [attr.evolve, attr.asdict, attr.astuple, attrs.asdict, attrs.astuple]
    except ImportError:  # attrs is a dependency of racesim, but stay importable without it
        pass
    return {function: _reading(function) for function in dict.fromkeys(readers)}


#: Builtins that access an attribute named at run time: recorded like ``x.name``.
_DYNAMIC: dict[Any, Callable[..., Any]] = {
    getattr: _getattr,
    hasattr: _hasattr,
    setattr: _setattr,
    delattr: _delattr,
}
#: Library functions known to read their arguments' fields only (``attrs.evolve``, ...).
_READERS = _library_readers()


def call(function: Any) -> Any:
    """The callee of a call in instrumented code: mark the step unseen if racesim cannot see it."""
    recorder = _trace.ACTIVE
    if recorder is not None and recorder.current is not None:
        recorder = _recorder()
        if recorder is not None:
            if type(function) is types.BuiltinFunctionType and function in _DYNAMIC:
                return _DYNAMIC[function]
            if type(function) is types.FunctionType and function in _READERS:
                return _READERS[function]
            hidden = _hidden(function, recorder)
            if hidden is not None:
                recorder.mark_unseen(hidden)
    return function


def _hidden(function: Any, recorder: _trace.Recorder) -> str | None:
    """None when calling ``function`` is visible to racesim, else what hides it."""
    kind = type(function)
    if kind is types.FunctionType:
        return _code_hidden(function.__code__)
    if kind is types.MethodType:
        return _hidden(function.__func__, recorder)
    if kind is types.MethodWrapperType:  # a slot bound to an object: ``super().__init__``
        owner = function.__self__
        defining = next((k for k in type(owner).__mro__ if function.__name__ in vars(k)), object)
        if defining in (object, *_IMMUTABLE) and function.__name__ not in _WRITING_SLOTS:
            return None
    if kind is types.BuiltinFunctionType or kind is types.MethodWrapperType:  # bound C code
        owner = function.__self__
        if isinstance(owner, (*_IMMUTABLE, type)):  # str.join, dict.fromkeys: nothing shared
            return None
        if isinstance(owner, _CONTAINERS):
            _contents(recorder, owner, "read" if function.__name__ in _OBSERVING else "write")
            return None
        if isinstance(owner, types.ModuleType):
            if owner.__name__ == "builtins":
                return None if function.__name__ in _PURE_BUILTINS else f"{function.__name__}()"
            if owner.__name__ in _SEEN_MODULES or owner.__name__.startswith("trio"):
                return None
            if (owner.__name__, function.__name__) in _SEEN_C_FUNCTIONS:
                return None
        return f"{getattr(owner, '__name__', type(owner).__name__)}.{function.__name__}()"
    if kind is types.WrapperDescriptorType or kind is types.MethodDescriptorType:
        # an unbound C method (``object.__init__`` in a super() chain, ``bytes.join``)
        seen = function.__objclass__ in (object, *_IMMUTABLE)
        return None if seen and function.__name__ not in _WRITING_SLOTS else f"{function!r}"
    if isinstance(function, type):
        return _class_hidden(function)
    if kind is functools.partial:
        return _hidden(function.func, recorder)
    if kind is types.GenericAlias:  # list[int](...), a subscripted generic function
        return _hidden(function.__origin__, recorder)
    call_method = vars(kind).get("__call__") if hasattr(kind, "__dict__") else None
    if isinstance(call_method, types.FunctionType):
        return _code_hidden(call_method.__code__)
    return f"{kind.__name__} object"


def _class_hidden(cls: type) -> str | None:
    if cls.__module__ == "builtins" or cls.__module__.startswith("trio"):
        return None
    if hasattr(cls, "__dataclass_fields__") and "__init__" not in _own_source_methods(cls):
        return None  # a generated __init__ only stores its arguments on the new object
    if issubclass(cls, tuple) and "__new__" not in _own_source_methods(cls):
        return None  # a namedtuple: its generated __new__ builds an immutable value
    for method in ("__new__", "__init__"):
        function = getattr(cls, method, None)
        function = getattr(function, "__func__", function)
        if isinstance(function, types.FunctionType):
            hidden = _code_hidden(function.__code__)
            if hidden is not None:
                return hidden
    return None


def _own_source_methods(cls: type) -> set[str]:
    """Methods of ``cls`` written in a source file (not generated by dataclasses or attrs)."""
    return {
        name
        for name, value in vars(cls).items()
        if isinstance(value, types.FunctionType) and not value.__code__.co_filename.startswith("<")
    }


def _code_hidden(code: types.CodeType) -> str | None:
    verdict = _verdicts.get(code)
    if verdict is None:
        filename = code.co_filename
        verdict = _verdicts[code] = (
            code in INSTRUMENTED
            or filename.startswith(_SEEN_DIRS)
            or filename.startswith(_STDLIB_PURE_PATHS)
            or filename in _SEEN_FILES
            or filename.startswith(("<attrs generated", "<frozen"))
            or "outcome" + os.sep in filename
            or _PYTEST_ASSERTION in filename  # formats a failed assert's message, touches nothing
        )
    if verdict:
        return None
    return f"{code.co_qualname}() at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"


def suspended_hidden(coro: Any) -> str | None:
    """What hides the frames a task is suspended in (its await chain), or None."""
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is None:
            return None
        hidden = _code_hidden(code)
        if hidden is not None:
            return hidden
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return None


HOOKS: dict[str, Callable[..., Any]] = {
    "__rs_get__": get,
    "__rs_obj__": obj,
    "__rs_item__": item,
    "__rs_call__": call,
    "__rs_name__": name,
    "__rs_store__": store,
    "__rs_use__": use,
}  #: the names the rewritten code calls (:mod:`sim._rewrite`), installed in each module


# -- instrumenting modules -----------------------------------------------------------------------
class InstrumentError(ValueError):
    """A module named for instrumentation cannot be found or read."""


def _compile(source: str, filename: str, module: str, pytest_rewritten: bool) -> types.CodeType:
    tree = ast.parse(source, filename)
    if pytest_rewritten:
        from _pytest.assertion.rewrite import rewrite_asserts

        rewrite_asserts(tree, source.encode(), filename)
    tree = _rewrite.rewrite(tree, source, filename, module)
    code = compile(tree, filename, "exec", dont_inherit=True)
    _register(code)
    return code


def _register(code: types.CodeType) -> None:
    INSTRUMENTED.add(code)
    _verdicts.pop(code, None)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _register(const)


def _codes(code: types.CodeType) -> dict[tuple[str, int], types.CodeType]:
    found = {(code.co_qualname, code.co_firstlineno): code}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.update(_codes(const))
    return found


def _swap(function: Any, codes: dict[tuple[str, int], types.CodeType], seen: set[int]) -> None:
    if id(function) in seen:
        return
    seen.add(id(function))
    wrapped = getattr(function, "__wrapped__", None)
    if wrapped is not None:
        _swap(wrapped, codes, seen)
    if isinstance(function, staticmethod | classmethod):
        _swap(function.__func__, codes, seen)
    elif isinstance(function, property):
        for accessor in (function.fget, function.fset, function.fdel):
            if accessor is not None:
                _swap(accessor, codes, seen)
    elif isinstance(function, type):
        for value in list(vars(function).values()):
            _swap(value, codes, seen)
    elif isinstance(function, types.FunctionType):
        code = function.__code__
        new = codes.get((code.co_qualname, code.co_firstlineno))
        if new is not None and new is not code and new.co_freevars == code.co_freevars:
            function.__code__ = new
        for cell in function.__closure__ or ():
            try:
                _swap(cell.cell_contents, codes, seen)
            except ValueError:  # an empty cell
                continue


def _source_of(module: types.ModuleType) -> tuple[str, str] | None:
    filename = getattr(module, "__file__", None)
    if not filename or not filename.endswith(".py"):
        return None
    try:
        with open(filename, "rb") as handle:
            raw = handle.read()
        return importlib.util.decode_source(raw), filename
    except (OSError, UnicodeDecodeError, SyntaxError):
        return None


def instrument_module(module: types.ModuleType) -> bool:
    """Instrument an imported module in place; False when its source cannot be read."""
    done = _modules.get(module.__name__)
    if done is not None and done[0] is module:
        return True
    found = _source_of(module)
    if found is None:
        return False
    source, filename = found
    if filename.startswith(_SEEN_DIRS):
        return False  # racesim and trio are modelled, never rewritten
    try:
        code = _compile(source, filename, module.__name__, "@py_builtins" in vars(module))
    except SyntaxError:
        return False
    vars(module).update(HOOKS)
    codes = _codes(code)
    seen: set[int] = set()
    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__module__ != module.__name__:
            continue
        if isinstance(value, types.FunctionType) and value.__code__.co_filename != filename:
            continue
        _swap(value, codes, seen)
    _modules[module.__name__] = (module, codes)
    return True


def instrument_function(function: Any) -> None:
    """Instrument ``function``'s module and ``function`` itself (a closure made before, say)."""
    target = inspect_unwrap(function)
    code = getattr(target, "__code__", None)
    if code is not None and code in INSTRUMENTED:
        return
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    if module is None or not instrument_module(module):
        return
    _swap(target, _modules[module.__name__][1], set())


def inspect_unwrap(function: Any) -> Any:
    while isinstance(function, functools.partial):
        function = function.func
    return getattr(function, "__wrapped__", function)


def _matches(module_name: str) -> bool:
    return any(module_name == t or module_name.startswith(t + ".") for t in _targets)


def instrument(targets: Iterable[str]) -> None:
    """Instrument the named modules/packages: those imported now, and those imported later."""
    new = [t for t in targets if t not in _targets]
    if not new:
        return
    for target in new:
        if not target or not all(part.isidentifier() for part in target.split(".")):
            raise InstrumentError(
                f"instrument: {target!r} is not a module name; give dotted names such as 'myapp'"
            )
    _targets.update(new)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for module_name, module in list(sys.modules.items()):
        if module is not None and _matches(module_name):
            instrument_module(module)


class _Loader(importlib.machinery.SourceFileLoader):
    """Compiles the rewritten source; never reads or writes bytecode caches."""

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        source = importlib.util.decode_source(self.get_data(path))
        return _compile(source, path, fullname, pytest_rewritten=False)

    def exec_module(self, module: types.ModuleType) -> None:
        vars(module).update(HOOKS)
        code = self.get_code(module.__name__)
        exec(code, vars(module))
        _modules[module.__name__] = (module, _codes(code))


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _matches(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _Loader(fullname, spec.loader.path)
        return spec


def prepare(scenario: Any, targets: Iterable[str] = ()) -> None:
    """Instrument what a run of ``scenario`` executes: the named modules/packages, those the
    scenario itself names (``__racesim_instrument__``, set by scenario files), and the scenario's
    own module and function."""
    named = tuple(getattr(scenario, "__racesim_instrument__", ()))
    instrument((*named, *targets))
    instrument_function(scenario)
