"""Compiled expressions: jmespath queries and Jinja templates, checked at load, cheap at run time.

An `Expr` is evaluated against the run's scope (a dict: input, settings, step outputs, ...).
Compilation does three things once per spec:
  * parse (syntax errors carry the column inside the expression),
  * check every function name and every root reference (`settings.X`, a step id) against what
    the spec declares, walking the parsed tree (jmespath itself only notices unknown functions
    when it evaluates),
  * specialise: a plain path such as `input.Addresses[0].City` becomes a chain of direct dict/list
    getters, about as fast as hand-written Python; anything else keeps jmespath's interpreter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jmespath
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jmespath import exceptions as jmes_errors

from .functions import JMESPATH_NAMES, JMESPATH_OPTIONS, REGISTRY, jinja_callables
from .jmes import compile_tree, path_getter, simple_path

MAX_EXPRESSION_LENGTH = 4_000
MAX_TEMPLATE_LENGTH = 20_000
MAX_RENDERED_LENGTH = 1_000_000


class ExpressionError(Exception):
    """Raised while compiling; the compiler turns it into a located SpecError."""

    def __init__(self, message: str, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset  # characters into the expression (or lines-1 into a template)
        self.hint = hint


class EvaluationError(Exception):
    """Raised while evaluating; the runner names the record and field."""


@dataclass(frozen=True)
class Names:
    """What an expression may refer to at its position in the spec."""

    roots: frozenset[str]
    settings: frozenset[str]
    # Names whose value is the same for every record of a run (settings, and lets built only
    # from settings): an expression using nothing else is evaluated once per run.
    constants: frozenset[str] = frozenset({"settings"})
    # Specialising (Plan.specialise): the values of the constant names, folded in at compile time.
    values: Mapping[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)

    def check(self, refs: Iterator[tuple[str, str | None]]) -> None:
        for root, second in refs:
            if root not in self.roots:
                known = ", ".join(sorted(self.roots))
                raise ExpressionError(f"unknown name '{root}'",
                                      hint=f"names available here: {known}; a step can only use earlier steps")
            if root == "settings" and second is not None and second not in self.settings:
                raise ExpressionError(f"unknown setting '{second}'",
                                      hint="declare it under settings:")


# --- jmespath ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    """A compiled jmespath expression. `evaluate(scope)` never parses."""

    source: str
    evaluate: Callable[[Mapping[str, Any]], Any] = field(repr=False, compare=False)
    is_path: bool = False  # True when specialised into direct getters
    constant: bool = False  # depends on run-constant names only (memoised per run's settings)
    # Specialised for known values (engine/fold.py): the value, if it folded to one; the truth of
    # a condition that no longer depends on the record; the root names it still reads; and the two
    # names of a plain `a.b` path, which the field closures read inline.
    literal: tuple[Any] | None = field(default=None, repr=False)  # may hold a secret setting: never shown
    decided: bool | None = None
    refs: frozenset[str] = frozenset()  # "@" among them: it reads the scope as a whole
    path2: tuple[str, str] | None = None
    name: str | None = None  # the name, when the expression is one name (`is_update`): read inline
    safe: bool = False  # cannot fail on any record (no function call, no slice): may be left out


def compile_expr(source: str, names: Names | None = None) -> Expr:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty expression")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        parsed = jmespath.compile(source)
    except jmes_errors.ParseError as exc:
        offset = exc.lex_position if isinstance(exc.lex_position, int) else 0
        raise ExpressionError(f"jmespath syntax error: {exc.msg} in {source!r}", offset,
                              "text literals are 'quoted', JSON literals `backquoted`") from None
    except jmes_errors.JMESPathError as exc:
        raise ExpressionError(f"jmespath error: {exc}") from None
    except RecursionError:
        raise ExpressionError("expression nests too deeply") from None
    ast = parsed.parsed
    for name in _function_names(ast):
        if name not in JMESPATH_NAMES:
            raise ExpressionError(f"unknown function '{name}()' in {source!r}",
                                  hint="see docs/functions.md for the functions available")
    if _negated_path(ast):
        raise ExpressionError(f"'!' applies to the first name only in {source!r}, so the rest always "
                              "yields null", hint="write !(a.b) or is_empty(a.b)")
    if names is not None:
        names.check(_root_refs(ast, at_root=True))
    decided, safe, original = None, False, ast
    specialising = names is not None and names.values is not None
    if specialising:
        from .fold import decided as decide  # only when specialising
        from .fold import fold, may_fail, reads

        ast = fold(ast, names.values)  # type: ignore[union-attr]
        if ast["type"] == "literal":
            value = ast["value"]
            return Expr(source, lambda scope: value, False, True, (value,), truthy(value), safe=True)
        decided, safe = decide(ast), not may_fail(original)
    path = simple_path(ast)
    compiled = compile_tree(ast) if path is None else None
    if path is None and compiled is None:
        ast = original  # jmespath's interpreter runs the tree as written: it reads what that reads
    # Specialising, "@" among them says the scope is read as a whole (then no let may be dropped).
    refs = reads(ast) if specialising else frozenset(root for root, _ in _root_refs(ast, at_root=True))
    shape = {"decided": decided, "refs": refs, "safe": safe}
    if names is not None and refs and refs <= names.constants and compiled is not None:
        return Expr(source, _memoised(compiled), False, True, **shape)
    if path is not None:
        two = (path[0], path[1]) if len(path) == 2 and all(isinstance(p, str) for p in path) else None
        one = path[0] if len(path) == 1 and isinstance(path[0], str) else None
        return Expr(source, path_getter(tuple(path)), True, path2=two, name=one, **shape)  # type: ignore[arg-type]
    if compiled is not None:
        # No wrapper: a jmespath error (a function given the wrong type) is rare and is
        # translated where the runner catches it, naming the step; the hot path stays one call.
        return Expr(source, compiled, False, **shape)

    def evaluate(scope: Mapping[str, Any]) -> Any:
        try:
            return parsed.search(scope, options=JMESPATH_OPTIONS)
        except jmes_errors.JMESPathError as exc:
            raise EvaluationError(f"{source}: {exc}") from None
    return Expr(source, evaluate, False, **shape)


def _memoised(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Evaluate once per run: the run's settings mapping is the same object for all its records."""
    last: list[tuple[Any, Any]] = [(None, None)]  # one (settings, value) pair, swapped atomically

    def evaluate(scope: Mapping[str, Any]) -> Any:
        key = scope.get("settings")
        cached_key, cached_value = last[0]
        if cached_key is key and key is not None:
            return cached_value
        value = fn(scope)
        last[0] = (key, value)
        return value
    return evaluate


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in node.get("children", []) if isinstance(c, dict)]


