"""Command-line options generated from a config dataclass, so every hyperparameter is settable.

A field ``l2: float | None = None`` becomes ``--l2 L2`` (``none`` gives
``None``); a tuple field takes comma-separated values; a bool field takes
``true``/``false``. The field's line in the config's docstring is its help.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing

from aerec.errors import ConfigError


def add_config_options(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add one ``--option`` per field of ``config_class`` (default: the field's default)."""
    hints = typing.get_type_hints(config_class)
    docs = {}
    for klass in reversed(config_class.__mro__):  # base classes first, so a subclass may redefine a field's text
        docs.update(_field_docs(klass.__doc__ or ""))
    group = parser.add_argument_group(f"{config_class.__name__} (hyperparameters)")
    for f in dataclasses.fields(config_class):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f"cfg_{f.name}",
            type=_parser_for(hints[f.name], f.name),
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=f"{docs.get(f.name, '')} (default: {shown})",
        )


def config_overrides(args: argparse.Namespace) -> dict:
    """The config fields given on the command line."""
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}


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
