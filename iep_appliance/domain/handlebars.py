"""A bounded Handlebars runtime: pybars3's parser and code generator, our own lookups and limits.

pybars3 resolves a path segment it cannot find as a key with `getattr`, and calls whatever
callable it finds: `{{x.__class__}}` reaches `str`, calls it with the scope, and iterating a
pybars `Scope` never ends (its `get` answers every index). So the generated code of each
template runs in a namespace of ours (`_NAMESPACE`) instead of pybars' module:

- lookups resolve dict keys and list indexes (and `length`) only, never an attribute, and a
  value is never called;
- every block entered, path resolved and `#each` item counts one step against `max_steps`;
- every piece of output counts its characters against the output limit as it is appended.

The budget of the render running on this thread sits in a thread-local, so renders on several
threads (a worker thread for a heavy message) do not share it. Pure: no I/O, no clock.
"""

from __future__ import annotations

import ast
import functools
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from pybars import Compiler, PybarsError, Scope, strlist
from pybars._compiler import escape, prepare, resolve_subexpr

__all__ = [
    "Budget",
    "LimitExceeded",
    "Template",
    "compile_template",
    "run",
]

Template = Callable[..., Any]

_COMPILER = Compiler()
# pybars keeps its code builder in shared state, so two threads compiling at once would corrupt
# each other's output; running a compiled template is reentrant and needs no lock.
_COMPILE_LOCK = threading.Lock()


class _Local(threading.local):
    budget: Budget | None = None  # the budget of the render running on this thread


_LOCAL = _Local()


class LimitExceeded(Exception):
    """A render went over one of its limits; `limit` names it ("max_steps", …).

    `deferred` is set when only the caller's inline slice ran out (the full budget may still
    suffice): the caller can run the render again off the event loop with the full budget.
    """

    def __init__(self, limit: str, value: int, deferred: bool = False) -> None:
        super().__init__(f"render limit: {limit} {value} exceeded")
        self.limit = limit
        self.value = value
        self.deferred = deferred


class Budget:
    """What one render may still spend. `slice_steps` below `max_steps` makes the render stop
    early with a *deferred* `LimitExceeded` (too much work for the event loop, not too much)."""

    __slots__ = ("chars", "max_output", "max_steps", "sliced", "steps")

    def __init__(self, max_steps: int, max_output: int, slice_steps: int | None = None) -> None:
        self.max_steps = max_steps
        self.max_output = max_output
        self.sliced = slice_steps is not None and slice_steps < max_steps
        self.steps = slice_steps if self.sliced and slice_steps is not None else max_steps
        self.chars = max_output

    def out_of_steps(self) -> LimitExceeded:
        return LimitExceeded("max_steps", self.max_steps, deferred=self.sliced)

    def out_of_output(self) -> LimitExceeded:
        return LimitExceeded("max_output_bytes", self.max_output)


def _step() -> None:
    # Outside `run` there is no budget (None): the attribute error stops the render.
    budget: Any = _LOCAL.budget
    budget.steps -= 1
    if budget.steps < 0:
        raise budget.out_of_steps()


class _Out(strlist):  # type: ignore[misc]  # pybars ships no types
    """The output list of one block. Values count their characters as they are added; the
    literal text of a block is counted once when the block starts (see `_charge_literals`)."""

    __slots__ = ()

    def grow(self, thing: Any) -> None:
        kind = type(thing)
        if kind is str:
            budget: Any = _LOCAL.budget
            budget.chars -= len(thing)
            if budget.chars < 0:
                raise budget.out_of_output()
            list.append(self, thing)
        elif kind is _Out:  # a nested block's output: counted when it was added there
            list.extend(self, thing)
        else:
            for element in thing:
                self.grow(element)