def _negated_path(node: dict[str, Any]) -> bool:
    """`!a.b` parses as `(!a).b`: a boolean's field, always null. Never what the author meant."""
    children = _children(node)
    if node.get("type") in ("subexpression", "index_expression") and children \
            and children[0].get("type") == "not_expression":
        return True
    return any(_negated_path(child) for child in children)


def _function_names(node: dict[str, Any]) -> Iterator[str]:
    if node.get("type") == "function_expression":
        yield node["value"]
    for child in _children(node):
        yield from _function_names(child)


# Node types whose first child is evaluated against the same value as the node and whose other
# children are evaluated against each element (or the left result), not against the scope.
_LEFT_ONLY = {"subexpression", "index_expression", "projection", "value_projection",
              "filter_projection", "flatten", "pipe"}


def _root_refs(node: dict[str, Any], at_root: bool) -> Iterator[tuple[str, str | None]]:
    kind = node.get("type")
    if kind == "field":
        if at_root:
            yield node["value"], None
        return
    if kind == "expref":
        return  # evaluated against array elements later
    children = _children(node)
    if kind == "subexpression" and at_root and children and children[0].get("type") == "field":
        second = children[1] if len(children) > 1 else None
        second_name = second["value"] if second and second.get("type") == "field" else None
        yield children[0]["value"], second_name
        for child in children[1:]:
            yield from _root_refs(child, False)
        return
    if kind in _LEFT_ONLY:
        if children:
            yield from _root_refs(children[0], at_root)
        for child in children[1:]:
            yield from _root_refs(child, False)
        return
    for child in children:
        yield from _root_refs(child, at_root)


def truthy(value: Any) -> bool:
    """jmespath truthiness: false, null, "", [] and {} are false; everything else is true."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


# --- Jinja ---------------------------------------------------------------------------------------

def _finalize(value: Any) -> Any:
    """{{ }} output as the rest of the engine writes text: null is "", booleans are true/false."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value


MAX_TEMPLATE_RANGE = 10_000


