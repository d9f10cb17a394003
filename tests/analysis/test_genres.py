"""Genre composition of hidden units: exact fractions on a hand-made structure, the random baseline, the CLI's errors."""

import json

import numpy as np
import pandas as pd
import pytest

from aerec.analysis.genres import analyse, composition, genre_matrix, genre_statistics, shuffled, top_units
from aerec.cli import main

# 6 items, 3 units, R = 2. Genres and groups chosen so every fraction is a small exact ratio.
GENRES = ["Drama", "Drama|Comedy", "Comedy", "Horror", "Horror|Drama", ""]
GROUPS = np.array([[0, 1], [0, 2], [1, 2], [2, 0], [2, 1], [1, 0]])
# unit 0: items 0, 1, 3, 5 (5 unknown) -> known 3: Drama 2/3, Comedy 1/3, Horror 1/3
# unit 1: items 0, 2, 4, 5 -> known 3: Drama 2/3, Comedy 1/3, Horror 1/3
# unit 2: items 1, 2, 3, 4 -> known 4: Drama 2/4, Comedy 2/4, Horror 2/4


def test_fractions_are_exact_on_a_hand_made_structure():
    M, names = genre_matrix(GENRES)
    assert names == ["Comedy", "Drama", "Horror"]
    comp = composition(GROUPS, 3, M, names)
    np.testing.assert_array_equal(comp.sizes, [3, 3, 4])
    expected = np.array([[1 / 3, 2 / 3, 1 / 3], [1 / 3, 2 / 3, 1 / 3], [2 / 4, 2 / 4, 2 / 4]])  # (K, G): Comedy, Drama, Horror
    np.testing.assert_allclose(comp.fractions, expected)
    np.testing.assert_allclose(comp.base_rate, [2 / 5, 3 / 5, 2 / 5])  # of the 5 items with known genres
    # top units by Horror: unit 2 (1/2), then the tie 0 and 1 (same size) broken by the lower id
    assert top_units(comp, 2, 3).tolist() == [2, 0, 1]
    stats = genre_statistics(comp, top=2)
    assert stats["genres"]["Horror"]["top_mean"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert stats["genres"]["Drama"]["dominant"] == pytest.approx(2 / 3)  # units 0, 1; unit 2's three-way tie goes to Comedy
    assert stats["genres"]["Comedy"]["dominant"] == pytest.approx(1 / 3)
    assert stats["genres"]["Drama"]["exemplar"] == {"unit": 0, "size": 3, "top3": {"Drama": pytest.approx(2 / 3), "Comedy": pytest.approx(1 / 3), "Horror": pytest.approx(1 / 3)}}


def test_an_empty_unit_has_zero_fractions_and_is_never_a_top_unit():
    M, names = genre_matrix(["A", "B", "A|B"])
    comp = composition(np.array([[0], [0], [1]]), 3, M, names)  # unit 2 is empty
    np.testing.assert_array_equal(comp.sizes, [2, 1, 0])
    np.testing.assert_array_equal(comp.fractions[2], [0, 0])
    assert 2 not in top_units(comp, 0, 3)


def test_shuffle_keeps_group_sizes_and_is_seeded():
    g = np.random.default_rng(0).integers(0, 10, (50, 1))
    s = shuffled(g, 3)
    np.testing.assert_array_equal(np.bincount(s.ravel(), minlength=10), np.bincount(g.ravel(), minlength=10))
    np.testing.assert_array_equal(s, shuffled(g, 3))


def planted(n_genres=6, per_genre=40, R=2, seed=0):
    """Items of one genre each; units 0..n_genres-1 hold one genre's items (genre-pure), units beyond mix."""
    rng = np.random.default_rng(seed)
    genre = np.repeat(np.arange(n_genres), per_genre)
    K = 2 * n_genres
    groups = np.stack([genre, n_genres + rng.integers(0, n_genres, len(genre))], axis=1)[:, :R]
    return groups, K, [f"G{g}" for g in genre]


def test_random_groups_are_less_concentrated_than_planted_genre_pure_ones():
    groups, K, genres = planted()
    r = analyse(groups, K, genres, top=1, shuffles=5, seed=0)  # one pure unit per genre
    for name, p in r["ours"]["genres"].items():
        assert p["exemplar"]["top3"] == {name: 1.0}  # a pure unit
        assert p["top_mean"] == 1.0 > r["random"]["genres"][name]["top_mean"]["mean"] + 0.4
    assert r["ours"]["overall"]["mean_purity"] > r["random"]["overall"]["mean_purity"]["mean"]


def write_model(folder, name="swdae", genres=GENRES, groups=GROUPS, K=3):
    """A real saved model (load_model checks every file): a Sw-DAE built on ``groups`` with K units, or an EASE."""
    import scipy.sparse as sp
    import torch

    from aerec.artifacts import save_model
    from aerec.models import EASE, SwDAE

    m = len(groups)
    if name == "swdae":
        model = SwDAE(n_groups=K, overlap=groups.shape[1])
        model.n_items_ = m
        model._build(groups.astype(np.int64), torch.device("cpu"))
    else:
        model = EASE(l2=1.0).fit(sp.csr_matrix(np.eye(m, dtype=np.float32)))
    items = pd.DataFrame({"item_id": np.arange(m).astype(str), "title": [f"m{i}" for i in range(m)], "genres": genres})
    return save_model(model, folder, items)


def test_cli_writes_tables_and_heat_maps(tmp_path, capsys):
    groups, K, genres = planted()
    model = write_model(tmp_path / "m", groups=groups, K=K, genres=genres)
    assert main(["genres", str(model), "--top", "1", "--shuffles", "2", "--out", str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    assert "| G0 |" in out and "random" in out
    files = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert files == sorted([".aerec", "genres.json", "genres.md", "summary.png"] + [f"fig8-g{g}.png" for g in range(6)])
    saved = json.loads((tmp_path / "g" / "genres.json").read_text())
    assert saved["ours"]["genres"]["G0"]["top_mean"] == 1.0 and saved["command"].startswith("aerec genres")
    assert (tmp_path / "g" / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("name", "genres", "message"),
    [("ease", GENRES, "has no item groups"), ("swdae", [""] * 6, "no genres")],
)
def test_cli_errors_are_one_line(tmp_path, capsys, name, genres, message):
    model = write_model(tmp_path / "m", name=name, genres=genres)
    assert main(["genres", str(model), "--out", str(tmp_path / "g")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("aerec: error:")
    assert not (tmp_path / "g").exists()


def test_cli_error_for_a_missing_model_directory(tmp_path, capsys):
    assert main(["genres", str(tmp_path / "nothing")]) == 1
    assert "not a model directory" in capsys.readouterr().err
