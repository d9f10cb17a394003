"""The pieces the report's pages share: a finished search as read from disk, the page being written, and small HTML helpers.

:mod:`aerec.report` (leaderboards, sweeps, the paper's numbers),
:mod:`aerec.report_analyses` and :mod:`aerec.report_training` all build on
this module and on nothing of one another's, so the report has no circle.
It reads JSON and writes HTML; it never imports torch.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aerec.errors import ConfigError

SELECT = "ndcg@100"  # the selection metric of aerec.search


PAPER_LABEL = "paper (ML-20M)"


@dataclass
class Search:
    """A finished search directory as read from disk."""

    path: Path
    summary: dict
    spec: dict | None
    sweep: list | None
    command: str | None = None
    spec_toml: str = ""
    name: str = ""  # the path relative to the run directory

    @property
    def model(self) -> str:
        return str(self.summary.get("model", "?"))

    @property
    def facts(self) -> dict:
        """What the chosen model said of itself (``Recommender.describe``, kept in the best trial's record); {} for none."""
        facts = (self.summary.get("best") or {}).get("describe")
        return facts if isinstance(facts, dict) else {}

    @property
    def variant(self) -> str:
        """The model's row name (``swdae-p`` for a parameter-matched Sw-DAE): the chosen model's own, else the model's name."""
        return str(self.facts.get("variant") or self.model)

    @property
    def dataset(self) -> str:
        return Path(str(self.summary.get("data", "?"))).name or "?"

    def test(self, metric: str) -> dict | None:
        t = (self.summary.get("test") or {}).get("summary") or {}
        return t.get(metric)

    def validation(self, metric: str = SELECT) -> dict | None:
        best = self.summary.get("best") or {}
        return (best.get("validation") or {}).get(metric)


@dataclass
class Page:
    """The HTML being written and the figures to save beside it."""

    parts: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # file name -> matplotlib Figure
    files: dict[str, Path] = field(default_factory=dict)  # file name -> a file made elsewhere, copied as is (aerec genres' PNGs)

    def add(self, *lines: str) -> None:
        self.parts.extend(lines)

    def figure(self, stem: str, fig, alt: str, commands: list[str], caption: str) -> None:
        name = f"fig{len(self.figures) + 1:02d}-{slug(stem)}.png"
        self.figures[name] = fig
        self.add(
            "<figure>",
            f'<img src="{esc(name)}" alt="{esc(alt)}">',
            f"<figcaption>{esc(caption)}</figcaption>",
            html_commands(commands),
            "</figure>",
        )


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure  # a Figure saves itself through the Agg canvas; no pyplot state

    return Figure(figsize=(width, height), layout="constrained")


def html_thead(groups: list[tuple[str, list[str]]]) -> str:
    """Two header rows: a label spanning each group's columns, then the columns."""
    top = "".join(f'<th colspan="{len(cols)}">{esc(label)}</th>' for label, cols in groups)
    return f"<thead><tr>{top}</tr><tr>" + "".join(f"<th>{esc(c)}</th>" for _, cols in groups for c in cols) + "</tr></thead>"


def html_commands(commands: list[str], label: str = "made by") -> str:
    return f'<div class="cmd">{esc(label)}:' + "".join(f"<code>{esc(c)}</code>" for c in commands) + "</div>"


def fmt_pm(d: dict | None) -> str:
    if not d or d.get("mean") is None:
        return "–"
    return f"{d['mean']:.4f}\u00a0±\u00a0{d['se']:.4f}" if d.get("se") is not None else f"{d['mean']:.4f}"  # no break inside


def fmt_num(v, fmt: str = ".3f") -> str:
    """A published number as the paper prints it (metrics to three decimals)."""
    return "–" if v is None else format(v, fmt)


def fmt_value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "x"


def rel_path(path: Path, root: Path, absolute: Path | None = None) -> str:
    """``path`` relative to ``root`` when inside it (else as given, or relative to ``absolute``)."""
    try:
        return str(path.resolve().relative_to(root.resolve())) or "."
    except ValueError:
        if absolute is not None:
            try:
                return str(path.resolve().relative_to(absolute.resolve()))
            except ValueError:
                pass
        return str(path)


def read_json(path: Path) -> dict | list:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read it as JSON ({e})") from None