class _Sandbox(ImmutableSandboxedEnvironment):
    """The Jinja sandbox, with the operators that can build huge values bounded before they run."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) \
                        and len(seq) * times > MAX_RENDERED_LENGTH:
                    raise jinja2.exceptions.SecurityError(
                        f"repeating a value {times} times would exceed {MAX_RENDERED_LENGTH} characters")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise jinja2.exceptions.SecurityError("powers above 100 are not allowed in templates")
        return super().call_binop(context, operator, left, right)


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_TEMPLATE_RANGE:
        raise jinja2.exceptions.SecurityError(f"range() of more than {MAX_TEMPLATE_RANGE} numbers")
    return values


def _environment() -> jinja2.Environment:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False,
                   keep_trailing_newline=True, finalize=_finalize)
    env.globals["range"] = _bounded_range
    callables = jinja_callables()
    env.globals.update(callables)
    env.filters.update(callables)
    return env


JINJA = _environment()
JINJA_FUNCTIONS = frozenset(JINJA.globals)


@dataclass(frozen=True)
class Template:
    """A compiled sandboxed Jinja template that renders to text."""

    source: str
    render: Callable[[Mapping[str, Any]], str] = field(repr=False, compare=False)
    constant: str | None = None  # set when the template has no {{ }} / {% %} at all


def template_names(source: str) -> set[str]:
    """The names a (valid) template reads from the scope."""
    if "{{" not in source and "{%" not in source:
        return set()
    return set(meta.find_undeclared_variables(JINJA.parse(source))) - JINJA_FUNCTIONS


def compile_template(source: str, names: Names | None = None) -> Template:
    if not isinstance(source, str):
        raise ExpressionError("a template must be text")
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise ExpressionError(f"template longer than {MAX_TEMPLATE_LENGTH} characters")
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return Template(source, lambda scope: source, source)
    try:
        ast = JINJA.parse(source)
        parts = _text_and_names(ast)
        if parts is None:
            _jinja_template(source)  # now, so that its compile-time errors (an unknown filter) are load errors
    except jinja2.TemplateSyntaxError as exc:
        raise ExpressionError(f"Jinja syntax error: {exc.message}", (exc.lineno or 1) - 1,
                              "check that every {{ has its }} and every {% if %} its {% endif %}") from None
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name not in JINJA_FUNCTIONS \
                and call.node.name not in _template_locals(ast):
            raise ExpressionError(f"unknown function '{call.node.name}()' in template",
                                  hint="see docs/functions.md for the functions available")
    if names is not None:
        undeclared = meta.find_undeclared_variables(ast) - JINJA_FUNCTIONS
        refs = [(name, None) for name in sorted(undeclared)]
        for attr in ast.find_all(nodes.Getattr):
            if isinstance(attr.node, nodes.Name) and attr.node.name == "settings":
                refs.append(("settings", attr.attr))
        names.check(iter(refs))

    def jinja_render(scope: Mapping[str, Any]) -> str:
        try:
            text = _jinja_template(source).render(scope)
        except jinja2.UndefinedError as exc:
            raise EvaluationError(f"template refers to something undefined: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise EvaluationError(f"template blocked by the sandbox: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
            raise EvaluationError(f"template failed: {exc}") from None
        except MemoryError:
            raise EvaluationError("template failed: it needed more memory than there is") from None
        if len(text) > MAX_RENDERED_LENGTH:
            raise EvaluationError(f"template rendered more than {MAX_RENDERED_LENGTH} characters")
        return text
    return Template(source, jinja_render if parts is None else _direct_render(parts, jinja_render))


@functools.lru_cache(maxsize=4096)
def _jinja_template(source: str) -> jinja2.Template:
    """Jinja's compiled template for a source text, made once per process and shared: compiling
    (to Python code, then `compile`) is most of a spec's compile time, and the same texts recur
    (outcome messages, shared connection headers, a spec loaded again). A plain-path template
    (`{{ settings.SbmId }}`) is rendered directly and compiled only if it ever needs Jinja."""
    return JINJA.from_string(source)


# Names Jinja resolves itself, whatever the scope holds (`{{ self }}` is the template).
_JINJA_SPECIAL = frozenset({"self", "loop", "varargs", "kwargs", "caller"})
# A dict key that is also a dict attribute (`{{ x.items }}`) is the attribute to Jinja.
_DICT_ATTRIBUTES = frozenset(dir(dict))
Part = str | tuple[str, ...]


def _text_and_names(ast: nodes.Template) -> list[Part] | None:
    """`Dear {{ customer.name }},` as ['Dear ', ('customer', 'name'), ','], or None when the
    template does anything more than print names and dotted paths (those are left to Jinja)."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts: list[Part] = []
    for node in ast.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(node.data)
            continue
        path: list[str] = []
        while isinstance(node, nodes.Getattr):
            if node.attr in _DICT_ATTRIBUTES:
                return None
            path.append(node.attr)
            node = node.node
        if not isinstance(node, nodes.Name) or node.name in _JINJA_SPECIAL:
            return None
        path.append(node.name)
        parts.append(tuple(reversed(path)))
    return parts


def _direct_render(parts: list[Part], jinja_render: Callable[[Mapping[str, Any]], str]
                   ) -> Callable[[Mapping[str, Any]], str]:
    """Render by reading the paths straight from the scope: a Jinja render costs about fifty
    times that. Anything unusual on the way (a missing key, a value that is not an object) is
    handed to Jinja itself, so its result or its error stays the one and only behaviour."""
    pieces = tuple(parts)

    def render(scope: Mapping[str, Any]) -> str:
        out: list[str] = []
        for piece in pieces:
            if piece.__class__ is str:
                out.append(piece)  # type: ignore[arg-type]
                continue
            value: Any = scope
            for key in piece:
                if value.__class__ is not dict or key not in value:
                    return jinja_render(scope)
                value = value[key]
            out.append(str(_finalize(value)))
        text = "".join(out)
        if len(text) > MAX_RENDERED_LENGTH:
            return jinja_render(scope)  # raises the usual error
        return text
    return render


def _template_locals(ast: nodes.Template) -> set[str]:
    """Names a template binds itself ({% set %}, {% for %}, macros): not unknown functions."""
    bound: set[str] = set()
    for node in ast.find_all((nodes.Assign, nodes.For, nodes.Macro)):
        if isinstance(node, nodes.Macro):
            bound.add(node.name)
        else:
            for name in node.target.find_all(nodes.Name):
                bound.add(name.name)
    return bound


FUNCTION_NAMES = frozenset(REGISTRY)
