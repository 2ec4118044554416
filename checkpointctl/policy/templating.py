"""Sandboxed Jinja2 in policy strings.

Only strings containing ``{{``, ``{%`` or ``{#`` are templates; everything else is returned as
is. A string that is exactly one ``{{ expression }}`` keeps the expression's type (so
``port: "{{ registry_port }}"`` gives an integer and ``from: "{{ controller_cidrs }}"`` a list),
as Ansible users expect; the result is then checked against the schema like any literal.

Templates are compiled once per policy, and a policy is rendered once per distinct set of the
variables it actually uses, so 1,000 hosts sharing a region render a regional policy once. Values
that come from hosts are never templates: rendering happens only on policy text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from checkpointctl.errors import Diagnostic, Location
from checkpointctl.model import REDACTED, Secret
from checkpointctl.policy.schema import is_template
from checkpointctl.yamlsource import Document, PathKey, field_path

MAX_NESTING = 100
"""Deepest nesting of brackets a template may have. Jinja's parser and code generator recurse
once per level, so a deeper template would end in a RecursionError whose depth depends on the
caller's own stack and on the interpreter's recursion limit: refused before parsing instead,
the same way every time. Real templates nest a handful of levels."""
MAX_RENDERED = 64 * 1024
"""A rendered policy string longer than this is refused (template loops that blow up)."""

MAX_POWER_BITS = 4096
"""``**`` whose result would be longer than this many bits is refused (``{{ 9**9**9 }}``)."""


class _PolicyEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded.

    Jinja folds constant expressions at compile time, so ``{{ 9**9**9 }}`` or ``{{ 'a' * 10**10 }}``
    would hang or exhaust memory while the policy is merely being compiled. Intercepted operators
    are never folded, and here they refuse results that could not be a policy value anyway.
    """

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if (
            operator == "**"
            and _int(left)
            and _int(right)
            and abs(left) > 1
            and abs(left).bit_length() * right > MAX_POWER_BITS
        ):
            raise SecurityError(f"{left} ** {right} is too large for a policy value")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and _int(n) and len(seq) * n > MAX_RENDERED:
                    raise SecurityError(
                        f"repeating a value {n} times gives more than {MAX_RENDERED} items"
                    )
        return super().call_binop(context, operator, left, right)


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_ENV = _PolicyEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


_WHOLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|\{#).)*)\}\}$", re.S)


SECRET_FIELD = re.compile(r"^spec\.(credentials\[\d+\]\.secret|containers\[\d+\]\.env\.[^.]+)$")
"""Fields a secret variable may fill (the ones a vaulted policy value may fill)."""


class _SecretVariable:
    """A secret variable (an Ansible-vaulted inventory value) while a template renders.

    ``"{{ token }}"`` (the whole value) gives the secret itself; anything that would turn it
    into text (``"Bearer {{ token }}"``, ``{{ token | upper }}``) is refused by the sandbox,
    since a secret must neither leak into a string nor silently become ``<sensitive>``.
    """

    __slots__ = ("secret",)

    def __init__(self, secret: Secret) -> None:
        self.secret = secret

    def _refuse(self, *_: object) -> str:
        raise SecurityError(
            "a vaulted variable can only be a whole value ('{{ name }}'), not part of a text"
        )

    __str__ = _refuse
    __format__ = _refuse
    __html__ = _refuse


def _guard(value: object) -> object:
    """``value`` with every secret inside it wrapped as a :class:`_SecretVariable`."""
    if isinstance(value, Secret):
        return _SecretVariable(value)
    if isinstance(value, dict):
        return {k: _guard(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_guard(v) for v in value]
    return value


def _holds_secret(value: object) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _guarded(variables: Mapping[str, object], names: frozenset[str] | tuple[str, ...]) -> Any:
    """The variables a template sees: those among ``names`` holding secrets are guarded."""
    secret = [n for n in names if n in variables and _holds_secret(variables[n])]
    if not secret:
        return variables
    return {**variables, **{n: _guard(variables[n]) for n in secret}}


def _key(value: object) -> str:
    """A cache key of a variable's value: its repr, except that secrets (whose repr is
    always ``<sensitive>``) are told apart by digest, so two hosts' different tokens never
    share a cached rendering."""
    text = repr(value)
    if REDACTED not in text:
        return text
    if isinstance(value, Secret):
        return f"Secret({value.digest()})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_key(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_key(v) for v in value) + "]"
    return text


def _plain(value: object) -> object:
    """Keep JSON-like values and secrets; anything else (a Jinja object, a date) becomes its
    text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, _SecretVariable):
        return value.secret
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


class _Expression:
    """A whole-string ``{{ expr }}`` template rendering to a native value."""

    def __init__(self, expr: str) -> None:
        self._fn = _ENV.compile_expression(expr, undefined_to_none=False)

    def render(self, variables: Mapping[str, object]) -> object:
        value = self._fn(**variables)
        if isinstance(value, StrictUndefined):
            str(value)  # raises UndefinedError with the variable's name
        return _plain(value)


class TemplateFailure(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class CompiledTemplates:
    """The templates of one policy document, compiled, with the variables they read."""

    items: tuple[tuple[PathKey, Any], ...]
    variables: frozenset[str]
    reads: tuple[tuple[str, ...], ...] = ()
    """Per item, the sorted names its own template reads: the key of its render cache."""


def _walk(value: Any, at: PathKey) -> list[tuple[PathKey, str]]:
    if isinstance(value, dict):
        out: list[tuple[PathKey, str]] = []
        for k, v in value.items():
            out.extend(_walk(v, at + (k,)))
        return out
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            out.extend(_walk(v, at + (i,)))
        return out
    if is_template(value):
        return [(at, value)]
    return []


def _loc(doc: Document, at: PathKey, lineno: int | None = None) -> Location:
    base = doc.where(at)
    if at in doc.block_scalars:  # the text of a | or > block starts on the next line
        return Location(base.path, base.line + (lineno or 1), 1)
    if lineno and lineno > 1:
        return Location(base.path, base.line + lineno - 1, 1)
    return base


@dataclass(frozen=True)
class _Compiled:
    """One template source, parsed and checked once however many policies repeat it."""

    variables: frozenset[str]
    unsafe: tuple[tuple[str, int], ...]  # (attribute, line) of ``x._attr`` accesses
    template: Any  # an _Expression or a jinja2 Template; None when unsafe


def nesting(source: str) -> int:
    """The deepest nesting of ``(``, ``[`` and ``{`` in ``source`` (pure; a closer with nothing
    open is ignored)."""
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}" and depth:
            depth -= 1
    return deepest


@lru_cache(maxsize=8192)
def _compile(source: str) -> _Compiled:
    """Parse, check and compile ``source``; raises TemplateSyntaxError or RecursionError
    (nested deeper than :data:`MAX_NESTING`, or deep enough for this stack all the same)."""
    if nesting(source) > MAX_NESTING:
        raise RecursionError(f"nested deeper than {MAX_NESTING} levels")
    ast = _ENV.parse(source)
    variables = frozenset(meta.find_undeclared_variables(ast))
    # attribute access on literals is how sandbox escapes start; refuse it up front
    unsafe = tuple(
        (node.attr, node.lineno)
        for node in ast.find_all(nodes.Getattr)
        if node.attr.startswith("_")
    )
    if unsafe:
        return _Compiled(variables, unsafe, None)
    whole = _WHOLE_EXPRESSION.match(source)
    template = _Expression(whole.group("expr")) if whole else _ENV.from_string(ast)
    return _Compiled(variables, (), template)


def compile_document(doc: Document) -> tuple[CompiledTemplates, list[Diagnostic]]:
    """Compile every template string of ``doc['spec']``; syntax errors become diagnostics."""
    items: list[tuple[PathKey, Any]] = []
    reads: list[tuple[str, ...]] = []
    variables: set[str] = set()
    errors: list[Diagnostic] = []
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    for at, source in _walk(spec, ("spec",)):
        try:
            compiled = _compile(source)
        except TemplateSyntaxError as exc:
            errors.append(
                Diagnostic(
                    f"template syntax error: {exc.message}",
                    _loc(doc, at, exc.lineno),
                    field=field_path(at),
                )
            )
            continue
        except RecursionError:  # Jinja's parser and codegen recurse once per nesting level
            errors.append(
                Diagnostic("template is nested too deeply", _loc(doc, at), field=field_path(at))
            )
            continue
        variables |= compiled.variables
        if compiled.unsafe:
            attr, lineno = compiled.unsafe[0]
            errors.append(
                Diagnostic(
                    f"template accesses the unsafe attribute {attr!r}",
                    _loc(doc, at, lineno),
                    field=field_path(at),
                )
            )
            continue
        items.append((at, compiled.template))
        reads.append(tuple(sorted(compiled.variables)))
    return CompiledTemplates(tuple(items), frozenset(variables), tuple(reads)), errors


def _set(data: Any, at: PathKey, value: object) -> Any:
    """A copy of ``data`` with ``at`` replaced, copying only the containers on the way."""
    if not at:
        return value
    head, rest = at[0], at[1:]
    if isinstance(data, dict):
        copy: Any = dict(data)
        copy[head] = _set(data[head], rest, value)
        return copy
    copy = list(data)
    copy[head] = _set(data[head], rest, value)
    return copy


RenderCache = dict[tuple[Any, tuple[str | None, ...]], object]
"""(template, the reprs of the variables it reads) → its value, shared by the hosts of a run."""

_IMMUTABLE = (str, int, float, bool, type(None))


def _reads_key(names: tuple[str, ...], variables: Mapping[str, object]) -> tuple[str | None, ...]:
    # None (never a repr) for an unset variable, so it cannot collide with any value
    return tuple(_key(variables[n]) if n in variables else None for n in names)


def render_document(
    doc: Document,
    compiled: CompiledTemplates,
    variables: Mapping[str, object],
    host: str,
    cache: RenderCache | None = None,
) -> Any:
    """``doc.data`` with every template rendered for one host; raises TemplateFailure.

    With ``cache``, each template is rendered once per distinct value of the variables *it*
    reads: a baseline whose one templated host name differs per host still renders its other
    templates (region, registry, CIDRs) once for the fleet. Only immutable results are kept,
    since the data of different hosts then shares them; failures are never cached.
    """
    data = doc.data
    with_cache = cache is not None and len(compiled.reads) == len(compiled.items)
    for i, (at, template) in enumerate(compiled.items):
        key = (template, _reads_key(compiled.reads[i], variables)) if with_cache else None
        if cache is not None and key is not None and key in cache:
            data = _set(data, at, cache[key])
            continue
        names = compiled.reads[i] if with_cache else compiled.variables
        try:
            text = template.render(_guarded(variables, names))
        except UndefinedError as exc:
            raise TemplateFailure(
                Diagnostic(
                    f"undefined variable in template: {exc.message} (host {host})",
                    doc.where(at),
                    field=field_path(at),
                    hint="define it in the inventory (host or group vars)",
                )
            ) from None
        except SecurityError as exc:
            raise TemplateFailure(
                Diagnostic(
                    f"template refused by the sandbox: {exc}", doc.where(at), field=field_path(at)
                )
            ) from None
        except Exception as exc:  # a template can raise anything (TypeError, ZeroDivision...)
            raise TemplateFailure(
                Diagnostic(
                    f"template failed: {type(exc).__name__}: {exc} (host {host})",
                    doc.where(at),
                    field=field_path(at),
                )
            ) from None
        if _holds_secret(text) and not (
            isinstance(text, Secret) and SECRET_FIELD.match(field_path(at))
        ):
            raise TemplateFailure(
                Diagnostic(
                    "a vaulted variable can only be the whole value of a secret field "
                    "(credentials[].secret, containers[].env.NAME)",
                    doc.where(at),
                    field=field_path(at),
                )
            )
        if len(str(text)) > MAX_RENDERED:
            raise TemplateFailure(
                Diagnostic(
                    f"template renders to {len(str(text))} characters (limit {MAX_RENDERED})",
                    doc.where(at),
                    field=field_path(at),
                )
            )
        if cache is not None and key is not None and isinstance(text, _IMMUTABLE):
            cache[key] = text
        data = _set(data, at, text)
    return data


def variables_key(names: frozenset[str], variables: Mapping[str, object]) -> tuple[object, ...]:
    """A hashable key of the values a policy's templates read (for render caching). An unset
    variable is None, never a repr, so it cannot share a key with any value (not even the
    string ``"<undefined>"``)."""
    return tuple((n, _key(variables[n]) if n in variables else None) for n in sorted(names))
