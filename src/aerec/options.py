"""Configs from the command line, TOML and JSON: one typed constructor, and options generated from the dataclass.

:func:`build_config` makes a config dataclass (a model's hyperparameters,
:class:`~aerec.fit_options.FitOptions`) from plain values, checking each
value's type against the field's and naming the field when it is wrong; the
CLI, the TOML files of searches and experiments, ``model.json`` and Python
(``Model(**overrides)``) all go through it.

:func:`add_config_options` makes one ``--option`` per field: a field
``l2: float | None = None`` becomes ``--l2 L2`` (``none`` gives ``None``); a
tuple field takes comma-separated values; a bool field takes
``true``/``false``. The field's line in the config's docstring is its help.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from typing import Any

import numpy as np

from aerec.errors import ConfigError


def build_config(config_class: type, values: dict, where: str = "") -> Any:
    """``config_class(**values)`` with every value checked against its field's type.

    Lists become tuples where the field is a tuple; an int is taken for a
    float field; ``None`` only where the field is optional. An unknown field
    or a value of the wrong type is a :class:`ConfigError` naming the field
    (prefixed with ``where``, e.g. a file name), and the config's own
    ``__post_init__`` checks the values.
    """
    kwargs = typed_values(config_class, values, where)
    try:
        return config_class(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None


def typed_values(config_class: type, values: dict, where: str = "") -> dict:
    """``values`` checked against the fields' types and converted (what :func:`build_config` passes on), without
    making the config: a search checks every fixed and searched value this way before its first trial."""
    hints = typing.get_type_hints(config_class)
    names = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"{where}unknown field(s) {', '.join(unknown)} of {config_class.__name__}; known: {', '.join(sorted(names))}")
    wide = getattr(config_class, "WIDE_FIELDS", ())
    return {name: _typed(values[name], hints[name], name, where, wide) for name in names if name in values}


#: The largest magnitudes a config field may take (a field named in the class's ``WIDE_FIELDS`` may exceed MAX_INT):
#: beyond them, sizes overflow the 32-bit integers of the kernels underneath and rates overflow float32.
MAX_INT = 2**31 - 1
MAX_FLOAT = 1e15


def _typed(value: Any, tp: Any, name: str, where: str, wide: tuple[str, ...] = ()) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        args = typing.get_args(tp)
    if tp is tuple or typing.get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}{name}={value!r}: expected a list")
        inner = args[0] if args else Any
        return tuple(_typed(v, inner, name, where, wide) for v in value)
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }.get(tp)
    if ok is not None and not ok(value):
        raise ConfigError(f"{where}{name}={value!r}: expected {'true or false' if tp is bool else ('an integer' if tp is int else ('a number' if tp is float else 'a string'))}")
    if tp is float:
        if not math.isfinite(float(value)):
            raise ConfigError(f"{where}{name}={value!r}: must be a finite number")
        if abs(float(value)) > MAX_FLOAT:
            raise ConfigError(f"{where}{name}={value!r}: must lie within ±{MAX_FLOAT:g}")
        return float(value)
    if tp is int:
        if abs(int(value)) > MAX_INT and name not in wide:
            raise ConfigError(f"{where}{name}={value!r}: must lie within ±{MAX_INT:,}")
        return int(value)
    return value


def add_config_options(parser: argparse.ArgumentParser, config_class: type, *, title: str | None = None, prefix: str = "cfg_", only: set[str] | None = None) -> None:
    """Add one ``--option`` per field of ``config_class`` (default: the field's default; ``only``: just those
    fields) in an argument group titled ``title``; the parsed values land in ``args`` as ``{prefix}{field}``."""
    hints = typing.get_type_hints(config_class)
    docs = {}
    for klass in reversed(config_class.__mro__):  # base classes first, so a subclass may redefine a field's text
        docs.update(_field_docs(klass.__doc__ or ""))
    group = parser.add_argument_group(title or f"{config_class.__name__} (hyperparameters)")
    for f in dataclasses.fields(config_class):
        if only is not None and f.name not in only:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f"{prefix}{f.name}",
            type=_parser_for(hints[f.name], f.name),
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=f"{docs.get(f.name, '')} (default: {shown})",
        )


def config_overrides(args: argparse.Namespace, prefix: str = "cfg_") -> dict:
    """The fields given on the command line (of the options added with ``prefix``)."""
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix)}


def _parser_for(tp, name: str):
    args = typing.get_args(tp)
    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        tp = next(a for a in args if a is not type(None))
    origin = typing.get_origin(tp)
    if tp is tuple or origin is tuple:
        inner = (typing.get_args(tp) or (str,))[0]
        scalar = _scalar(inner, name)
        return lambda s: tuple(scalar(x) for x in s.split(",") if x.strip())
    scalar = _scalar(tp, name)
    if optional:
        return lambda s: None if s.lower() in ("none", "null", "") else scalar(s)
    return scalar


def _scalar(tp, name: str):
    if tp is bool:
        def parse_bool(s: str) -> bool:
            if s.lower() in ("true", "yes", "1", "on"):
                return True
            if s.lower() in ("false", "no", "0", "off"):
                return False
            raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")

        return parse_bool
    if tp in (int, float, str):
        return tp
    raise ConfigError(f"option --{name}: unsupported type {tp}")


def _field_docs(doc: str) -> dict[str, str]:
    """``name: text`` entries of the docstring's Attributes section, joined across lines."""
    out: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        m = re.match(r"\s{4,}(\w+): (.*)", line)
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current and line.strip() and line.startswith(" " * 12):
            out[current] += " " + line.strip()
        else:
            current = None
    return out