def _pick(context: Any, name: Any) -> Any:
    """`context[name]` for a dict key or a list index (or `length`); anything else is None."""
    kind = type(context)
    if kind is dict:
        return context.get(name)
    if kind is list or kind is tuple:
        if name == "length":
            return len(context)
        if isinstance(name, int):
            index = name
        elif isinstance(name, str) and name.isdigit():
            index = int(name)
        else:
            return None
        return context[index] if 0 <= index < len(context) else None
    if isinstance(context, _Scope):
        return context.get(name)
    return None  # strings (also the verbatim `strlist` ones), numbers, booleans, None


# The names a scope answers itself (`this`, `@index`, …) and the attribute each reads.
_SCOPE_NAMES = {
    "this": "context",
    "@root": "root",
    "@_parent": "parent",
    "@index": "index",
    "@key": "key",
    "@first": "first",
    "@last": "last",
}


class _Scope(Scope):  # type: ignore[misc]  # pybars ships no types
    """pybars' Scope (`@index`, `@root`, `../` …) looking up keys and indexes only."""

    __iter__ = None  # `Scope.get` answers every index: never iterate

    def get(self, name: Any, default: Any = None) -> Any:
        if type(name) is str and name and (name[0] == "@" or name == "this"):
            attr = _SCOPE_NAMES.get(name)
            return None if attr is None else getattr(self, attr)
        if self.overrides and name in self.overrides:
            return self.overrides[name]
        context = self.context
        if type(context) is dict:
            return context.get(name)
        return _pick(context, name)

    __getitem__ = get


def _resolve(context: Any, *segments: str) -> Any:
    """pybars' `resolve` (paths `a.b.0`, `../x`, `@../index`) over `_pick`; one step."""
    budget: Any = _LOCAL.budget
    budget.steps -= 1
    if budget.steps < 0:
        raise budget.out_of_steps()
    if len(segments) == 1 and type(context) is _Scope:  # `{{name}}`: the common case
        segment = segments[0]
        return context.get(segment) if segment else context.context
    carry = False
    for segment in segments:
        if carry:
            carry = False
            segment = f"@{segment}"
        if len(segment) > 1 and segment[:2] == "@@":
            segment = segment[1:]
            carry = True
        if context is None:
            return None
        if not segment:
            continue
        context = _pick(context, segment)
    return context


def _ensure_scope(context: Any, root: Any, literal_chars: int = 0) -> _Scope:
    """Every block (and the template itself) starts here: one step, and its literal text."""
    budget: Any = _LOCAL.budget
    budget.steps -= 1
    if budget.steps < 0:
        raise budget.out_of_steps()
    if literal_chars:
        budget.chars -= literal_chars
        if budget.chars < 0:
            raise budget.out_of_output()
    return context if isinstance(context, _Scope) else _Scope(context, context, root)


def _each(this: Any, options: dict[str, Any], context: Any) -> Any:
    if type(context) is dict:
        pairs: list[tuple[Any, Any]] = list(context.items())
    elif type(context) is list or type(context) is tuple:
        pairs = [(None, value) for value in context]
    else:
        pairs = []
    if not pairs:
        return options["inverse"](this)
    result = _Out()
    last = len(pairs) - 1
    fn = options["fn"]
    root = options["root"]
    for index, (key, value) in enumerate(pairs):
        _step()
        scope = _Scope(
            value, this, root, index=index, key=key, first=index == 0, last=index == last
        )
        result.grow(fn(scope))
    return result


def _if(this: Any, options: dict[str, Any], context: Any) -> Any:
    return options["fn"](this) if context else options["inverse"](this)


def _unless(this: Any, options: dict[str, Any], context: Any) -> Any:
    return options["inverse"](this) if context else options["fn"](this)


def _with(this: Any, options: dict[str, Any], context: Any) -> Any:
    return options["fn"](context)


def _lookup(this: Any, context: Any, key: Any) -> Any:
    _step()
    return _pick(context, key)


def _log(this: Any, *args: Any) -> None:
    return None


