"""Frozen stage configs: field docs become --help, the resolved config is saved beside every output.

A stage declares one frozen dataclass that inherits `StageConfig` (device, overwrite, progress, seed, threads)
and puts a docstring under each of its own fields:

    @dataclass(frozen=True)
    class EmbedConfig(StageConfig):
        out: Path
        \"\"\"Output folder for the shards and manifest.json.\"\"\"

and its click command is `@config_options(EmbedConfig)` over a body that only does `run(EmbedConfig(**kw))`.
A field whose type is itself a dataclass (SOTConfig.embed) is offered as its fields' flags and rebuilt from them.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import math
import os
import re
import textwrap
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from curate.errors import ConfigError
from curate.io import atomic_write_text

__all__ = [
    "StageConfig",
    "SHARED_FIELDS",
    "field_docs",
    "config_options",
    "config_to_dict",
    "save_config",
    "load_config",
    "config_from_dict",
]

C = TypeVar("C")

SHARED_FIELDS = ("device", "overwrite", "progress", "seed", "threads")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageConfig:
    """The options every stage shares (as peft's PeftConfig holds the ones every method shares).

    A stage with no use for one of them names it in `unused_fields`: its command then offers no such flag and the
    value must stay at its default. `field_help` rewords a shared field's --help where the stage can say more.
    """

    unused_fields: ClassVar[tuple[str, ...]] = ()
    field_help: ClassVar[dict[str, str]] = {}

    device: str = "auto"
    """auto (CUDA if present, else CPU), cpu, cuda or cuda:N."""
    overwrite: bool = False
    """Replace an existing output instead of refusing."""
    progress: bool = True
    """Show progress bars."""
    seed: int = 0
    """Seed for every random choice of the stage; the same seed gives the same output."""
    threads: int | None = None
    """CPU threads for torch and BLAS (default or 0: the libraries' choice, one per core); on a CPU that other jobs
    share, 1 thread is often several times faster."""

    def __post_init__(self) -> None:
        if not _DEVICE.match(str(self.device)):
            raise ConfigError(f"--device {self.device!r}: use auto, cpu, cuda or cuda:N")
        if self.threads is not None and self.threads < 0:
            raise ConfigError(f"--threads {self.threads}: must be >= 1 (or 0 / omitted for the libraries' default)")
        if self.threads == 0:
            object.__setattr__(self, "threads", None)
        if self.seed < 0:
            raise ConfigError(f"--seed {self.seed}: must be >= 0 (the random generators take no negative seed)")
        _check_finite(self)
        defaults = {f.name: f.default for f in dataclasses.fields(StageConfig)}
        for name in self.unused_fields:
            if getattr(self, name) != defaults[name]:
                raise ConfigError(f"{type(self).__name__} has no use for {name}={getattr(self, name)!r}; "
                                  f"leave {name} at its default {defaults[name]!r}")


def _check_finite(config: StageConfig) -> None:
    """NaN or infinity is never a meaningful setting (and slips past `value > 0`-style range checks)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--{field.name.replace('_', '-')} {value}: must be a finite number")


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """Map each dataclass field to the docstring written under it (sparsify/peft style), inherited ones included;
    a class's `field_help` entries override what its bases wrote."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_docstrings_under_fields(klass))
            docs.update(vars(klass).get("field_help", {}))
    return docs


def _docstrings_under_fields(klass: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0].body
    docs = {}
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


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _nested_class(tp: Any) -> type | None:
    """The dataclass a field holds as a nested config, if it does."""
    tp, _ = _unwrap_optional(tp)
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def _cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields a command offers, in --help order: a stage's own fields, then the shared ones it uses."""
    unused = set(getattr(cls, "unused_fields", ()))
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in unused]
    if not (isinstance(cls, type) and issubclass(cls, StageConfig)):
        return fields
    return [f for f in fields if f.name not in SHARED_FIELDS] + [f for f in fields if f.name in SHARED_FIELDS]


def _flatten(cls: type, exclude: tuple[str, ...]) -> tuple[list[tuple[type, dataclasses.Field]], dict]:
    """([(owner class, field)] one per flag, {nested field: (its class, its flattened names)})."""
    hints = _hints(cls)
    flags: list[tuple[type, dataclasses.Field]] = []
    nested: dict[str, tuple[type, list[str]]] = {}
    for field in _cli_fields(cls):
        if field.name in exclude:
            continue
        inner = _nested_class(hints[field.name])
        if inner is None:
            flags.append((cls, field))
            continue
        inner_fields = [f for f in _cli_fields(inner) if f.name not in exclude]
        nested[field.name] = (inner, [f.name for f in inner_fields])
        flags += [(inner, f) for f in inner_fields]
    seen: dict[str, type] = {}
    for owner, field in flags:
        if field.name in seen:
            raise TypeError(f"{cls.__name__}: field {field.name!r} of {owner.__name__} clashes with the one of "
                            f"{seen[field.name].__name__}; rename one so each flag has one meaning")
        seen[field.name] = owner
    return flags, nested


def _rebuild_nested(fn, nested: dict[str, tuple[type, list[str]]]):
    """Wrap a command body so the flags of each nested config arrive as that config (e.g. embed=EmbedSettings)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for name, (inner, keys) in nested.items():
            kwargs[name] = inner(**{k: kwargs.pop(k) for k in keys if k in kwargs})
        return fn(*args, **kwargs)

    return wrapper


def _option(fn, owner: type, field: dataclasses.Field, arguments: tuple[str, ...], names: dict[str, str]):
    """Add the click argument or option for one field to `fn`."""
    import click

    tp, _ = _unwrap_optional(_hints(owner)[field.name])
    ctype, multiple = _click_type(tp)
    has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    default = field.default if field.default is not dataclasses.MISSING else None
    if field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    if field.name in arguments:
        return click.argument(field.name, type=ctype, nargs=-1 if multiple else 1, required=not has_default)(fn)
    flag = names.get(field.name, "--" + field.name.replace("_", "-"))
    help_text = field_docs(owner).get(field.name, "")
    if tp is bool:
        negative = "--no-" + flag[2:]
        return click.option(f"{flag}/{negative}", field.name, default=default, show_default=True, help=help_text)(fn)
    return click.option(
        flag,
        field.name,
        type=ctype,
        multiple=multiple,
        default=tuple(default) if multiple and default is not None else default,
        required=not has_default,
        show_default=has_default and default not in (None, (), []),
        help=help_text,
    )(fn)


def config_options(
    cls: type,
    *,
    arguments: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    names: dict[str, str] | None = None,
):
    """Click decorator adding one option per config field (help text = the field's docstring).

    `arguments` become positional (a tuple-typed one takes any number); `names` maps a field to its option
    spelling when it differs from `--field-name`. Booleans become `--flag/--no-flag`. A nested config field is
    offered as its own fields' flags and handed to the command body rebuilt; a stage's `unused_fields` get no flag.
    """
    flags, nested = _flatten(cls, exclude)

    def decorate(fn):
        if nested:
            fn = _rebuild_nested(fn, nested)
        for owner, field in reversed(flags):
            fn = _option(fn, owner, field, arguments, names or {})
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


def _saved_fields(config: Any) -> list[dataclasses.Field]:
    """Every field but the unused shared ones; a stage's own fields first, as in --help."""
    unused = set(getattr(config, "unused_fields", ()))
    fields = [f for f in dataclasses.fields(config) if f.name not in unused]
    if not isinstance(config, StageConfig):
        return fields
    return [f for f in fields if f.name not in SHARED_FIELDS] + [f for f in fields if f.name in SHARED_FIELDS]


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (nested configs nest), tagged with its class name; unused shared fields
    left out."""
    out = {f.name: _jsonable(getattr(config, f.name)) for f in _saved_fields(config)}
    out["_config"] = type(config).__qualname__
    return out


def save_config(config: Any, path: str | os.PathLike, **extra: Any) -> None:
    """Save the resolved config (plus any extra JSON-able entries) beside an output."""
    payload = config_to_dict(config)
    payload.update({k: _jsonable(v) for k, v in extra.items()})
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def _coerce(value: Any, tp: Any) -> Any:
    """A JSON value as the field's type wants it: paths become Path, lists become tuples."""
    if value is not None and tp is Path:
        return Path(value)
    if isinstance(value, list) and typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else None
        return tuple(Path(v) if inner is Path else v for v in value)
    return value


def config_from_dict(cls: type[C], raw: dict[str, Any]) -> C:
    """Build a config from a saved dict tolerantly: unknown fields are ignored; a nested config is read from its own
    entry, or from the top level as files written before it nested (e.g. SOTConfig's old flat `model`)."""
    hints = _hints(cls)
    unused = set(getattr(cls, "unused_fields", ()))
    kwargs = {}
    for field in dataclasses.fields(cls):
        if not field.init or field.name in unused:
            continue
        tp, _ = _unwrap_optional(hints[field.name])
        inner = _nested_class(tp)
        if inner is not None:
            entry = raw.get(field.name)
            kwargs[field.name] = config_from_dict(inner, entry if isinstance(entry, dict) else raw)
        elif field.name in raw:
            kwargs[field.name] = _coerce(raw[field.name], tp)
    return cls(**kwargs)


def load_config(cls: type[C], path: str | os.PathLike) -> C:
    """Load a saved config tolerantly (see `config_from_dict`)."""
    return config_from_dict(cls, json.loads(Path(path).read_text()))
