"""Rewrite a module's syntax tree so that its shared-state accesses are recorded (pure: no trio).

pytest rewrites ``assert`` statements at import time; racesim rewrites *accesses* the same way, so
that plain code needs no decorator before ``dpor`` can see what it touches. Every rewrite keeps the
evaluation order and the values of the original expression — the recorder is told, then the
original operation runs on the original objects, so identity, aliasing, exceptions and types are
untouched (``Wave 2 decisions``: instrumentation is invisible):

==================================  ==============================================================
source                              rewritten
==================================  ==============================================================
``x.a`` (load)                      ``__rs_get__(x, "a")`` — records, then ``getattr``
``x.a = v`` / ``del x.a``           ``__rs_obj__(x, "a", W).a = v`` — records, returns ``x``
``x.a += v``                        ``__rs_obj__(x, "a", AUG).a += v`` (also the value in place)
``x[k]`` (any context)              ``__rs_item__(x, kind)[k]`` — the container's contents (a
                                    loaded item is passed to ``__rs_use__``: nested containers)
``f(...)``                          ``__rs_call__(f)(...)`` — marks the step *unseen* when ``f``
                                    is code racesim cannot see
global / closure name load          ``__rs_name__(key, name, value)``
global / closure name store         the statement, then ``__rs_store__(key, name)``
local name consumed (call argument, ``__rs_use__(x)`` — reading a container's contents through
iteration, comparison, test)        a local alias counts
==================================  ==============================================================

Name scopes come from :mod:`symtable`, the compiler's own analysis, so a name is local, global or a
closure cell exactly as CPython decides. Private names are mangled as the compiler would before
``getattr`` sees them. The trade-off is cost: each rewritten access is a Python call (see
``benchmarks/bench_overhead.py``); ``@sim.tracked`` remains the cheaper, narrower path.
"""

from __future__ import annotations

import ast
import builtins
import symtable

READ, WRITE, AUG = 0, 1, 2


def _mangle(name: str, owner: str | None) -> str:
    if owner is None or not name.startswith("__") or name.endswith("__"):
        return name
    stripped = owner.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


def _call(helper: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(helper, ast.Load()), args=list(args), keywords=[])


class _Scope:
    """Where a name lives in one function (or the module), per :mod:`symtable`."""

    def __init__(self, table: symtable.SymbolTable, qualname: str) -> None:
        self.table = table
        self.qualname = qualname
        self.kinds: dict[str, str] = {}
        kind = table.get_type()
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if kind == "class":
                continue  # a class body runs once, when the class is defined
            if symbol.is_free() or (kind == "function" and _is_cell(table, name)):
                self.kinds[name] = "cell"
            elif symbol.is_global() or symbol.is_declared_global() or kind == "module":
                self.kinds[name] = "global"
            else:
                self.kinds[name] = "local"
        self._unused = list(table.get_children())

    def child(self, name: str, lineno: int) -> symtable.SymbolTable | None:
        for index, table in enumerate(self._unused):
            if table.get_name() == name and table.get_lineno() == lineno:
                return self._unused.pop(index)
        for index, table in enumerate(self._unused):
            if table.get_name() == name:
                return self._unused.pop(index)
        return None


def _is_cell(table: symtable.SymbolTable, name: str) -> bool:
    """``name`` is local to ``table`` but captured by a nested scope (a cell variable): CPython
    marks it free in every scope between the two, so the direct children tell."""
    for child in table.get_children():
        try:
            if child.lookup(name).is_free():
                return True
        except KeyError:
            continue
    return False


