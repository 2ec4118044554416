"""A host's desired state to bundle data and back, with its secrets sealed on the way.

:func:`checkpointctl.spec.state_to_data` gives the plain-data form that ``render`` prints. A
bundle needs that form with every :class:`~checkpointctl.model.Secret` sealed to the receiving
host and bound to *where* it sits (``credentials[0].secret``, ``containers[1].env.TOKEN``), and
the agent needs the exact inverse: the frozen :mod:`~checkpointctl.spec` dataclasses, rebuilt
strictly from their type hints (an unknown field, a wrong type or a value outside a ``Literal``
is an error, never silently dropped or coerced), with sealed values opened into ``Secret``.

This module is the one place in ``trust`` that calls :meth:`Secret.reveal`: to hand the
plaintext to the sealing function, which encrypts it before it goes anywhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import types
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from checkpointctl.errors import TrustError
from checkpointctl.model import Secret
from checkpointctl.spec import DesiredState, state_to_data
from checkpointctl.trust.seal import is_sealed

__all__ = ["SealFn", "UnsealFn", "secret_paths", "state_from_data", "state_to_sealed_data"]

SealFn = Callable[[bytes, str], object]
"""(plaintext, field path) → the JSON value that stands for the secret in the bundle."""
UnsealFn = Callable[[object, str], Secret]
"""(sealed JSON value, field path) → the secret. Raises TrustError when it does not open."""


class _Pending:
    """Stands in for a secret in the plain data until its path is known."""

    __slots__ = ("secret",)

    def __init__(self, secret: Secret) -> None:
        self.secret = secret


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(node: object, path: str, visit: Callable[[Secret, str], object]) -> object:
    if isinstance(node, _Pending):
        return visit(node.secret, path)
    if isinstance(node, dict):
        return {k: _walk(v, _child(path, str(k)), visit) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, f"{path}[{i}]", visit) for i, v in enumerate(node)]
    return node


def state_to_sealed_data(state: DesiredState, seal: SealFn) -> dict[str, object]:
    """The plain-data form of ``state`` with each secret replaced by ``seal(plaintext, path)``.

    Paths follow the data: ``credentials[0].secret``, ``containers[0].env.API_TOKEN``.
    """
    raw = state_to_data(state, secret=_Pending)

    def visit(secret: Secret, path: str) -> object:
        return seal(secret.reveal(), path)

    out = _walk(raw, "", visit)
    assert isinstance(out, dict)
    return out


def secret_paths(state: DesiredState) -> list[str]:
    """The paths of every secret in ``state`` (nothing is revealed)."""
    found: list[str] = []

    def visit(secret: Secret, path: str) -> object:
        found.append(path)
        return None

    _walk(state_to_data(state, secret=_Pending), "", visit)
    return found


# --------------------------------------------------------------------------- decoding


class _Mismatch(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or 'state'}: {message}")


def _no_unseal(value: object, path: str) -> Secret:
    raise _Mismatch(path, "holds a sealed secret but no host key was given to open it")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _decode(tp: Any, value: object, path: str, unseal: UnsealFn) -> object:
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if Secret in options and is_sealed(value):
            return unseal(value, path)
        plain = [o for o in options if o is not Secret]
        if len(plain) == 1:  # the usual ``X | None`` or ``str | Secret``: say what X wanted
            return _decode(plain[0], value, path, unseal)
        for option in plain:
            with contextlib.suppress(_Mismatch):
                return _decode(option, value, path, unseal)
        raise _Mismatch(path, f"no allowed type matches a {_kind(value)}")
    if origin is Literal:
        if value in args and any(type(value) is type(a) for a in args):
            return value
        allowed = ", ".join(repr(a) for a in args)
        raise _Mismatch(path, f"{value!r} is not one of {allowed}")
    if origin is tuple:
        return _decode_tuple(args, value, path, unseal)
    if origin in (Mapping, dict):
        if not isinstance(value, dict):
            raise _Mismatch(path, f"expected an object, got {_kind(value)}")
        key_tp, value_tp = args
        return {
            _decode(key_tp, k, path, unseal): _decode(value_tp, v, _child(path, str(k)), unseal)
            for k, v in value.items()
        }
    if tp is Secret:
        if not is_sealed(value):
            raise _Mismatch(path, "a secret must be sealed in a bundle")
        return unseal(value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise _Mismatch(path, f"expected a boolean, got {_kind(value)}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Mismatch(path, f"expected an integer, got {_kind(value)}")
        return value
    if tp is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _Mismatch(path, f"expected a number, got {_kind(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Mismatch(path, f"expected a string, got {_kind(value)}")
        return value
    if tp is date:
        if not isinstance(value, str):
            raise _Mismatch(path, f"expected a date, got {_kind(value)}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Mismatch(path, f"{value!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, path, unseal)
    raise _Mismatch(path, f"cannot decode a value of type {tp!r}")  # a spec type we lack


def _decode_tuple(args: tuple[Any, ...], value: object, path: str, unseal: UnsealFn) -> object:
    if len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        # Tuples of (key, value) pairs travel as mappings (``env``, ``labels``, ``settings``).
        if get_origin(item) is tuple and len(get_args(item)) == 2 and isinstance(value, dict):
            key_tp, value_tp = get_args(item)
            return tuple(
                (
                    _decode(key_tp, k, path, unseal),
                    _decode(value_tp, v, _child(path, str(k)), unseal),
                )
                for k, v in value.items()
            )
        if not isinstance(value, list):
            raise _Mismatch(path, f"expected a list, got {_kind(value)}")
        return tuple(_decode(item, v, f"{path}[{i}]", unseal) for i, v in enumerate(value))
    if not isinstance(value, list) or len(value) != len(args):
        raise _Mismatch(path, f"expected a list of {len(args)} items")
    pairs = enumerate(zip(args, value, strict=True))
    return tuple(_decode(a, v, f"{path}[{i}]", unseal) for i, (a, v) in pairs)


def _decode_dataclass(cls: type, value: object, path: str, unseal: UnsealFn) -> object:
    if not isinstance(value, dict):
        raise _Mismatch(path, f"expected an object ({cls.__name__}), got {_kind(value)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise _Mismatch(path, f"unknown field(s) {', '.join(map(str, unknown))}")
    kwargs: dict[str, object] = {}
    for name, f in fields.items():
        if name not in value:
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if no_default:
                raise _Mismatch(_child(path, name), "is missing")
            continue
        kwargs[name] = _decode(hints[name], value[name], _child(path, name), unseal)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _Mismatch(path, f"invalid {cls.__name__}: {exc}") from None


def state_from_data(
    data: object, unseal: UnsealFn | None = None, *, where: str = "state"
) -> DesiredState:
    """Rebuild a :class:`DesiredState` from its bundle data, opening sealed secrets with
    ``unseal(blob, path)``.

    Raises:
        TrustError: the data does not fit the spec types (the message names ``where`` and the
            field path), or a sealed value does not open.
    """
    try:
        state = _decode_dataclass(DesiredState, data, "", unseal or _no_unseal)
    except _Mismatch as exc:
        raise TrustError(f"{where}: {exc}") from None
    assert isinstance(state, DesiredState)
    return state
