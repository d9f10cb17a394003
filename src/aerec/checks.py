"""Checks of a config's fields at construction: each error names the field and its value.

A config dataclass lists its rules and calls :func:`check` in ``__post_init__``,
so a bad value is refused where the config is made (from Python, a TOML file
or the command line, whose ``--n-groups`` is the field ``n_groups``), not late
inside ``fit``::

    def __post_init__(self) -> None:
        check(self, loss=one_of("multinomial", "logistic"), lr=at_least(0.0))
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from aerec.errors import ConfigError

Rule = tuple[Callable[[Any], bool], str]  # (is the value fine, what a fine value is)


def check(config: Any, **rules: Rule) -> None:
    """Raise :class:`ConfigError` ``"field=value: what is expected"`` for the first field whose rule fails."""
    for field, (ok, expected) in rules.items():
        value = getattr(config, field)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{field}={value!r}: must be a finite number")
        try:
            fine = ok(value)
        except TypeError:
            fine = False
        if not fine:
            raise ConfigError(f"{field}={value!r}: {expected}")


def one_of(*choices: Any) -> Rule:
    return (lambda v: v in choices, "choose " + ", ".join(repr(c) for c in choices))


def _number(v: Any) -> bool:
    """A real, finite number (not a bool, not NaN or infinite): every numeric rule asks this first."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def at_least(low: float, high: float | None = None) -> Rule:
    """A finite number ``>= low`` (and ``<= high`` when given)."""
    if high is None:
        return (lambda v: _number(v) and v >= low, f"must be at least {low:g}")
    show = (lambda x: f"{x:,}" if isinstance(x, int) else f"{x:g}")
    return (lambda v: _number(v) and low <= v <= high, f"must lie in [{show(low)}, {show(high)}]")


def above(low: float) -> Rule:
    return (lambda v: _number(v) and v > low, f"must be above {low:g}")


def fraction(*, one: bool = False) -> Rule:
    """In ``[0, 1)`` (a dropout rate, a sparsity), or ``[0, 1]`` with ``one``."""
    return ((lambda v: _number(v) and 0 <= v <= 1), "must lie in [0, 1]") if one else ((lambda v: _number(v) and 0 <= v < 1), "must lie in [0, 1)")