def _block_helper_missing(this: Any, options: dict[str, Any], context: Any) -> Any:
    """`{{#name}}…{{/name}}` with no helper `name`: a section over the value (Mustache)."""
    if context != "" and not context:
        return options["inverse"](this)
    if type(context) is list or type(context) is tuple:
        return _each(this, options, context)
    return options["fn"](this if context is True else context)


def _helper_missing(scope: Any, name: str, *args: Any) -> None:
    if not args:
        return None
    raise PybarsError(f"Could not find property {name}")


_HELPERS = {
    "blockHelperMissing": _block_helper_missing,
    "each": _each,
    "if": _if,
    "helperMissing": _helper_missing,
    "log": _log,
    "unless": _unless,
    "with": _with,
    "lookup": _lookup,
}
# The names the generated code uses (see pybars' FunctionContainer.full_code), ours where it
# matters; the helpers dict is copied per render by the generated code itself.
_NAMESPACE = {
    "strlist": _Out,
    "Scope": _Scope,
    "PybarsError": PybarsError,
    "_pybars_": {"helpers": _HELPERS},
    "escape": escape,
    "resolve": _resolve,
    "resolve_subexpr": resolve_subexpr,
    "prepare": prepare,
    "ensure_scope": _ensure_scope,
    "partial": partial,
}


def _charge_literals(module: ast.Module) -> ast.Module:
    """Pass each block function's literal text length to its `ensure_scope` call.

    A block function of pybars' generated code is straight-line: it runs every
    `result.append('literal')` it holds once per call, so the sum is known now and charged once
    when the block starts, instead of a counting `append` per piece (the hot path's cost)."""
    for func in module.body:
        if not isinstance(func, ast.FunctionDef):
            continue
        chars = 0
        entry: ast.Call | None = None
        for node in ast.walk(func):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if (
                isinstance(callee, ast.Attribute)
                and callee.attr == "append"
                and isinstance(callee.value, ast.Name)
                and callee.value.id == "result"
            ):
                arg = node.args[0] if node.args else None
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise PybarsError("unexpected generated code: append of a non-literal")
                chars += len(arg.value)
            elif isinstance(callee, ast.Name) and callee.id == "ensure_scope":
                entry = node
        if entry is None:
            raise PybarsError(f"unexpected generated code: {func.name} has no ensure_scope")
        entry.args.append(ast.copy_location(ast.Constant(chars), entry))
    return module


@functools.lru_cache(maxsize=1024)
def compile_template(source: str) -> tuple[Template | None, str | None]:
    """(template, None) or (None, the parser's message); cached (compiling costs ~25 ms)."""
    try:
        with _COMPILE_LOCK:
            container = _COMPILER._generate_code(source)
        code = _charge_literals(ast.parse(container.code))
        namespace = dict(_NAMESPACE)
        exec(compile(code, "<template>", "exec", dont_inherit=True), namespace)
    except PybarsError as exc:
        return None, str(exc)
    except Exception as exc:  # the parser raises bare errors on some malformed input
        return None, f"{type(exc).__name__}: {exc}"
    return namespace[container.name], None


def run(template: Template, variables: Any, budget: Budget) -> str:
    """Render `template` over `variables`, spending `budget` (shared by every call with it).

    Raises LimitExceeded over a limit; anything else the template raises propagates."""
    outer = _LOCAL.budget
    _LOCAL.budget = budget
    try:
        return str(template(variables))
    finally:
        _LOCAL.budget = outer


def parse(source: str) -> list[Any]:
    """pybars3's parsed form of `source`: `['template', node, …]`, each node a tuple such as
    `('escapedexpand', ('path', ['user', '', 'name']), [args])` or `('block', name, args,
    body, else_body)`. Raises PybarsError (or the parser's bare error) when it does not parse."""
    with _COMPILE_LOCK:
        prepared = _COMPILER.whitespace_control(source)
        tree, (position, _) = _COMPILER._handlebars(prepared).apply("template")
    if position < len(prepared):
        raise PybarsError(f"Error at character {position}")
    return list(tree)
