"""A stage's config dataclass from a recipe mapping: the same fields as the command's options, checked as strictly.

Keys are field names (`keep_fraction`) or option spellings (`keep-fraction`); a nested config (SOTConfig.embed) is
given as its own mapping or by its fields at the top level, as the command's flags flatten it. Values are checked
against the field's type (a Literal's choices, int, float, bool, paths, lists for repeated options) so a typo fails
before any stage runs, with the stage, the key and the fix in the message.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from curate.errors import ConfigError

__all__ = ["build_config", "option_names"]


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(type without `| None`, whether None is allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def _nested(tp: Any) -> type | None:
    inner, _ = _unwrap(tp)
    return inner if isinstance(inner, type) and dataclasses.is_dataclass(inner) else None


def _fields(cls: type) -> dict[str, tuple[Any, dataclasses.Field]]:
    """{field name: (type, field)} of the fields a recipe may set (the command's options)."""
    hints = typing.get_type_hints(cls)
    unused = set(getattr(cls, "unused_fields", ()))
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(cls) if f.init and f.name not in unused}


def option_names(cls: type) -> list[str]:
    """Every key a recipe may give for `cls`, nested configs' fields included."""
    names = []
    for name, (tp, _) in _fields(cls).items():
        inner = _nested(tp)
        names += [name, *option_names(inner)] if inner else [name]
    return names


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (tuple, list):
        return "a list"
    return {bool: "true or false", int: "an integer", float: "a number", Path: "a path", str: "text"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str, key: str) -> Any:
    """`value` as the field's type wants it, or a ConfigError naming the key, the value and what it must be."""
    inner, optional = _unwrap(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: {key} is empty (null); give {_type_name(inner)}")
    origin = typing.get_origin(inner)
    ok, out = True, value
    if origin is Literal:
        ok = value in typing.get_args(inner)
    elif origin in (tuple, list):
        items = value if isinstance(value, list) else [value]
        element = (typing.get_args(inner) or (str,))[0]
        return tuple(_coerce(v, element, where, key) for v in items)
    elif inner is bool:
        ok = isinstance(value, bool)
    elif inner is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif inner is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        out = float(value) if ok else value
    elif inner in (str, Path):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        out = inner(str(value)) if ok else value
    if not ok:
        raise ConfigError(f"{where}: {key}: {value!r} is not {_type_name(inner)}")
    return out


def _unknown(cls: type, key: str, where: str) -> ConfigError:
    valid = option_names(cls)
    if key in getattr(cls, "unused_fields", ()):
        return ConfigError(f"{where}: this stage has no use for '{key}' (its command has no such option); remove it")
    close = difflib.get_close_matches(key, valid, n=3)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return ConfigError(f"{where}: unknown option '{key}'; {hint}its options are: {', '.join(valid)}")


def _split(cls: type, values: dict[str, Any], where: str, names: dict[str, str]):
    """(own field values, {nested field: its values}) with keys normalised and unknown ones refused."""
    fields = _fields(cls)
    nested = {name: inner for name, (tp, _) in fields.items() if (inner := _nested(tp))}
    owner = {key: outer for outer, inner in nested.items() for key in _fields(inner)}
    own: dict[str, Any] = {}
    inner_values: dict[str, dict[str, Any]] = {outer: {} for outer in nested}
    for raw, value in values.items():
        key = names.get(raw, str(raw).replace("-", "_"))
        if key in nested and isinstance(value, dict):
            inner_values[key].update(value)
        elif key in fields and key not in nested:
            own[key] = _coerce(value, fields[key][0], where, raw)
        elif key in owner:
            inner_values[owner[key]][key] = value
        else:
            raise _unknown(cls, key, where)
    return own, {outer: (nested[outer], v) for outer, v in inner_values.items() if v}


def build_config(cls: type, values: dict[str, Any], where: str, names: dict[str, str] | None = None):
    """`cls(**values)` after checking every key and value; errors start with `where` (the recipe and stage)."""
    own, inner = _split(cls, values, where, names or {})
    for outer, (inner_cls, inner_values) in inner.items():
        own[outer] = build_config(inner_cls, inner_values, f"{where} ({outer})")
    missing = [name for name, (_, f) in _fields(cls).items() if name not in own
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} (required by the command); add "
                          f"{'them' if len(missing) > 1 else 'it'} to the stage")
    try:
        return cls(**own)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
