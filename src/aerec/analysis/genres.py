"""The genre composition of Sw-DAE's hidden units (the paper's Sec. 5.10, Table 8 and Figure 8).

Each hidden unit ``k`` of Sw-DAE is connected to exactly the items of group
``k`` (the structure, ``item_groups``: items x R group ids). Its **genre
composition** is, for every genre ``g``::

    f[k, g] = |{i in group k with genre g}| / |{i in group k with known genres}|

the paper's "percentage of movies in the cluster that possess this genre".
As in the paper, "each movie can possess more than one genre": an item counts
once for *each* of its genres (no ``1/n_genres`` weighting), so a row of ``f``
sums to the mean number of genres per item (about 1.7 on ML-1M), not to 1.
Items whose genres are unknown (an empty string) are left out of the
denominator.

**Table 8** in the paper shows four hand-picked units and their top three
genres. Its only quantity is ``f``; the paper gives no aggregate and no
baseline. We report, per genre (:func:`genre_statistics`):

* ``items``: the share of items carrying the genre (what any unit would show
  if its items were drawn at random);
* ``top_mean``: the mean of ``f[:, g]`` over the ``top`` units with the
  highest ``f[:, g]`` (Figure 8's selection; ties broken by the larger unit,
  then the lower unit id);
* ``dominant``: the share of units whose highest fraction is this genre
  (ties to the genre listed first); Drama and Comedy dominate by base rate;
* ``exemplar``: the unit with the highest ``f[:, g]`` and its top three genres
  (those present), the layout of Table 8.

**Figure 8**: for a genre, the ``top`` units by ``f[:, g]`` (rows) against all
genres (columns), coloured by ``f``.

**The baseline** the claim "units are genre-coherent" needs: the same
statistics for random groups of the same sizes, made by a seeded shuffle of
the items (item ``i`` takes the group list of item ``perm[i]``), which keeps
every group's size and every item's ``R`` and removes any relation between an
item and its groups' genres. Small units reach extreme fractions by chance,
and the shuffle keeps the sizes, so the comparison is fair at every size.

Where the paper is ambiguous: it used IMDB genres of ML-20M and does not say
how ties, empty or tiny clusters, or movies without genres were handled;
Figure 8 plots "other genres" but we keep the selected genre's own column
(marked) so the heat map shows how pure the top units are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aerec.atomic import atomic_dir
from aerec.errors import AerecError

@dataclass
class GenreComposition:
    """The genre fractions of ``K`` units.

    Attributes:
        genres: the ``G`` genre names (sorted).
        fractions: ``(K, G)``: ``f[k, g]``, the share of unit ``k``'s items (with known genres) that carry genre ``g``;
            0 for a unit without such items.
        sizes: ``(K,)``: unit ``k``'s items with known genres.
        base_rate: ``(G,)``: the share of all items with known genres that carry genre ``g``.
    """

    genres: list[str]
    fractions: np.ndarray
    sizes: np.ndarray
    base_rate: np.ndarray


def genre_matrix(genres: pd.Series | list, sep: str = "|") -> tuple[sp.csr_matrix, list[str]]:
    """Items x genres 0/1 matrix from ``sep``-joined genre strings ("" or None: unknown), and the sorted genre names."""
    lists = [[g for g in str(v).split(sep) if g] if isinstance(v, str) else [] for v in genres]
    names = sorted({g for row in lists for g in row})
    col = {g: j for j, g in enumerate(names)}
    rows = [i for i, row in enumerate(lists) for _ in row]
    cols = [col[g] for row in lists for g in row]
    M = sp.csr_matrix((np.ones(len(rows), np.float64), (rows, cols)), shape=(len(lists), len(names)))
    M.data[:] = 1.0  # a genre listed twice counts once
    return M, names


def composition(item_groups: np.ndarray, n_units: int, item_genres: sp.csr_matrix, genres: list[str]) -> GenreComposition:
    """``f[k, g]`` for the structure ``item_groups`` ((items, R) group ids in ``0..n_units-1``)."""
    item_groups = np.asarray(item_groups, dtype=np.int64)
    m, R = item_groups.shape
    if item_genres.shape[0] != m:
        raise AerecError(f"{item_genres.shape[0]} items have genres but the structure has {m} items")
    known = np.asarray(item_genres.sum(axis=1)).ravel() > 0  # (m,)
    member = sp.csr_matrix((np.ones(m * R), (np.repeat(np.arange(m), R), item_groups.ravel())), shape=(m, n_units))  # (m, K)
    counts = np.asarray((member.T @ item_genres).todense())  # (K, G)
    sizes = np.asarray(member[known].sum(axis=0)).ravel().astype(np.int64)  # (K,)
    fractions = np.divide(counts, sizes[:, None], out=np.zeros_like(counts), where=sizes[:, None] > 0)
    base = np.asarray(item_genres[known].mean(axis=0)).ravel() if known.any() else np.zeros(len(genres))
    return GenreComposition(list(genres), fractions, sizes, base)


def top_units(comp: GenreComposition, g: int, top: int, min_size: int = 1) -> np.ndarray:
    """The ``top`` units (with at least ``min_size`` known items) with the highest ``f[:, g]``; ties: larger unit, then lower id."""
    eligible = np.flatnonzero(comp.sizes >= max(min_size, 1))
    order = np.lexsort((eligible, -comp.sizes[eligible], -comp.fractions[eligible, g]))
    return eligible[order[:top]]


def genre_statistics(comp: GenreComposition, top: int = 25, min_size: int = 1) -> dict:
    """Per genre: ``items``, ``top_mean``, ``dominant``, ``exemplar`` (see the module docstring), and overall means."""
    eligible = comp.sizes >= max(min_size, 1)
    if not eligible.any():
        raise AerecError(f"no unit has at least {max(min_size, 1)} items with known genres")
    dominant = np.bincount(np.argmax(comp.fractions[eligible], axis=1), minlength=len(comp.genres)) / eligible.sum()
    per = {}
    for g, name in enumerate(comp.genres):
        units = top_units(comp, g, top, min_size)
        best = int(units[0])
        three = np.lexsort((np.arange(len(comp.genres)), -comp.fractions[best]))[:3]
        per[name] = {
            "items": float(comp.base_rate[g]),
            "top_mean": float(comp.fractions[units, g].mean()),
            "dominant": float(dominant[g]),
            "top_units": units.tolist(),
            "exemplar": {"unit": best, "size": int(comp.sizes[best]), "top3": {comp.genres[j]: float(comp.fractions[best, j]) for j in three if comp.fractions[best, j] > 0}},
        }
    top_mean = np.array([p["top_mean"] for p in per.values()])
    overall = {
        "mean_top_mean": float(top_mean.mean()),  # mean over genres of the top units' mean fraction
        "mean_top_lift": float(np.mean(top_mean / np.maximum(comp.base_rate, 1e-12))),
        "mean_purity": float(comp.fractions[eligible].max(axis=1).mean()),  # mean over units of the top genre's fraction
        "units": int(eligible.sum()),
    }
    return {"genres": per, "overall": overall}


def shuffled(item_groups: np.ndarray, seed: int) -> np.ndarray:
    """Random groups of the same sizes: item ``i`` takes the group list of item ``perm[i]`` (a seeded permutation)."""
    rng = np.random.default_rng(seed)
    return np.asarray(item_groups)[rng.permutation(len(item_groups))]


def analyse(item_groups: np.ndarray, n_units: int, genres: pd.Series | list, *, top: int = 25, shuffles: int = 10, seed: int = 0, min_size: int = 1) -> dict:
    """Ours and the random baseline (mean and s.d. over ``shuffles`` shuffles with seeds ``seed, seed+1, ...``)."""
    if shuffles < 1:
        raise AerecError(f"--shuffles {shuffles}: need at least 1")
    if shuffles > 100_000:
        raise AerecError(f"--shuffles {shuffles}: at most 100,000")
    if top < 1:
        raise AerecError(f"--top {top}: need at least 1")
    if seed < 0:
        raise AerecError(f"--seed {seed}: must be at least 0")
    if min_size < 0:
        raise AerecError(f"--min-size {min_size}: must be at least 0")
    M, names = genre_matrix(genres)
    if not names:
        raise AerecError("the items have no genres (ml-1m's movies.dat and ml-100k's u.item have them)")
    ours_comp = composition(item_groups, n_units, M, names)
    ours = genre_statistics(ours_comp, top, min_size)
    rand = [genre_statistics(composition(shuffled(item_groups, seed + s), n_units, M, names), top, min_size) for s in range(shuffles)]

    def spread(values: list[float]) -> dict:
        return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}

    random = {
        "genres": {n: {k: spread([r["genres"][n][k] for r in rand]) for k in ("top_mean", "dominant")} for n in names},
        "overall": {k: spread([r["overall"][k] for r in rand]) for k in ("mean_top_mean", "mean_top_lift", "mean_purity")},
        "shuffles": shuffles,
        "seed": seed,
    }
    return {
        "definition": "f[k,g] = share of unit k's items (known genres) carrying genre g; multi-genre items count for each genre",
        "units": int(n_units),
        "items": int(len(item_groups)),
        "items_without_genres": int((np.asarray(M.sum(axis=1)).ravel() == 0).sum()),
        "R": int(np.asarray(item_groups).shape[1]),
        "top": top,
        "min_size": min_size,
        "ours": ours,
        "random": random,
        "_compositions": (ours_comp, composition(shuffled(item_groups, seed), n_units, M, names)),
    }


# -- a saved model ------------------------------------------------------------------------
def load_structure(model_dir: str | Path) -> tuple[np.ndarray, int, pd.DataFrame, str]:
    """The first structured layer of a saved Sw-DAE or deep Sw-DAE: (item_groups, K, items, model name).

    The directory is read with :func:`aerec.artifacts.load_model`, so every file and array is checked first.
    """
    from aerec.artifacts import load_model

    path = Path(model_dir)
    model, items, _ = load_model(path, device="cpu")
    structure = model.describe().get("structure")
    if not isinstance(structure, dict) or not {"groups", "width_bias"} <= set(structure):
        raise AerecError(f"{path}: a {model.name!r} model has no item groups; genre composition needs a model with learned groups (swdae, deep-swdae)")
    state = model.state_dict()
    item_groups = np.asarray(state[structure["groups"]])  # (items, R)
    n_units = int(state[structure["width_bias"]].shape[0])  # K, including any empty unit
    if "genres" not in items.columns or not items["genres"].map(lambda v: isinstance(v, str) and v != "").any():
        raise AerecError(f"{path}/items.parquet: the items have no genres (ml-1m's movies.dat and ml-100k's u.item have them)")
    return item_groups, n_units, items, model.name


def write_outputs(result: dict, out: str | Path, *, command: str = "", overwrite: bool = False) -> Path:
    """``genres.json``, ``genres.md``, ``summary.png`` and one Figure 8 heat map per genre (``fig8-<genre>.png``), atomically."""
    ours_comp, rand_comp = result["_compositions"]
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "genres.json").write_text(json.dumps({k: v for k, v in result.items() if not k.startswith("_")} | {"command": command}, indent=2) + "\n")
        (tmp / "genres.md").write_text(markdown(result, command=command))
        _summary_figure(result).savefig(tmp / "summary.png", dpi=110)
        for g, name in enumerate(ours_comp.genres):
            _heatmap(ours_comp, rand_comp, g, result["top"], result["min_size"], result["random"]["seed"]).savefig(tmp / f"fig8-{slug(name)}.png", dpi=100)
    return Path(out)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "genre"


def markdown(result: dict, *, command: str = "") -> str:
    """The per-genre table (ours vs random groups), the overall means and the Table 8 exemplars."""
    ours, rand, top = result["ours"], result["random"], result["top"]
    lines = []
    if command:
        lines += [f"`{command}`", ""]
    lines += [
        f"{result['units']} units, {result['items']} items (R = {result['R']}; {result['items_without_genres']} without genres); "
        f"random: {rand['shuffles']} seeded shuffles of the items (same group sizes), mean ± s.d.",
        "",
        f"| genre | items with it | top-{top} mean fraction, ours | random | units it dominates, ours | random |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, p in sorted(ours["genres"].items(), key=lambda kv: -kv[1]["items"]):
        r = rand["genres"][name]
        lines.append(f"| {name} | {p['items']:.1%} | {p['top_mean']:.3f} | {r['top_mean']['mean']:.3f} ± {r['top_mean']['sd']:.3f} | {p['dominant']:.1%} | {r['dominant']['mean']:.1%} |")
    o, ro = ours["overall"], rand["overall"]
    lines += [
        "",
        f"- mean over genres of the top-{top} mean fraction: ours {o['mean_top_mean']:.3f}, random {ro['mean_top_mean']['mean']:.3f} ± {ro['mean_top_mean']['sd']:.3f}",
        f"- mean over genres of its lift (top-{top} mean / share of items): ours {o['mean_top_lift']:.2f}, random {ro['mean_top_lift']['mean']:.2f} ± {ro['mean_top_lift']['sd']:.2f}",
        f"- mean over units of the top genre's fraction: ours {o['mean_purity']:.3f}, random {ro['mean_purity']['mean']:.3f} ± {ro['mean_purity']['sd']:.3f}",
        "",
        "Table 8 layout: per genre, the unit with the highest fraction and its top three genres",
        "",
        "| genre | unit | items | top three genres |",
        "|---|---:|---:|---|",
    ]
    for name, p in ours["genres"].items():
        e = p["exemplar"]
        lines.append(f"| {name} | {e['unit']} | {e['size']} | " + ", ".join(f"{g} ({v:.0%})" for g, v in e["top3"].items()) + " |")
    return "\n".join(lines) + "\n"


# -- figures (matplotlib's Agg canvas through Figure; no pyplot state) ----------------------
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _heatmap(ours: GenreComposition, rand: GenreComposition, g: int, top: int, min_size: int, seed: int):
    fig = _figure(13, 0.22 * top + 2.2)
    axes = fig.subplots(1, 2, sharex=True)
    for ax, comp, label in ((axes[0], ours, "Sw-DAE units"), (axes[1], rand, f"random groups, same sizes (shuffle seed {seed})")):
        units = top_units(comp, g, top, min_size)
        im = ax.imshow(comp.fractions[units], vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_yticks(range(len(units)), [str(u) for u in units], fontsize=7)
        ax.set_xticks(range(len(comp.genres)), comp.genres, rotation=60, ha="right", fontsize=8)
        ax.get_xticklabels()[g].set_fontweight("bold")
        ax.set_title(f"{label}: top {len(units)} by {comp.genres[g]}", fontsize=9)
        ax.set_ylabel("unit")
    fig.colorbar(im, ax=axes, label="fraction of the unit's items with the genre", shrink=0.8)
    fig.suptitle(f"Figure 8: genres of the {top} units richest in {ours.genres[g]}")
    return fig


def _summary_figure(result: dict):
    names = sorted(result["ours"]["genres"], key=lambda n: -result["ours"]["genres"][n]["items"])
    ours = [result["ours"]["genres"][n]["top_mean"] for n in names]
    rand = [result["random"]["genres"][n]["top_mean"]["mean"] for n in names]
    err = [result["random"]["genres"][n]["top_mean"]["sd"] for n in names]
    base = [result["ours"]["genres"][n]["items"] for n in names]
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x - 0.2, ours, 0.4, color="#4c78a8", label="Sw-DAE units")
    ax.bar(x + 0.2, rand, 0.4, yerr=err, color="#bab0ac", ecolor="#222", capsize=2, label="random groups, same sizes (± s.d.)")
    ax.scatter(x, base, marker="_", s=200, color="#e45756", zorder=3, label="share of items with the genre")
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.set_ylabel(f"mean fraction, top {result['top']} units")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig
