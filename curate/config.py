"""Frozen stage configs: field docs become --help, the resolved config is saved beside every output.

A stage declares one frozen dataclass with a docstring string under each field:

    @dataclass(frozen=True)
    class EmbedConfig:
        out: Path
        \"\"\"Output folder for the shards and manifest.json.\"\"\"

and its click command is `@config_options(EmbedConfig)` over a body that only does `run(EmbedConfig(**kw))`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import textwrap
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = [
    "field_docs",
    "config_options",
    "config_to_dict",
    "save_config",
    "load_config",
    "atomic_write_text",
    "atomic_write_bytes",
]

C = TypeVar("C")


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """Map each dataclass field to the docstring written under it (sparsify/peft style)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _click_type(tp: Any):
    import click

    if typing.get_origin(tp) is Literal:
        return click.Choice([str(a) for a in typing.get_args(tp)]), False
    if typing.get_origin(tp) in (tuple, list):
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return _click_type(inner)[0], True
    if tp is Path:
        return click.Path(path_type=Path), False
    if tp in (int, float, str, bool):
        return tp, False
    return str, False


def config_options(
    cls: type,
    *,
    arguments: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    names: dict[str, str] | None = None,
):
    """Click decorator adding one option per config field (help text = the field's docstring).

    `arguments` become positional (a tuple-typed one takes any number); `names` maps a field to its option
    spelling when it differs from `--field-name`. Booleans become `--flag/--no-flag`.
    """
    import click

    docs = field_docs(cls)
    names = names or {}
    hints = typing.get_type_hints(cls)

    def decorate(fn):
        for field in reversed(dataclasses.fields(cls)):
            if field.name in exclude or not field.init:
                continue
            tp, _ = _unwrap_optional(hints[field.name])
            ctype, multiple = _click_type(tp)
            has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            default = field.default if field.default is not dataclasses.MISSING else None
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            if field.name in arguments:
                fn = click.argument(field.name, type=ctype, nargs=-1 if multiple else 1, required=not has_default)(fn)
                continue
            flag = names.get(field.name, "--" + field.name.replace("_", "-"))
            help_text = docs.get(field.name, "")
            if tp is bool:
                negative = "--no-" + flag[2:]
                fn = click.option(f"{flag}/{negative}", field.name, default=default, show_default=True, help=help_text)(fn)
            else:
                fn = click.option(
                    flag,
                    field.name,
                    type=ctype,
                    multiple=multiple,
                    default=tuple(default) if multiple and default is not None else default,
                    required=not has_default,
                    show_default=has_default and default not in (None, (), []),
                    help=help_text,
                )(fn)
        return fn

    return decorate


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config, tagged with its class name."""
    out = {f.name: _jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}
    out["_config"] = type(config).__qualname__
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary sibling and rename, so a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_config(config: Any, path: str | os.PathLike, **extra: Any) -> None:
    """Save the resolved config (plus any extra JSON-able entries) beside an output."""
    payload = config_to_dict(config)
    payload.update({k: _jsonable(v) for k, v in extra.items()})
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def load_config(cls: type[C], path: str | os.PathLike) -> C:
    """Load a saved config tolerantly: unknown fields are ignored, lists become tuples, paths become Path."""
    raw = json.loads(Path(path).read_text())
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in raw or not field.init:
            continue
        value = raw[field.name]
        tp, _ = _unwrap_optional(hints[field.name])
        if value is not None and tp is Path:
            value = Path(value)
        elif isinstance(value, list) and typing.get_origin(tp) is tuple:
            inner = typing.get_args(tp)[0] if typing.get_args(tp) else None
            value = tuple(Path(v) if inner is Path else v for v in value)
        kwargs[field.name] = value
    return cls(**kwargs)
