"""Readers of the published dataset formats: tiny files written here, in each original format.

No dataset file is ever copied into the repository: the unit tests write their
own few-line files into ``tmp_path``, and the ``slow`` tests read the real data
from ``../shared/data`` (skipped where it is absent).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aerec.data import load
from aerec.data.load import (
    READERS,
    read_citeulike,
    read_lastfm,
    read_ml1m,
    read_ml100k,
    read_movielens_csv,
    read_msd,
    read_netflix,
    read_table,
)
from aerec.errors import ConfigError, DataError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

STANDARD_GENRES = (
    "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
    "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n"
    "Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"
)


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def raises_one_line(match: str, call, *args, error=DataError, **kwargs) -> str:
    """Call, expect ``error`` matching ``match``, and check its message is one line."""
    with pytest.raises(error, match=match) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def assert_arrays(data, user, item, value, timestamp=None) -> None:
    np.testing.assert_array_equal(data.user, np.array(user, dtype=np.int64), strict=True)
    np.testing.assert_array_equal(data.item, np.array(item, dtype=np.int64), strict=True)
    np.testing.assert_array_equal(data.value, np.array(value, dtype=np.float32), strict=True)
    if timestamp is None:
        assert data.timestamp is None
    else:
        np.testing.assert_array_equal(
            data.timestamp, np.array(timestamp, dtype=np.int64), strict=True
        )


def assert_items(items: pd.DataFrame, expected: dict[int, tuple[str, str]]) -> None:
    assert list(items.columns) == ["title", "genres"]
    assert items.index.dtype == np.int64
    assert list(items.index) == list(expected)
    assert list(items["title"]) == [t for t, _ in expected.values()]
    assert list(items["genres"]) == [g for _, g in expected.values()]


def epoch(day: str) -> int:
    return int(datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC).timestamp())


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Parse in blocks of a few bytes, so that every file spans many blocks."""
    monkeypatch.setattr(load, "_BLOCK_BYTES", 7)


