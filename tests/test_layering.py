"""The one-way layering of src/aerec (docs/DESIGN.md): no import from a lower layer to a higher one, no circles.

Every ``import`` and ``from ... import`` anywhere in a module counts, also one inside a function (a lazy
import is still a dependency). A unit is a top-level module (``aerec/evaluate.py``) or a package
(``aerec/models/``); a unit may import its own modules and units of strictly lower layers only.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Bottom to top, as docs/DESIGN.md draws them.
LAYERS: list[set[str]] = [
    {"errors"},
    {"aerec", "atomic", "checks", "device", "options", "metrics", "paper", "cost", "batches", "validate"},  # the foundation; "aerec": the package face
    {"data", "fit_options"},
    {"structure", "training", "protocol"},
    {"models"},
    {"artifacts", "evaluate", "serve"},
    {"trial", "analysis"},
    {"search"},
    {"experiment", "report_html"},
    {"report_analyses", "report_training"},
    {"report"},
    {"demo"},
    {"cli"},
]
LEVEL = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "aerec"


def imports_of(path: Path) -> set[str]:
    """Every aerec module ``path`` imports (``from aerec import x`` counts as ``aerec.x`` when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "aerec")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "aerec":
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names if (SRC / node.module.replace(".", "/") / f"{a.name}.py").exists()
                       or (SRC / node.module.replace(".", "/") / a.name / "__init__.py").exists())
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted((SRC / "aerec").rglob("*.py"))}


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in g.items():
        for target in targets:
            a, b = unit_of(module), unit_of(target)
            if a != b and LEVEL[b] >= LEVEL[a]:
                bad.append(f"{module} (layer {LEVEL[a]}) imports {target} (layer {LEVEL[b]})")
    return sorted(bad)


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_every_unit_has_a_layer():
    units = {unit_of(m) for m in graph()}
    assert units <= set(LEVEL), f"put these in LAYERS and in docs/DESIGN.md: {sorted(units - set(LEVEL))}"


def test_no_import_runs_up_a_layer():
    assert upward_imports(graph()) == []


def test_no_import_circles():
    assert circles(graph()) == []


def test_the_checks_catch_an_upward_import_and_a_circle():
    """The checks themselves: a model importing evaluate, and two modules importing each other, are found."""
    g = graph()
    g["aerec.models.ease"] = g["aerec.models.ease"] | {"aerec.evaluate"}
    assert any(line.startswith("aerec.models.ease (layer 4) imports aerec.evaluate") for line in upward_imports(g))
    g["aerec.metrics"] = g["aerec.metrics"] | {"aerec.paper"}
    g["aerec.paper"] = g["aerec.paper"] | {"aerec.metrics"}
    assert ["aerec.metrics", "aerec.paper"] in circles(g)


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_design_md_lists_each_layer_as_here(layer):
    design = (SRC.parent / "docs" / "DESIGN.md").read_text()
    line = next((ln for ln in design.splitlines() if ln.startswith(f"| {layer} |")), None)
    assert line is not None, f"docs/DESIGN.md has no row for layer {layer}"
    assert {u.strip("` ") for u in line.split("|")[2].split(",")} == LAYERS[layer]
