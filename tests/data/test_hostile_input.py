"""Hostile or careless input data and data options (issue 15): never a traceback, a silent loss or a wrong answer.

Every refusal: exit 1, exactly one line on stderr naming the file and line, or the option, no traceback, and the
input files unchanged byte for byte. Every file is built here, in tmp_path.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aerec.cli import main
from aerec.data.load import read_movielens_csv, read_table
from aerec.errors import DataError


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(capsys, inputs: Path, *argv, needles=()) -> str:
    """Run ``argv``: exit 1, one error line holding every needle, no traceback, ``inputs`` unchanged; the line."""
    before = digest(inputs)
    code, _, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("aerec: error: "), err
    assert "Traceback" not in err and "unexpected" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert digest(inputs) == before
    return lines[0]


def table_rows(n_users=30, per_user=8, n_items=20, seed=0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{u},{i},{rng.choice([1, 2, 3, 4, 5])}.0,{1_000_000 + 10 * u + k}"
            for u in range(1, n_users + 1) for k, i in enumerate(rng.choice(np.arange(1, n_items + 1), per_user, replace=False))]  # fmt: skip


def write_table(folder: Path, rows: list[str], header="user,item,rating,time", name="log.csv", newline="\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes((newline.join([header, *rows]) + newline).encode())
    return path


TABLE = ["--user-col", "user", "--item-col", "item", "--heldout-users", 3, "-q"]


def prepare_table(path: Path, out: Path, *extra):
    return ["prepare", "table", "--data", path, "--out", out, *TABLE, *extra]


# -- 1. a quote left open never swallows rows --------------------------------------------------------------------


def big_ratings(n_users=3000, per_user=20) -> list[str]:
    """About 1.5 MB of ratings.csv lines: more than pyarrow parses at once, where an open quote used to lose rows."""
    return [f"{u},{i},4.0,{964_982_703 + u}" for u in range(1, n_users + 1) for i in range(1, per_user + 1)]


def test_unterminated_quote_in_movielens_ratings_csv_is_an_error_naming_its_line(tmp_path, capsys):
    rows = big_ratings()
    rows.insert(30_000, '1,"2,4.0,964982703')  # line 30,002 of the file (after the header)
    folder = tmp_path / "ml-latest-small"
    write_table(folder, rows, header="userId,movieId,rating,timestamp", name="ratings.csv")
    with pytest.raises(DataError, match=r"ratings\.csv:30002: a quote opened at column 3 is not closed"):
        read_movielens_csv(folder)
    refused(capsys, folder, "prepare", "ml-latest-small", "--data", folder, "--out", tmp_path / "out", "-q",
            needles=("ratings.csv:30002", "quote"))  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_unterminated_quote_in_a_generic_table_is_an_error_naming_its_line(tmp_path, capsys):
    rows = big_ratings()
    rows.insert(40_000, '7,"3,2.0,5')
    log = write_table(tmp_path / "in", rows)
    with pytest.raises(DataError, match=r"log\.csv:40002: a quote opened"):
        read_table(log, user="user", item="item")
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out"), needles=("log.csv:40002", "quote"))


def test_a_quoted_field_spanning_two_lines_is_an_error_not_one_row(tmp_path, capsys):
    rows = table_rows()
    rows[5] = '1,"2'
    rows[6] = '3",4.0,100'
    log = write_table(tmp_path / "in", rows)
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out"), needles=("log.csv:7", "quote"))


def test_every_row_of_a_clean_file_is_read(tmp_path):
    rows = big_ratings()
    log = write_table(tmp_path, rows, header="userId,movieId,rating,timestamp", name="ratings.csv")
    assert len(read_movielens_csv(tmp_path)) == len(rows)
    assert len(read_table(log, user="userId", item="movieId")) == len(rows)


# -- 2. ids are strings end to end ---------------------------------------------------------------------------------


@pytest.fixture
def string_item_model(tmp_path, capsys):
    """A popularity model whose item vocabulary holds numeric-looking strings (00302) beside others (A1)."""
    rows = table_rows()
    rows = [r.replace(",1,", ",A1,", 1) if r.split(",")[1] == "1" else r for r in rows]
    rows = [",".join([u, f"{int(i):05d}" if i.isdigit() else i, *rest]) for u, i, *rest in (r.split(",") for r in rows)]
    log = write_table(tmp_path / "train", rows)
    assert run(capsys, *prepare_table(log, tmp_path / "prep"))[0] == 0
    assert run(capsys, "train", "popularity", "--data", tmp_path / "prep", "--out", tmp_path / "pop", "-q")[0] == 0
    items = pd.read_parquet(tmp_path / "pop" / "items.parquet")["item_id"].astype(str).tolist()
    assert "00002" in items and "A1" in items
    return tmp_path / "pop"


def test_numeric_looking_string_item_ids_match_the_models_vocabulary(string_item_model, tmp_path, capsys):
    log = write_table(tmp_path / "serve", ["u1,00002", "u1,00003", "u2,00004"], header="user,item")
    before = digest(tmp_path / "serve")
    code, _, err = run(capsys, "recommend", string_item_model, "--histories", log, "--out", tmp_path / "recs.csv", "-n", 3)
    assert code == 0, err
    assert "not in the model's vocabulary" not in err and "empty history" not in err  # every item was known
    recs = pd.read_csv(tmp_path / "recs.csv", dtype=str)
    assert set(recs["user_id"]) == {"u1", "u2"}
    assert not {"00002", "00003"} & set(recs[recs["user_id"] == "u1"]["item_id"])  # the fold-in is excluded
    assert digest(tmp_path / "serve") == before


def test_ids_with_leading_zeros_stay_distinct_from_plain_integers(tmp_path):
    log = write_table(tmp_path, ["1,00302", "1,302", "2,0302"], header="user,item")
    data = read_table(log, user="user", item="item")
    assert list(data.item_ids) == ["00302", "302", "0302"]  # three items, not one item 302
    assert data.user_ids is None and data.user.tolist() == [1, 1, 2]


def test_uint64_ids_above_2_63_stay_positive_and_distinct(tmp_path, capsys):
    users = np.array([2**64 - 1 - u for u in range(30) for _ in range(8)], dtype=np.uint64)
    items = np.array([(u * 3 + k) % 20 for u in range(30) for k in range(8)], dtype=np.uint64)
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "log.parquet"
    pd.DataFrame({"user": users, "item": items}).to_parquet(log)
    data = read_table(log, user="user", item="item")
    assert data.raw_users()[0] == str(2**64 - 1) and data.item_ids is None  # small uint64 items stay integers
    code, _, err = run(capsys, *prepare_table(log, tmp_path / "prep"))
    assert code == 0, err
    saved = pd.read_parquet(tmp_path / "prep" / "users.parquet")["user_id"].astype(str)
    assert len(saved) == 30 and all(int(u) >= 2**64 - 30 for u in saved)  # none wrapped to a negative


# -- 3. --protocol ratings needs the ratings -----------------------------------------------------------------------


def test_ratings_protocol_on_a_table_without_value_col_is_refused(tmp_path, capsys):
    log = write_table(tmp_path / "in", table_rows())
    refused(capsys, tmp_path / "in", "prepare", "table", "--data", log, "--out", tmp_path / "out", "--user-col", "user", "--item-col", "item",
            "--protocol", "ratings", "-q", needles=("--value-col",))  # fmt: skip
    assert not (tmp_path / "out").exists()


# -- 4. proportions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--test-prop", "0"], "--test-prop 0.0"),
        (["--test-prop", "1"], "--test-prop 1.0"),
        (["--test-prop", "1.5"], "--test-prop 1.5"),
        (["--test-prop", "-0.2"], "--test-prop -0.2"),
        (["--test-prop", "nan"], "--test-prop nan"),
        (["--protocol", "ratings", "--value-col", "rating", "--test-prop", "0"], "--test-prop 0.0"),
        (["--protocol", "ratings", "--value-col", "rating", "--validation-prop", "1"], "--validation-prop 1.0"),
        (["--protocol", "ratings", "--value-col", "rating", "--validation-prop", "-0.1"], "--validation-prop -0.1"),
        (["--validation-prop", "0.3"], "--validation-prop applies to --protocol ratings only"),
    ],
)
def test_proportions_outside_their_range_are_refused_naming_the_option(tmp_path, capsys, extra, needle):
    log = write_table(tmp_path / "in", table_rows())
    argv = ["prepare", "table", "--data", log, "--out", tmp_path / "out", "--user-col", "user", "--item-col", "item", "-q", *extra]
    if "ratings" not in extra:
        argv += ["--heldout-users", 3]
    refused(capsys, tmp_path / "in", *argv, needles=(needle,))
    assert not (tmp_path / "out").exists()


def test_a_proportion_inside_the_range_still_works(tmp_path, capsys):
    log = write_table(tmp_path / "in", table_rows())
    code, _, err = run(capsys, *prepare_table(log, tmp_path / "out", "--test-prop", "0.5"))
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["protocol"]["split"]["test_prop"] == 0.5


# -- 5. values that overflow float32 -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e308", "1e39", "-3.5e38"])
def test_values_beyond_float32_are_refused_naming_file_and_line(tmp_path, capsys, value):
    rows = table_rows()
    rows.insert(4, f"2,3,{value},100")
    log = write_table(tmp_path / "in", rows)
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out", "--value-col", "rating"), needles=("log.csv:6", "rating", "float32"))
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("".join(r.replace(",", "\t") + "\n" for r in rows))
    refused(capsys, folder, "prepare", "ml-100k", "--data", folder, "--out", tmp_path / "out2", "-q", needles=("u.data:5", "rating", "float32"))


def test_non_finite_and_overflowing_parquet_values_are_refused_naming_the_row(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "log.parquet"
    pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 3], "rating": [4.0, 1e300, 3.0]}).to_parquet(log)
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out", "--value-col", "rating"), needles=("log.parquet: row 2", "rating"))


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", ""])
def test_nan_and_infinite_ratings_are_refused_naming_the_line(tmp_path, capsys, value):
    rows = table_rows()
    rows.insert(2, f"2,3,{value},100")
    log = write_table(tmp_path / "in", rows)
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out", "--value-col", "rating"), needles=("log.csv:4", "rating is not a number"))


# -- 6. aerec synth: sizes it cannot honour ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes,needle",
    [
        (["--users", 100, "--items", 20, "--groups", 4, "--interactions", 100_000], "--interactions 100,000: at most"),  # more than users x items
        (["--users", 100, "--items", 400, "--groups", 50, "--interactions", 100_000], "--interactions 100,000: at most"),  # more than their groups hold
        (["--users", 100, "--items", 20, "--groups", 30, "--interactions", 1000], "--groups 30: more than --items 20"),
        (["--users", 100, "--items", 8, "--groups", 2, "--interactions", 500], "--items 8"),
        (["--users", 1000, "--items", 200, "--groups", 4, "--interactions", 100], "--interactions 100: too few"),
        (["--users", 100, "--items", 50, "--groups", 5, "--interactions", 1000, "--noise", 1.5], "--noise 1.5"),
        (["--users", 100, "--items", 50, "--groups", 5, "--interactions", 1000, "--seed", -1], "--seed -1"),
        (["--users", 100, "--items", 50, "--groups", 5, "--interactions", 1000, "--heldout-users", 0], "--heldout-users 0"),
    ],
)
def test_synth_refuses_sizes_it_cannot_honour_naming_the_option(tmp_path, capsys, sizes, needle):
    tmp_path.joinpath("keep").mkdir()
    refused(capsys, tmp_path / "keep", "synth", *sizes, "--out", tmp_path / "syn", "-q", needles=(needle,))
    assert not (tmp_path / "syn").exists()


def test_synth_with_two_groups_works_and_hits_the_size_asked(tmp_path, capsys):
    code, _, err = run(capsys, "synth", "--users", 100, "--items", 40, "--groups", 2, "--interactions", 1500, "--out", tmp_path / "syn", "-q")
    assert code == 0, err
    read = json.loads((tmp_path / "syn" / "manifest.json").read_text())["read"]["interactions"]
    assert 1500 <= read <= 1500 + 40  # coverage adds at most one pair per item


def test_synth_slightly_beyond_what_fits_says_what_it_generates(tmp_path, capsys):
    code, _, err = run(capsys, "synth", "--users", 300, "--items", 200, "--interactions", 6000, "--out", tmp_path / "syn", "-q")
    assert code == 0, err
    assert err.count("\n") == 1 and err.startswith("aerec: note: --interactions 6,000:") and "at most" in err
    read = json.loads((tmp_path / "syn" / "manifest.json").read_text())["read"]["interactions"]
    assert read < 6000  # fewer than asked, and said so


# -- 7. escape sequences in titles never reach the terminal --------------------------------------------------------


@pytest.fixture
def escape_titles(tmp_path, capsys):
    """A prepared ml-100k folder and popularity model whose item titles hold terminal escape sequences."""
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = [f"{u}\t{i}\t5\t{880_000_000 + 20 * u + k}" for u in range(1, 61) for k, i in enumerate(rng.choice(np.arange(1, 31), 10, replace=False))]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    flags = "|".join(["0"] * 19)
    titles = {i: f"Movie {i}\x1b[2J\x1b]0;owned\x07\u202egnp.exe" for i in range(1, 31)}
    (folder / "u.item").write_bytes("".join(f"{i}|{titles[i]}|01-Jan-1995||http://x|{flags}\n" for i in titles).encode("latin-1", "replace"))
    titles = {i: t.encode("latin-1", "replace").decode("latin-1") for i, t in titles.items()}  # the u+202e is not latin-1
    assert run(capsys, "prepare", "ml-100k", "--data", folder, "--out", tmp_path / "prep", "--heldout-users", 5, "-q")[0] == 0
    assert run(capsys, "train", "popularity", "--data", tmp_path / "prep", "--out", tmp_path / "pop", "-q")[0] == 0
    return tmp_path, titles


def test_recommend_prints_titles_with_control_characters_escaped(escape_titles, capsys):
    tmp_path, titles = escape_titles
    before = digest(tmp_path / "pop")
    code, out, err = run(capsys, "recommend", tmp_path / "pop", "--items", "1,2", "-n", 3)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and len(out.strip().splitlines()) == 3
    assert digest(tmp_path / "pop") == before
    saved = pd.read_parquet(tmp_path / "pop" / "items.parquet")["title"].tolist()
    assert set(saved) == set(titles.values())  # the files keep the titles as read
    code, out, _ = run(capsys, "recommend", tmp_path / "pop", "--items", "1,2", "-n", 3, "--json")
    assert code == 0 and "\x1b" not in out and {r["title"] for r in json.loads(out)} <= set(titles.values())


def test_groups_prints_titles_with_control_characters_escaped(escape_titles, capsys):
    tmp_path, _ = escape_titles
    code, out, err = run(capsys, "groups", "--data", tmp_path / "prep", "-k", 3, "-r", 1, "-f", 3, "--show", 3, "--device", "cpu", "-q")
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out


# -- 8. options and files that cannot be read as asked -------------------------------------------------------------


@pytest.mark.parametrize(
    "columns,needle",
    [
        (["--user-col", "user", "--item-col", "user"], "--user-col and --item-col both name the column 'user'"),
        (["--user-col", "user", "--item-col", "item", "--value-col", "item"], "--item-col and --value-col"),
        (["--user-col", "user", "--item-col", "item", "--time-col", "user"], "--user-col and --time-col"),
        (["--user-col", "user", "--item-col", "nope"], "no column 'nope'"),
        (["--user-col", "user", "--item-col", "item", "--sep", ""], "--sep ''"),
        (["--user-col", "user", "--item-col", "item", "--sep", '"'], "--sep"),
    ],
)
def test_column_and_separator_options_are_checked(tmp_path, capsys, columns, needle):
    log = write_table(tmp_path / "in", table_rows())
    refused(capsys, tmp_path / "in", "prepare", "table", "--data", log, "--out", tmp_path / "out", "--heldout-users", 3, "-q", *columns, needles=(needle,))


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "log.csv:1: the file is empty"),
        (b"user,item,rating,time\n", "log.csv: no interactions"),
        (b"user,item,rating,time\n\n\r\n\n", "log.csv: no interactions"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "log.csv:1"),
        (b"\x00\x00\x00\x00" * 1000, "log.csv:1"),
        (b"user,item,rating,time\n1,2,3,4\n1,\x003,3,4\n", "log.csv:3: a NUL byte"),
        (b"user,item,rating,time\n1,2,3,4\n1,caf\xe9,3,4\n", "log.csv:3: not valid UTF-8"),
        (b"us\xe9r,item,rating,time\n1,2,3,4\n", "log.csv:1: the header is not valid UTF-8"),
        (b"user,item,rating,time\n1,2,3,4\n1,2\r3,3,4\n", "log.csv:3: a carriage return inside the line"),
        (b"user,item,rating,time\r1,2,3,4\r", "log.csv:1"),
        (b"user,item,rating,time\n1,,3,4\n", "log.csv:2: item is empty"),
        (b"user,user,rating,time\n1,2,3,4\n", "the header names the column 'user' 2 times"),
        (b"user,item,rating,time\n1,2,3,4,5\n", "log.csv:2: expected 4 comma-separated fields"),
    ],
)
def test_unreadable_files_are_one_line_errors_naming_the_file(tmp_path, capsys, content, needle):
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "log.csv"
    log.write_bytes(content)
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out"), needles=(needle,))


def test_a_huge_first_line_without_a_newline_is_not_read_as_a_header(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "log.csv"
    log.write_bytes(b"x" * (2 << 20))
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out"), needles=("log.csv:1", "longer than"))


def test_table_options_with_a_known_dataset_are_refused_not_ignored(tmp_path, capsys):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("".join(r.replace(",", "\t") + "\n" for r in table_rows()))
    base = ["prepare", "ml-100k", "--data", folder, "--out", tmp_path / "out", "-q"]
    refused(capsys, folder, *base, "--value-col", "rating", needles=("--value-col applies to 'aerec prepare table' only",))
    refused(capsys, folder, *base, "--source", "derived", needles=("--source applies to ml-1m only",))
    refused(capsys, folder, *base, "--protocol", "ratings", "--heldout-users", 3, needles=("--heldout-users does not apply to --protocol ratings",))
    refused(capsys, folder, *base, "--seed", -1, needles=("--seed -1",))
    refused(capsys, folder, *base, "--min-user-items", -2, needles=("--min-user-items -2",))


# -- 9. --value-above -----------------------------------------------------------------------------------------------


def test_value_above_with_equals_none_keeps_every_value(tmp_path, capsys):
    log = write_table(tmp_path / "in", table_rows())
    for name, flag in (("spaced", ["--value-above", "none"]), ("equals", ["--value-above=none"])):
        code, _, err = run(capsys, *prepare_table(log, tmp_path / name, "--value-col", "rating", *flag))
        assert code == 0, err
    def read(name):
        return json.loads((tmp_path / name / "manifest.json").read_text())

    assert read("equals")["protocol"]["filters"]["value_above"] is None
    assert read("equals")["counts"] == read("spaced")["counts"]


@pytest.mark.parametrize("extra,needle", [([], "--value-above 3.5: needs --value-col"), (["--value-col", "rating", "--value-above", "nan"], "--value-above nan")])
def test_value_above_needs_a_value_column_and_a_finite_threshold(tmp_path, capsys, extra, needle):
    log = write_table(tmp_path / "in", table_rows())
    args = extra or ["--value-above", "3.5"]
    refused(capsys, tmp_path / "in", *prepare_table(log, tmp_path / "out", *args), needles=(needle,))


# -- more of the same family ---------------------------------------------------------------------------------------


def test_windows_line_endings_blank_lines_and_a_bom_read_the_same_rows(tmp_path, capsys):
    rows = table_rows()
    plain = read_table(write_table(tmp_path / "a", rows), user="user", item="item", value="rating", timestamp="time")
    crlf = read_table(write_table(tmp_path / "b", rows, newline="\r\n"), user="user", item="item", value="rating", timestamp="time")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "log.csv").write_bytes(b"\xef\xbb\xbf" + ("user,item,rating,time\n\n" + "\n\r\n".join(rows) + "\n").encode())
    blank = read_table(tmp_path / "c" / "log.csv", user="user", item="item", value="rating", timestamp="time")
    for other in (crlf, blank):
        np.testing.assert_array_equal(other.user, plain.user)
        np.testing.assert_array_equal(other.value, plain.value)
        np.testing.assert_array_equal(other.timestamp, plain.timestamp)


@pytest.mark.parametrize("name,content,needle", [
    ("citeulike-a", b"3 1 -2 4\n", "users.dat:1: a negative count or item id"),
    ("citeulike-a", b"", "users.dat: no interactions"),
    ("netflix", b"1:\n2:\n", "no ratings"),
    ("ml-100k", b"\n\n", "u.data: no interactions"),
])  # fmt: skip
def test_empty_and_negative_raw_formats_are_refused(tmp_path, capsys, name, content, needle):
    folder = tmp_path / name
    folder.mkdir()
    file = {"citeulike-a": "users.dat", "netflix": "combined_data_1.txt", "ml-100k": "u.data"}[name]
    (folder / file).write_bytes(content)
    refused(capsys, folder, "prepare", name, "--data", folder, "--out", tmp_path / "out", "-q", needles=(needle,))


def test_recommend_histories_checks_its_column_options(string_item_model, tmp_path, capsys):
    log = write_table(tmp_path / "serve", ["u1,00002,4"], header="user,item,rating")
    out = tmp_path / "recs.csv"
    refused(capsys, tmp_path / "serve", "recommend", string_item_model, "--histories", log, "--out", out, "--item-col", "user", needles=("--user-col and --item-col",))
    refused(capsys, tmp_path / "serve", "recommend", string_item_model, "--histories", log, "--out", out, "--value-col", "rating", "--value-above", "inf", needles=("--value-above inf",))
    refused(capsys, tmp_path / "serve", "recommend", string_item_model, "--items", "00002", "--value-col", "rating", needles=("--value-col goes with --histories",))
    assert not out.exists()


def test_a_bare_carriage_return_in_a_movies_csv_title_is_no_traceback(tmp_path, capsys):
    folder = tmp_path / "ml-latest-small"
    write_table(folder, [r.rsplit(",", 1)[0] + ",964982703" for r in table_rows()], header="userId,movieId,rating,timestamp", name="ratings.csv")
    (folder / "movies.csv").write_bytes(b"movieId,title,genres\n" + b"".join(b"%d,Movie\r%d,Comedy\n" % (i, i) for i in range(1, 21)))
    code, _, err = run(capsys, "prepare", "ml-latest-small", "--data", folder, "--out", tmp_path / "out", "--heldout-users", 3, "-q")
    assert code == 0, err
    assert "\r" not in "".join(pd.read_parquet(tmp_path / "out" / "items.parquet")["title"])