class Rewriter(ast.NodeTransformer):
    """The transformation of the module docstring, for one module's source."""

    def __init__(self, source: str, filename: str, module: str) -> None:
        self.module = module
        self.scopes = [_Scope(symtable.symtable(source, filename, "exec"), module)]
        self.classes: list[str | None] = [None]
        self.builtin_names = set(dir(builtins))

    # -- scopes --------------------------------------------------------------------------------
    @property
    def scope(self) -> _Scope:
        return self.scopes[-1]

    def _enter(self, name: str, lineno: int) -> bool:
        table = self.scope.child(name, lineno)
        if table is None:
            return False
        self.scopes.append(_Scope(table, f"{self.scope.qualname}.{name}"))
        return True

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> ast.AST:
        name = "lambda" if isinstance(node, ast.Lambda) else node.name
        if not isinstance(node, ast.Lambda):
            node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args = self.visit(node.args)
        if not self._enter(name, node.lineno):
            return node
        self.classes.append(self.classes[-1])
        try:
            if isinstance(node, ast.Lambda):
                node.body = self.visit(node.body)
            else:
                node.body = self._statements(node.body)
        finally:
            self.classes.pop()
            self.scopes.pop()
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return self._function(node)

    def visit_arguments(self, node: ast.arguments) -> ast.AST:
        node.defaults = [self.visit(d) for d in node.defaults]
        node.kw_defaults = [None if d is None else self.visit(d) for d in node.kw_defaults]
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        if not self._enter(node.name, node.lineno):
            return node
        self.classes.append(node.name)
        try:
            node.body = self._statements(node.body)
        finally:
            self.classes.pop()
            self.scopes.pop()
        return node

    def _comprehension(self, node: ast.AST, kind: str) -> ast.AST:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        generators[0].iter = self._use(self.visit(generators[0].iter))
        if not self._enter(kind, node.lineno):  # type: ignore[attr-defined]
            return node
        try:
            for index, generator in enumerate(generators):
                if index:
                    generator.iter = self._use(self.visit(generator.iter))
                generator.target = self.visit(generator.target)
                generator.ifs = [self.visit(test) for test in generator.ifs]
            for field in ("elt", "key", "value"):
                if hasattr(node, field):
                    setattr(node, field, self.visit(getattr(node, field)))
        finally:
            self.scopes.pop()
        return node

    def visit_ListComp(self, node: ast.ListComp) -> ast.AST:
        return self._comprehension(node, "listcomp")

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        return self._comprehension(node, "setcomp")

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        return self._comprehension(node, "dictcomp")

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.AST:
        return self._comprehension(node, "genexpr")

    # -- statements: stores to globals and cells are recorded after the statement ---------------
    def _statements(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for statement in body:
            before = self._reads_before(statement)
            result = self.visit(statement)
            stored = self._stored_names(statement)
            out.extend(before)
            if isinstance(result, list):
                out.extend(result)
            elif result is not None:
                out.append(result)
            out.extend(self._record_store(name, statement) for name in stored)
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field, old in ast.iter_fields(node):
            if isinstance(old, list) and old and isinstance(old[0], ast.stmt):
                setattr(node, field, self._statements(old))
            elif isinstance(old, list):
                new = []
                for item in old:
                    if isinstance(item, ast.AST):
                        value = self.visit(item)
                        if value is not None:
                            new.append(value)
                    else:
                        new.append(item)
                setattr(node, field, new)
            elif isinstance(old, ast.AST):
                setattr(node, field, self.visit(old))
        return node

    def _shared_kind(self, name: str) -> str | None:
        kind = self.scope.kinds.get(name)
        if kind == "global" and len(self.scopes) == 1:
            return None  # module-level code runs at import, outside any run
        if kind == "global" and name in self.builtin_names and not self._module_defines(name):
            return None
        return kind if kind in ("global", "cell") else None

    def _module_defines(self, name: str) -> bool:
        try:
            return self.scopes[0].table.lookup(name).is_assigned()
        except KeyError:
            return False

    def _key(self, name: str) -> ast.Constant:
        kind = self._shared_kind(name)
        if kind == "global":
            return ast.Constant(self.module)
        owner = self._cell_owner(name)
        return ast.Constant(f"{owner}.<locals>")

    def _cell_owner(self, name: str) -> str:
        for scope in reversed(self.scopes):
            if scope.kinds.get(name) == "cell" and not _is_free(scope.table, name):
                return scope.qualname
        return self.scope.qualname

    def _stored_names(self, statement: ast.stmt) -> list[str]:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AugAssign) or (
            isinstance(statement, ast.AnnAssign) and statement.value is not None
        ):
            targets = [statement.target]
        elif isinstance(statement, ast.Delete):
            targets = statement.targets
        elif isinstance(statement, ast.With | ast.AsyncWith):
            targets = [item.optional_vars for item in statement.items if item.optional_vars]
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            imported = [(a.asname or a.name).split(".")[0] for a in statement.names]
            return [n for n in imported if self._shared_kind(n)]
        names: list[str] = []
        for target in targets:
            for node in ast.walk(target):
                if (
                    isinstance(node, ast.Name)
                    and isinstance(node.ctx, ast.Store | ast.Del)
                    and self._shared_kind(node.id)
                ):
                    names.append(node.id)
        return names

    def _reads_before(self, statement: ast.stmt) -> list[ast.stmt]:
        """``x += await f()`` reads ``x`` before it awaits: record that read in its own step."""
        if not isinstance(statement, ast.AugAssign) or not isinstance(statement.target, ast.Name):
            return []
        name = statement.target.id
        if not self._shared_kind(name):
            return []
        read = self._name_load(name, ast.Name(name, ast.Load()))
        return [ast.copy_location(ast.Expr(read), statement)]

    def _record_store(self, name: str, statement: ast.stmt) -> ast.stmt:
        call = _call("__rs_store__", self._key(name), ast.Constant(name))
        return ast.copy_location(ast.Expr(call), statement)

    def visit_For(self, node: ast.For) -> ast.AST:
        return self._loop(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        return self._loop(node)

    def _loop(self, node: ast.For | ast.AsyncFor) -> ast.AST:
        node.iter = self._use(self.visit(node.iter))
        node.target = self.visit(node.target)
        stored = [
            n.id
            for n in ast.walk(node.target)
            if isinstance(n, ast.Name) and self._shared_kind(n.id)
        ]
        node.body = [self._record_store(name, node) for name in stored] + self._statements(
            node.body
        )
        node.orelse = self._statements(node.orelse)
        return node

    # -- expressions -------------------------------------------------------------------------
    def _name_load(self, name: str, node: ast.expr) -> ast.expr:
        return ast.copy_location(
            _call("__rs_name__", self._key(name), ast.Constant(name), node), node
        )

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and self._shared_kind(node.id):
            return self._name_load(node.id, node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = self.visit(node.value)
        name = _mangle(node.attr, self.classes[-1])
        if isinstance(node.ctx, ast.Load):
            return ast.copy_location(_call("__rs_get__", value, ast.Constant(name)), node)
        node.value = ast.copy_location(
            _call("__rs_obj__", value, ast.Constant(name), ast.Constant(WRITE)), node
        )
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        kind = READ if isinstance(node.ctx, ast.Load) else WRITE
        node.value = ast.copy_location(
            _call("__rs_item__", self.visit(node.value), ast.Constant(kind)), node
        )
        node.slice = self.visit(node.slice)
        if kind == READ:  # ``d["k"]`` may be a container whose contents the caller reads
            return ast.copy_location(_call("__rs_use__", node, ast.Constant(READ)), node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        target = node.target
        node.value = self._use(self.visit(node.value))
        if isinstance(target, ast.Attribute):
            target.value = ast.copy_location(
                _call(
                    "__rs_obj__",
                    self.visit(target.value),
                    ast.Constant(_mangle(target.attr, self.classes[-1])),
                    ast.Constant(AUG),
                ),
                target,
            )
        elif isinstance(target, ast.Subscript):
            target.value = ast.copy_location(
                _call("__rs_item__", self.visit(target.value), ast.Constant(WRITE)), target
            )
            target.slice = self.visit(target.slice)
        elif isinstance(target, ast.Name):
            # ``alias *= 2`` mutates a list in place: the value is written, whatever holds it
            use = _call("__rs_use__", ast.Name(target.id, ast.Load()), ast.Constant(WRITE))
            return [ast.copy_location(ast.Expr(use), node), node]  # type: ignore[return-value]
        return node

    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.AST:
        node.value = self.visit(node.value)
        name = node.target.id
        if not self._shared_kind(name):
            return node
        return ast.copy_location(
            _call("__rs_store__", self._key(name), ast.Constant(name), node), node
        )

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = self.visit(node.func)
        if not (isinstance(node.func, ast.Name) and node.func.id == "super"):
            func = ast.copy_location(_call("__rs_call__", func), node.func)
        node.func = func
        node.args = [self._use(self.visit(arg)) for arg in node.args]
        for keyword in node.keywords:
            keyword.value = self._use(self.visit(keyword.value))
        return node

    def _use(self, node: ast.expr) -> ast.expr:
        """A value whose contents the operation reads: record it when it is a local name (shared
        names and loads through attributes record themselves)."""
        inner = node.value if isinstance(node, ast.Starred) else node
        if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load):
            wrapped = ast.copy_location(_call("__rs_use__", inner, ast.Constant(READ)), inner)
            if isinstance(node, ast.Starred):
                node.value = wrapped
                return node
            return wrapped
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node.left = self._use(self.visit(node.left))
        node.comparators = [self._use(self.visit(c)) for c in node.comparators]
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node.left = self._use(self.visit(node.left))
        node.right = self._use(self.visit(node.right))
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        node.operand = self._use(self.visit(node.operand))
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        node.values = [self._use(self.visit(v)) for v in node.values]
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        node.test = self._use(self.visit(node.test))
        node.body = self._statements(node.body)
        node.orelse = self._statements(node.orelse)
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        node.test = self._use(self.visit(node.test))
        node.body = self._statements(node.body)
        node.orelse = self._statements(node.orelse)
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        node.test = self._use(self.visit(node.test))
        node.body = self.visit(node.body)
        node.orelse = self.visit(node.orelse)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node.value = self._use(self.visit(node.value))
        if node.format_spec is not None:
            node.format_spec = self.visit(node.format_spec)
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        node.test = self._use(self.visit(node.test))
        if node.msg is not None:
            node.msg = self.visit(node.msg)
        return node

    def visit_YieldFrom(self, node: ast.YieldFrom) -> ast.AST:
        node.value = self._use(self.visit(node.value))
        return node

    def visit_List(self, node: ast.List) -> ast.AST:
        return self._sequence(node)

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        return self._sequence(node)

    def visit_Set(self, node: ast.Set) -> ast.AST:
        return self._sequence(node)

    def _sequence(self, node: ast.List | ast.Tuple | ast.Set) -> ast.AST:
        node.elts = [
            self._use(self.visit(e)) if isinstance(e, ast.Starred) else self.visit(e)
            for e in node.elts
        ]
        return node


def _is_free(table: symtable.SymbolTable, name: str) -> bool:
    try:
        return table.lookup(name).is_free()
    except KeyError:
        return False


def rewrite(tree: ast.Module, source: str, filename: str, module: str) -> ast.Module:
    """``tree`` (parsed from ``source``, a whole module) rewritten, ready for ``compile``."""
    rewritten = Rewriter(source, filename, module).visit(tree)
    assert isinstance(rewritten, ast.Module)
    ast.fix_missing_locations(rewritten)
    for node in ast.walk(rewritten):  # pytest's assertion rewriting leaves end positions unset
        lineno = getattr(node, "lineno", None)
        if lineno is not None and (node.end_lineno is None or node.end_lineno < lineno):  # type: ignore[attr-defined]
            node.end_lineno = lineno  # type: ignore[attr-defined]
            node.end_col_offset = node.col_offset  # type: ignore[attr-defined]
    return rewritten