# ----------------------------------------------------------------------------- MovieLens 100K

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t302\t5\t881250950\n"
U_ITEM = (
    "242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)"
    "|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "302|L.A. Confidential (1997)|01-Jan-1997||http://x|0|0|0|0|0|0|1|0|0|0|1|0|0|1|0|0|1|0|0\n"
    "377|Café Society (1995)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)


@pytest.fixture
def ml100k(tmp_path) -> Path:
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", U_DATA)
    write(folder / "u.item", U_ITEM, encoding="latin-1")
    write(folder / "u.genre", STANDARD_GENRES)
    return folder


def test_ml100k_reads_ratings_in_file_order_with_metadata(ml100k):
    data = read_ml100k(ml100k)
    assert_arrays(
        data, [196, 186, 22, 196], [242, 302, 377, 302], [3, 3, 1, 5],
        [881250949, 891717742, 878887116, 881250950],
    )  # fmt: skip
    assert data.user_ids is None and data.item_ids is None
    assert_items(data.items, {
        242: ("Kolya (1996)", "Comedy"),
        302: ("L.A. Confidential (1997)", "Crime|Film-Noir|Mystery|Thriller"),
        377: ("Café Society (1995)", ""),
    })  # fmt: skip
    assert data.sources == [ml100k / "u.data", ml100k / "u.item", ml100k / "u.genre"]


def test_ml100k_accepts_the_file_and_default_genre_names(ml100k):
    (ml100k / "u.genre").unlink()
    data = read_ml100k(ml100k / "u.data")
    assert data.items.loc[302, "genres"] == "Crime|Film-Noir|Mystery|Thriller"
    assert data.sources == [ml100k / "u.data", ml100k / "u.item"]


def test_ml100k_genre_names_come_from_u_genre(ml100k):
    write(ml100k / "u.genre", STANDARD_GENRES.replace("Comedy|5", "Komödie|5"), "latin-1")
    assert read_ml100k(ml100k).items.loc[242, "genres"] == "Komödie"


def test_ml100k_without_u_item_has_no_metadata(ml100k):
    (ml100k / "u.item").unlink()
    assert read_ml100k(ml100k).items is None


def test_ml100k_wrong_field_count_names_file_line_and_text(ml100k):
    write(ml100k / "u.data", "1\t2\t3\t4\n5\t6\t7\t8\nabc 1\n")
    message = raises_one_line(
        r"u\.data:3: expected 4 tab-separated fields \(user, item, rating, timestamp\), "
        r"got 'abc 1'",
        read_ml100k, ml100k,
    )  # fmt: skip
    assert str(ml100k / "u.data") in message


def test_ml100k_three_fields_and_too_many_fields(ml100k):
    write(ml100k / "u.data", "1\t2\t3\t4\n5\t6\t7\n")
    raises_one_line(r"u\.data:2: expected 4 tab-separated", read_ml100k, ml100k)
    write(ml100k / "u.data", "1\t2\t3\t4\t5\n")
    raises_one_line(r"u\.data:1: expected 4 tab-separated", read_ml100k, ml100k)


def test_ml100k_non_numeric_rating(ml100k):
    write(ml100k / "u.data", "1\t2\t3\t4\n5\t6\tx\t8\n")
    raises_one_line(r"u\.data:2: rating is not a number: 'x'", read_ml100k, ml100k)


def test_ml100k_non_integer_id_and_missing_value(ml100k):
    write(ml100k / "u.data", "1\t2\t3\t4\n1.5\t6\t3\t8\n")
    raises_one_line(r"u\.data:2: user is not an integer: '1\.5'", read_ml100k, ml100k)
    write(ml100k / "u.data", "1\t2\t3\t4\n5\t6\t\t8\n")
    raises_one_line(r"u\.data:2: rating is not a number: ''", read_ml100k, ml100k)
    write(ml100k / "u.data", "1\t2\tnan\t4\n")
    raises_one_line(r"u\.data:1: rating is not a number: 'nan'", read_ml100k, ml100k)


def test_ml100k_line_numbers_are_right_across_blocks(ml100k, tiny_blocks):
    lines = [f"{u}\t{u + 1}\t4\t{1000 + u}\n" for u in range(40)]
    write(ml100k / "u.data", "".join(lines))
    data = read_ml100k(ml100k)
    assert_arrays(data, range(40), range(1, 41), [4] * 40, range(1000, 1040))
    lines[33] = "33\t34\tfour\t1033\n"
    write(ml100k / "u.data", "".join(lines))
    raises_one_line(r"u\.data:34: rating is not a number: 'four'", read_ml100k, ml100k)


def test_ml100k_blank_lines_are_skipped_but_counted(ml100k):
    write(ml100k / "u.data", "1\t2\t3\t4\n\n5\t6\t7\t8\n\n")
    assert_arrays(read_ml100k(ml100k), [1, 5], [2, 6], [3, 7], [4, 8])
    write(ml100k / "u.data", "1\t2\t3\t4\n\n5\t6\t7\n")
    raises_one_line(r"u\.data:3: expected 4", read_ml100k, ml100k)


def test_ml100k_bad_u_item(ml100k):
    write(ml100k / "u.item", U_ITEM + "9|Short|line\n", encoding="latin-1")
    raises_one_line(r"u\.item:4: expected 24 '\|'-separated fields", read_ml100k, ml100k)
    write(ml100k / "u.item", U_ITEM.replace("|0|0|0|0|0|1|", "|0|0|0|0|0|x|", 1), "latin-1")
    raises_one_line(r"u\.item:1: genre flags must be 0 or 1", read_ml100k, ml100k)
    write(ml100k / "u.item", U_ITEM + U_ITEM.splitlines(keepends=True)[0], "latin-1")
    raises_one_line(r"u\.item:4: item 242 is listed twice", read_ml100k, ml100k)


def test_ml100k_missing_folder_and_file(tmp_path):
    raises_one_line(r"nowhere: no such file or folder", read_ml100k, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    raises_one_line(r"empty/u\.data: no such file", read_ml100k, tmp_path / "empty")


# ----------------------------------------------------------------------------- MovieLens 1M

RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
MOVIES_DAT = (
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "2000::Café: Bar (1999)::Comedy\n"
)
DERIVED_CSV = "UserID,ItemIndex,MovieID,Rating\n1,3,1193,5\n1,1,661,3\n2,2,,4\n2,3,1193,1\n"
MAPPING_CSV = (
    "item_index,MovieID,candidate_MovieIDs,n_ratings,evidence\n"
    "1,661,661,1,exact\n2,,700 701,1,ambiguous\n3,1193,1193,2,inferred\n"
)


@pytest.fixture
def ml1m(tmp_path) -> Path:
    folder = tmp_path / "ml-1m"
    write(folder / "movies.dat", MOVIES_DAT, encoding="latin-1")
    write(folder / "derived" / "ratings_without_timestamps.csv", DERIVED_CSV)
    write(folder / "derived" / "item_index_to_MovieID.csv", MAPPING_CSV)
    return folder


def test_ml1m_ratings_dat_with_movies_dat(ml1m):
    write(ml1m / "ratings.dat", RATINGS_DAT)
    for data in (read_ml1m(ml1m), read_ml1m(ml1m / "ratings.dat"), read_ml1m(ml1m, "ratings.dat")):
        assert_arrays(
            data, [1, 1, 2], [1193, 661, 1193], [5, 3, 4], [978300760, 978302109, 978298413]
        )
        assert_items(data.items, {
            661: ("James and the Giant Peach (1996)", "Animation|Children's|Musical"),
            1193: ("One Flew Over the Cuckoo's Nest (1975)", "Drama"),
            2000: ("Café: Bar (1999)", "Comedy"),
        })  # fmt: skip
        assert data.sources == [ml1m / "ratings.dat", ml1m / "movies.dat"]


def test_ml1m_derived_csv_uses_item_index_and_maps_metadata(ml1m):
    for data in (read_ml1m(ml1m), read_ml1m(ml1m, source="derived"),
                 read_ml1m(ml1m / "derived" / "ratings_without_timestamps.csv")):  # fmt: skip
        assert_arrays(data, [1, 1, 2, 2], [3, 1, 2, 3], [5, 3, 4, 1])
        assert_items(data.items, {
            1: ("James and the Giant Peach (1996)", "Animation|Children's|Musical"),
            2: ("", ""),
            3: ("One Flew Over the Cuckoo's Nest (1975)", "Drama"),
        })  # fmt: skip
        derived = ml1m / "derived"
        assert data.sources == [
            derived / "ratings_without_timestamps.csv",
            derived / "item_index_to_MovieID.csv",
            ml1m / "movies.dat",
        ]


def test_ml1m_prefers_ratings_dat_unless_told(ml1m):
    write(ml1m / "ratings.dat", RATINGS_DAT)
    assert read_ml1m(ml1m).timestamp is not None
    assert read_ml1m(ml1m, source="derived").timestamp is None


def test_ml1m_derived_without_mapping_has_no_metadata(ml1m):
    (ml1m / "derived" / "item_index_to_MovieID.csv").unlink()
    assert read_ml1m(ml1m).items is None


def test_ml1m_ratings_dat_errors(ml1m):
    write(ml1m / "ratings.dat", "1::2::3::4\n1::2::3\n")
    raises_one_line(
        r"ratings\.dat:2: expected 4 '::'-separated fields \(user, item, rating, timestamp\), "
        r"got '1::2::3'",
        read_ml1m, ml1m,
    )  # fmt: skip
    write(ml1m / "ratings.dat", "1::2::3::4\n1::2::five::4\n")
    raises_one_line(r"ratings\.dat:2: rating is not a number: 'five'", read_ml1m, ml1m)
    write(ml1m / "ratings.dat", "1::2::3::4\n1\t2::3::4::5\n")
    raises_one_line(r"ratings\.dat:2: user is not an integer: '1\\t2'", read_ml1m, ml1m)


def test_ml1m_derived_errors_count_the_header_line(ml1m):
    write(ml1m / "derived" / "ratings_without_timestamps.csv", DERIVED_CSV + "3,4,5,x\n")
    raises_one_line(
        r"ratings_without_timestamps\.csv:6: Rating is not a number: 'x'", read_ml1m, ml1m
    )
    write(ml1m / "derived" / "ratings_without_timestamps.csv", DERIVED_CSV + "3,4,5\n")
    raises_one_line(r"ratings_without_timestamps\.csv:6: expected 4 comma-separated", read_ml1m, ml1m)
    write(ml1m / "derived" / "ratings_without_timestamps.csv", "user,item,rating\n1,2,3\n")
    raises_one_line(r"ratings_without_timestamps\.csv:1: expected the header", read_ml1m, ml1m)


def test_ml1m_bad_movies_dat(ml1m):
    write(ml1m / "ratings.dat", RATINGS_DAT)
    write(ml1m / "movies.dat", MOVIES_DAT + "12::No genres\n", encoding="latin-1")
    raises_one_line(r"movies\.dat:4: expected 3 '::'-separated fields", read_ml1m, ml1m)


def test_ml1m_missing_files_and_bad_source(tmp_path, ml1m):
    raises_one_line(r"no such file or folder", read_ml1m, tmp_path / "nowhere")
    raises_one_line(r"ratings\.dat: no such file", read_ml1m, ml1m, source="ratings.dat")
    (tmp_path / "empty").mkdir()
    raises_one_line(r"ratings_without_timestamps\.csv: no such file", read_ml1m, tmp_path / "empty")
    raises_one_line(r"source must be", read_ml1m, ml1m, source="csv", error=ConfigError)


# ----------------------------------------------------------------------------- MovieLens CSV

RATINGS_CSV = "userId,movieId,rating,timestamp\n1,29,3.5,1112484676\n1,11,0.5,1112484819\n7,29,5.0,964982703\n"
MOVIES_CSV = (
    "movieId,title,genres\n"
    "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
    "29,\"City of Lost Children, The (Cité des enfants perdus, La) (1995)\",Adventure|Sci-Fi\n"
    "122888,Ben-hur (2016),(no genres listed)\n"
)


@pytest.fixture
def ml_csv(tmp_path) -> Path:
    folder = tmp_path / "ml-latest-small"
    write(folder / "ratings.csv", RATINGS_CSV)
    write(folder / "movies.csv", MOVIES_CSV)
    return folder


def test_movielens_csv_reads_half_star_ratings_and_quoted_titles(ml_csv):
    for data in (read_movielens_csv(ml_csv), read_movielens_csv(ml_csv / "ratings.csv")):
        assert_arrays(data, [1, 1, 7], [29, 11, 29], [3.5, 0.5, 5.0],
                      [1112484676, 1112484819, 964982703])  # fmt: skip
        assert_items(data.items, {
            11: ("American President, The (1995)", "Comedy|Drama|Romance"),
            29: ("City of Lost Children, The (Cité des enfants perdus, La) (1995)",
                 "Adventure|Sci-Fi"),
            122888: ("Ben-hur (2016)", ""),
        })  # fmt: skip
        assert data.sources == [ml_csv / "ratings.csv", ml_csv / "movies.csv"]


def test_movielens_csv_errors(ml_csv):
    write(ml_csv / "ratings.csv", RATINGS_CSV + "1,2,x,4\n")
    raises_one_line(r"ratings\.csv:5: rating is not a number: 'x'", read_movielens_csv, ml_csv)
    write(ml_csv / "ratings.csv", RATINGS_CSV + "1,2,3\n")
    raises_one_line(
        r"ratings\.csv:5: expected 4 comma-separated fields \(user, item, rating, timestamp\)",
        read_movielens_csv, ml_csv,
    )  # fmt: skip
    write(ml_csv / "ratings.csv", "movieId,title,genres\n1,x,y\n")
    raises_one_line(
        r"ratings\.csv:1: expected the header 'userId,movieId,rating,timestamp'",
        read_movielens_csv, ml_csv,
    )  # fmt: skip
    write(ml_csv / "ratings.csv", RATINGS_CSV)
    write(ml_csv / "movies.csv", MOVIES_CSV + "12,Unquoted, comma (1999),Drama\n")
    raises_one_line(r"movies\.csv:5: expected 3 comma-separated", read_movielens_csv, ml_csv)
    write(ml_csv / "movies.csv", MOVIES_CSV + "x,Title,Drama\n")
    raises_one_line(r"movies\.csv:5: item id is not an integer: 'x'", read_movielens_csv, ml_csv)
    (ml_csv / "ratings.csv").unlink()
    raises_one_line(r"ratings\.csv: no such file", read_movielens_csv, ml_csv)


def test_movielens_csv_bad_utf8_names_the_line(ml_csv):
    (ml_csv / "movies.csv").write_bytes(MOVIES_CSV.encode() + "13,Caf\xe9 (1999),Drama\n".encode("latin-1"))
    raises_one_line(r"movies\.csv:5: not valid utf-8 text", read_movielens_csv, ml_csv)


# ----------------------------------------------------------------------------- Netflix

MV_1 = "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n"
MV_2 = "2:\n2059652,4,2005-09-05\n1488844,1,1999-12-31\n885013,4,2005-10-19\n"
MV_10 = "10:\n822109,2,2004-02-29\n"
NETFLIX_USERS = [1488844, 822109, 2059652, 1488844, 885013, 822109]
NETFLIX_ITEMS = [1, 1, 2, 2, 2, 10]
NETFLIX_RATINGS = [3, 5, 4, 1, 4, 2]
NETFLIX_DAYS = ["2005-09-06", "2005-05-13", "2005-09-05", "1999-12-31", "2005-10-19", "2004-02-29"]
MOVIE_TITLES = "1,2003,Dinosaur Planet\n2,NULL,Isle of Man TT 2004 Review\n10,1978,Café, Bar, and Grill\n"


def assert_netflix(data) -> None:
    assert_arrays(data, NETFLIX_USERS, NETFLIX_ITEMS, NETFLIX_RATINGS,
                  [epoch(d) for d in NETFLIX_DAYS])  # fmt: skip


@pytest.fixture
def netflix_training_set(tmp_path) -> Path:
    folder = tmp_path / "netflix"
    # written out of order: the reader must sort by name
    write(folder / "training_set" / "mv_0000010.txt", MV_10)
    write(folder / "training_set" / "mv_0000002.txt", MV_2, newline="\r\n")
    write(folder / "training_set" / "mv_0000001.txt", MV_1)
    write(folder / "movie_titles.csv", MOVIE_TITLES, encoding="latin-1")
    return folder


@pytest.fixture
def netflix_combined(tmp_path) -> Path:
    folder = tmp_path / "kaggle"
    write(folder / "combined_data_2.txt", MV_10)
    write(folder / "combined_data_1.txt", MV_1 + MV_2)
    write(folder / "movie_titles.csv", MOVIE_TITLES, encoding="latin-1")
    return folder


def test_netflix_training_set_layout(netflix_training_set):
    data = read_netflix(netflix_training_set)
    assert_netflix(data)
    assert_items(data.items, {
        1: ("Dinosaur Planet", ""),
        2: ("Isle of Man TT 2004 Review", ""),
        10: ("Café, Bar, and Grill", ""),
    })  # fmt: skip
    folder = netflix_training_set / "training_set"
    assert data.sources == [folder / "mv_0000001.txt", folder / "mv_0000002.txt",
                            folder / "mv_0000010.txt", netflix_training_set / "movie_titles.csv"]  # fmt: skip
    assert_netflix(read_netflix(folder))  # the training_set folder itself


def test_a_netflix_folder_with_both_layouts_is_an_error_not_half_a_read(netflix_training_set):
    write(netflix_training_set / "combined_data_1.txt", MV_1 + MV_2 + MV_10)
    with pytest.raises(DataError, match="both published forms.*3 mv_\\*.txt files and 1 combined_data"):
        read_netflix(netflix_training_set)
    assert_netflix(read_netflix(netflix_training_set / "training_set"))  # one form, named: fine
    assert_netflix(read_netflix(netflix_training_set / "combined_data_1.txt"))


def test_netflix_combined_layout(netflix_combined):
    data = read_netflix(netflix_combined)
    assert_netflix(data)
    assert list(data.items.index) == [1, 2, 10]
    assert [p.name for p in data.sources] == [
        "combined_data_1.txt", "combined_data_2.txt", "movie_titles.csv"
    ]
    one = read_netflix(netflix_combined / "combined_data_1.txt")
    assert list(one.item) == [1, 1, 2, 2, 2]


def test_netflix_movies_spanning_blocks(netflix_training_set, netflix_combined, tiny_blocks):
    assert_netflix(read_netflix(netflix_training_set))
    assert_netflix(read_netflix(netflix_combined))


def test_netflix_without_titles(netflix_combined):
    (netflix_combined / "movie_titles.csv").unlink()
    assert read_netflix(netflix_combined).items is None
    write(netflix_combined / "movie_titles.txt", MOVIE_TITLES, encoding="latin-1")
    assert read_netflix(netflix_combined).items.loc[10, "title"] == "Café, Bar, and Grill"


@pytest.mark.parametrize("blocks", ["default", "tiny"])
def test_netflix_errors_name_file_and_line(netflix_combined, monkeypatch, blocks):
    if blocks == "tiny":
        monkeypatch.setattr(load, "_BLOCK_BYTES", 7)
    file = netflix_combined / "combined_data_1.txt"
    cases = {
        MV_1 + "2:\n5,x,2005-01-01\n": r"combined_data_1\.txt:5: Rating is not a number: 'x'",
        MV_1 + "2:\n5,3\n": r"combined_data_1\.txt:5: expected 3 comma-separated fields "
        r"\(CustomerID, Rating, Date\), got '5,3'",
        MV_1 + "2:\n5,,2005-01-01\n": r"combined_data_1\.txt:5: Rating is not a number: ''",
        MV_1 + "2:\n5,3,2005-02-30\n": r"combined_data_1\.txt:5: Date is not a date \(YYYY-MM-DD\): "
        r"'2005-02-30'",
        MV_1 + "2:\n5,3,\n": r"combined_data_1\.txt:5: Date is not a date",
        MV_1 + "x2:\n5,3,2005-01-01\n": r"combined_data_1\.txt:4: expected a 'MovieID:' line, got 'x2:'",
        MV_1 + "2:3\n": r"combined_data_1\.txt:4: expected 3 comma-separated",
        "5,3,2005-01-01\n" + MV_1: r"combined_data_1\.txt:1: expected a 'MovieID:' line first",
    }
    for text, match in cases.items():
        write(file, text)
        raises_one_line(match, read_netflix, netflix_combined)


def test_netflix_bad_titles_and_missing(tmp_path, netflix_combined):
    write(netflix_combined / "movie_titles.csv", MOVIE_TITLES + "11,19x9,Title\n", "latin-1")
    raises_one_line(r"movie_titles\.csv:4: YearOfRelease is not a year: '19x9'",
                    read_netflix, netflix_combined)  # fmt: skip
    write(netflix_combined / "movie_titles.csv", MOVIE_TITLES + "11 2000\n", "latin-1")
    raises_one_line(r"movie_titles\.csv:4: expected 'MovieID,YearOfRelease,Title'",
                    read_netflix, netflix_combined)  # fmt: skip
    raises_one_line(r"no such file or folder", read_netflix, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    raises_one_line(r"empty: no such file \(expected training_set/mv_\*\.txt",
                    read_netflix, tmp_path / "empty")  # fmt: skip


# ----------------------------------------------------------------------------- Million Song Dataset

TRIPLETS = (
    "b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOAKIMP12A8C130995\t1\n"
    "b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOBBMDR12A8C13253B\t2\n"
    "85c1f87fea955d09b4bec2e36aee110927aedf9a\tSOAKIMP12A8C130995\t5\n"
    "b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOBXHDL12A81C204C0\t1\n"
    "7a4b8e7d2905ae6e8ea4a1bb4e0b7a1e1f8e8b21\tSOBBMDR12A8C13253B\t13\n"
)


def test_msd_factorises_string_ids_in_order_of_first_appearance(tmp_path):
    write(tmp_path / "train_triplets.txt", TRIPLETS)
    for data in (read_msd(tmp_path), read_msd(tmp_path / "train_triplets.txt")):
        assert_arrays(data, [0, 0, 1, 0, 2], [0, 1, 0, 2, 1], [1, 2, 5, 1, 13])
        assert list(data.user_ids) == [
            "b80344d063b5ccb3212f76538f3d9e43d87dca9e",
            "85c1f87fea955d09b4bec2e36aee110927aedf9a",
            "7a4b8e7d2905ae6e8ea4a1bb4e0b7a1e1f8e8b21",
        ]
        assert list(data.item_ids) == ["SOAKIMP12A8C130995", "SOBBMDR12A8C13253B",
                                       "SOBXHDL12A81C204C0"]  # fmt: skip
        assert data.raw_items()[4] == "SOBBMDR12A8C13253B"
        assert data.items is None


def test_msd_vocabulary_is_shared_across_blocks(tmp_path, tiny_blocks):
    write(tmp_path / "train_triplets.txt", TRIPLETS)
    data = read_msd(tmp_path)
    assert_arrays(data, [0, 0, 1, 0, 2], [0, 1, 0, 2, 1], [1, 2, 5, 1, 13])
    assert len(data.user_ids) == 3 and len(data.item_ids) == 3


def test_msd_errors(tmp_path):
    file = tmp_path / "train_triplets.txt"
    write(file, TRIPLETS + "u1\tSOX\n")
    raises_one_line(
        r"train_triplets\.txt:6: expected 3 tab-separated fields \(user, song, play_count\), "
        r"got 'u1\\tSOX'",
        read_msd, tmp_path,
    )  # fmt: skip
    write(file, TRIPLETS + "u1\tSOX\tmany\n")
    raises_one_line(r"train_triplets\.txt:6: play_count is not a number: 'many'", read_msd, file)
    file.unlink()
    raises_one_line(r"train_triplets\.txt: no such file", read_msd, tmp_path)


# ----------------------------------------------------------------------------- citeulike-a


def test_citeulike_line_i_is_user_i(tmp_path):
    # no final newline, as in the authors' distribution; user 2 has an empty library
    write(tmp_path / "users.dat", "3 5 1 9\n2 0 5\n0\n1 7")
    for data in (read_citeulike(tmp_path), read_citeulike(tmp_path / "users.dat")):
        assert_arrays(data, [0, 0, 0, 1, 1, 3], [5, 1, 9, 0, 5, 7], [1] * 6)
        assert data.items is None and data.sources == [tmp_path / "users.dat"]
    write(tmp_path / "users.dat", "3 5 1 9\n2 0 5\n0\n1 7\n")
    assert_arrays(read_citeulike(tmp_path), [0, 0, 0, 1, 1, 3], [5, 1, 9, 0, 5, 7], [1] * 6)


def test_citeulike_errors(tmp_path):
    write(tmp_path / "users.dat", "3 5 1 9\n3 0 5\n")
    raises_one_line(r"users\.dat:2: the count 3 does not match the 2 items", read_citeulike, tmp_path)
    write(tmp_path / "users.dat", "3 5 1 9\n2 0 x\n")
    raises_one_line(r"users\.dat:2: expected 'count item item \.\.\.' with integers, got '2 0 x'",
                    read_citeulike, tmp_path)  # fmt: skip
    write(tmp_path / "users.dat", "1 5\n\n1 6\n")
    raises_one_line(r"users\.dat:2: expected 'count item", read_citeulike, tmp_path)
    (tmp_path / "users.dat").unlink()
    raises_one_line(r"users\.dat: no such file", read_citeulike, tmp_path)


# ----------------------------------------------------------------------------- hetrec2011-lastfm-2k

USER_ARTISTS = "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t228\n"
ARTISTS = (
    "id\tname\turl\tpictureURL\n"
    "51\tDuran Duran\thttp://www.last.fm/music/Duran+Duran\thttp://userserve-ak.last.fm/a.jpg\n"
    "52\t\"Weird Al\" Yankovic\thttp://www.last.fm/music/%22Weird+Al%22\thttp://x/b.png\n"
    "53\tBjörk\thttp://www.last.fm/music/Bj%C3%B6rk\t\n"
)


@pytest.fixture
def lastfm(tmp_path) -> Path:
    folder = tmp_path / "hetrec2011-lastfm-2k"
    write(folder / "user_artists.dat", USER_ARTISTS, newline="\r\n")
    write(folder / "artists.dat", ARTISTS)
    return folder


def test_lastfm_reads_play_counts_and_artist_names(lastfm):
    for data in (read_lastfm(lastfm), read_lastfm(lastfm / "user_artists.dat")):
        assert_arrays(data, [2, 2, 3], [51, 52, 51], [13883, 11690, 228])
        assert_items(data.items, {51: ("Duran Duran", ""), 52: ('"Weird Al" Yankovic', ""),
                                  53: ("Björk", "")})  # fmt: skip
        assert data.sources == [lastfm / "user_artists.dat", lastfm / "artists.dat"]


def test_lastfm_errors(lastfm):
    write(lastfm / "user_artists.dat", USER_ARTISTS + "3\t52\tlots\n", newline="\r\n")
    raises_one_line(r"user_artists\.dat:5: weight is not a number: 'lots'", read_lastfm, lastfm)
    write(lastfm / "user_artists.dat", USER_ARTISTS + "3\t52\n")
    raises_one_line(r"user_artists\.dat:5: expected 3 tab-separated fields", read_lastfm, lastfm)
    write(lastfm / "user_artists.dat", "2\t51\t13883\n")
    raises_one_line(r"user_artists\.dat:1: expected the header", read_lastfm, lastfm)
    write(lastfm / "user_artists.dat", USER_ARTISTS)
    write(lastfm / "artists.dat", ARTISTS + "54\tNo url\n")
    raises_one_line(r"artists\.dat:5: expected 4 tab-separated fields", read_lastfm, lastfm)


# ----------------------------------------------------------------------------- generic tables


def test_table_csv_with_string_users_and_integer_items(tmp_path):
    file = write(tmp_path / "log.csv", 'user,note,item,score,time\nann,"a, b",10,1.5,100\n'
                                       "bob,,20,2,200\nann,x,20,3,300\n")  # fmt: skip
    data = read_table(file, user="user", item="item", value="score", timestamp="time")
    assert_arrays(data, [0, 1, 0], [10, 20, 20], [1.5, 2, 3], [100, 200, 300])
    assert list(data.user_ids) == ["ann", "bob"] and data.item_ids is None
    assert data.sources == [file] and data.items is None


def test_table_implicit_tsv_and_headerless(tmp_path):
    file = write(tmp_path / "pairs.tsv", "u\ti\n3\tb\n1\ta\n3\ta\n")
    data = read_table(file, user="u", item="i")
    assert_arrays(data, [3, 1, 3], [0, 1, 1], [1, 1, 1])
    assert data.user_ids is None and list(data.item_ids) == ["b", "a"]
    file = write(tmp_path / "pairs.txt", "3\tb\t9\n1\ta\t8\n")
    data = read_table(file, user=0, item=1, value=2, header=False)
    assert_arrays(data, [3, 1], [0, 1], [9, 8])
    data = read_table(write(tmp_path / "semi.dat", "1;2\n"), user=0, item=1, sep=";", header=False)
    assert_arrays(data, [1], [2], [1])


def test_table_ids_decided_over_the_whole_file(tmp_path, tiny_blocks):
    file = write(tmp_path / "log.csv", "u,i\n1,1\n2,2\n3,3\nx,4\n")
    data = read_table(file, user="u", item="i")
    assert list(data.user_ids) == ["1", "2", "3", "x"]
    assert_arrays(data, [0, 1, 2, 3], [1, 2, 3, 4], [1] * 4)


def test_table_parquet(tmp_path):
    file = tmp_path / "log.parquet"
    pd.DataFrame({
        "user": ["ann", "bob", "ann"], "item": [10, 20, 20], "stars": [1.5, 2.0, 3.0],
        "when": pd.to_datetime(["1970-01-01 00:01:40", "1970-01-01 00:03:20", "1970-01-02 00:00:00"]),
    }).to_parquet(file)  # fmt: skip
    data = read_table(file, user="user", item="item", value="stars", timestamp="when")
    assert_arrays(data, [0, 1, 0], [10, 20, 20], [1.5, 2, 3], [100, 200, 86400])
    assert list(data.user_ids) == ["ann", "bob"] and data.item_ids is None
    raises_one_line(r"log\.parquet: no column 'rating'", read_table, file, user="user",
                    item="item", value="rating")  # fmt: skip
    raises_one_line(r"column 'user' has type .*; expected numbers", read_table, file,
                    user="user", item="item", value="user")  # fmt: skip
    pd.DataFrame({"user": [1, None], "item": [1, 2]}).to_parquet(file)
    raises_one_line(r"log\.parquet: row 2: user is missing", read_table, file, user="user", item="item")


def test_table_errors(tmp_path):
    file = write(tmp_path / "log.csv", "user,item,rating\n1,2,3\n1,3,high\n")
    raises_one_line(r"log\.csv:3: rating is not a number: 'high'", read_table, file,
                    user="user", item="item", value="rating")  # fmt: skip
    raises_one_line(r"log\.csv:1: no column 'score' in the header \(columns: user, item, rating\)",
                    read_table, file, user="user", item="item", value="score")  # fmt: skip
    write(file, "user,item,rating\n1,2,3\n1,3\n")
    raises_one_line(r"log\.csv:3: expected 3 comma-separated fields \(user, item, rating\)",
                    read_table, file, user="user", item="item")  # fmt: skip
    raises_one_line(r"nope\.csv: no such file", read_table, tmp_path / "nope.csv", user="u", item="i")
    raises_one_line(r"cannot infer the separator", read_table, write(tmp_path / "x.dat", "1\n"),
                    user="u", item="i", error=ConfigError)  # fmt: skip


# ----------------------------------------------------------------------------- registry


def test_readers_registry():
    assert READERS == {
        "ml-100k": read_ml100k, "ml-1m": read_ml1m, "ml-20m": read_movielens_csv,
        "ml-latest-small": read_movielens_csv, "netflix": read_netflix, "msd": read_msd,
        "citeulike-a": read_citeulike, "lastfm-2k": read_lastfm,
    }  # fmt: skip


# ----------------------------------------------------------------------------- real data


def shared(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"../shared/data/{name} not found: the real-data tests need it")
    return folder


@pytest.mark.slow
def test_real_ml100k():
    data = read_ml100k(shared("ml-100k"))
    assert (len(data), len(np.unique(data.user)), len(np.unique(data.item))) == (100_000, 943, 1682)
    assert (data.user[0], data.item[0], data.value[0], data.timestamp[0]) == (196, 242, 3, 881250949)
    assert len(data.items) == 1682
    assert data.items.loc[1, "title"] == "Toy Story (1995)"
    assert data.items.loc[1, "genres"] == "Animation|Children's|Comedy"


@pytest.mark.slow
def test_real_ml1m_derived():
    data = read_ml1m(shared("ml-1m"), source="derived")
    assert (len(data), len(np.unique(data.user)), len(np.unique(data.item))) == (1_000_209, 6040, 3706)
    assert data.timestamp is None
    counts = np.bincount(data.value.astype(np.int64), minlength=6)[1:]
    assert list(counts) == [56_174, 107_557, 261_197, 348_971, 226_310]
    assert len(data.items) == 3706 and (data.items["title"] == "").sum() == 57
    assert data.items.loc[1, "title"] == "Toy Story (1995)"


@pytest.mark.slow
def test_real_ml_latest_small():
    data = read_movielens_csv(shared("ml-latest-small"))
    assert (len(data), len(np.unique(data.user)), len(np.unique(data.item))) == (100_836, 610, 9724)
    assert len(data.items) == 9742
    assert set(np.unique(data.value)) == {x / 2 for x in range(1, 11)}


@pytest.mark.slow
def test_real_citeulike():
    data = read_citeulike(shared("citeulike-a"))
    assert (len(data), len(np.unique(data.user)), len(np.unique(data.item))) == (204_986, 5551, 16_980)
    assert data.user.max() == 5550 and data.item.max() == 16_979


@pytest.mark.slow
def test_real_lastfm():
    data = read_lastfm(shared("hetrec2011-lastfm-2k"))
    assert (len(data), len(np.unique(data.user)), len(np.unique(data.item))) == (92_834, 1892, 17_632)
    assert data.value.astype(np.float64).sum() == 69_183_975
    assert len(data.items) == 17_632
