"""One reader per published dataset format, each returning an :class:`Interactions` log.

Every reader keeps the rows in file order (the protocol relies on "first
appearance" and "file order"), reads large files in blocks of whole lines with
typed pyarrow parsing, and reports bad input as a one-line
:class:`~aerec.errors.DataError` naming the file, the 1-based line number and
the offending text, e.g. ``u.data:17: expected 4 tab-separated fields (user,
item, rating, timestamp), got 'abc 1'``. Blank lines are skipped. The rows
parsed from a block are counted against its non-blank lines, so a quote left
open (which would swallow the lines after it) is an error naming the line where
it opened, never a silent loss; NUL bytes, text that is not UTF-8, empty ids and
values beyond float32's range are errors naming their line too.

The large files (MovieLens-20M, Netflix, the Million Song Dataset) are never
held as one Python object per row: each block is parsed into compact numpy
arrays, string ids are factorised block by block into codes with a running
vocabulary, and the pieces are concatenated at the end. Only when a block
fails to parse is it re-scanned line by line to find and report the first bad
line.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from aerec.data.interactions import Interactions
from aerec.errors import ConfigError, DataError

__all__ = [
    "READERS",
    "read_citeulike",
    "read_lastfm",
    "read_ml100k",
    "read_ml1m",
    "read_movielens_csv",
    "read_msd",
    "read_netflix",
    "read_table",
]

# Bytes of text parsed at once. Large enough to amortise pyarrow's overhead,
# small enough that a block's transient copies stay far below the final arrays.
_BLOCK_BYTES = 16 << 20

# The genre names of MovieLens-100K's u.item flags, used when u.genre is absent.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------


def _locate(path: str | Path, filename: str, what: str) -> tuple[Path, Path]:
    """(folder, file) for a reader that takes a dataset folder or its main file."""
    path = Path(path)
    if path.is_dir():
        file = path / filename
        if not file.is_file():
            raise DataError(f"{file}: no such file (expected the {what} file {filename})")
        return path, file
    if path.is_file():
        return path.parent, path
    raise DataError(
        f"{path}: no such file or folder (expected the {what} folder or its {filename})"
    )


def _optional(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` that exists in ``folder``, if any."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


# --------------------------------------------------------------------------
# Blocks of whole lines
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """Where a stretch of a block comes from."""

    line: int  # index of its first line in the block
    offset: int  # byte offset of its first line in the block
    path: Path
    lineno: int  # 1-based line number of its first line in ``path``


@dataclass
class _Block:
    """Whole lines (each ending in ``\\n``) of one or more files, and where each came from."""

    data: bytes
    spans: list[_Span]

    def locate(self, line: int) -> tuple[Path, int]:
        """The file and 1-based line number of the block's ``line``-th line (0-based)."""
        span = self.spans[bisect.bisect_right([s.line for s in self.spans], line) - 1]
        return span.path, span.lineno + line - span.line


def _pieces(path: Path, skip_lines: int, size: int) -> Iterator[tuple[int, bytes]]:
    """(line number of the first line, whole lines) pieces of about ``size`` bytes of a file."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    with file:
        for _ in range(skip_lines):
            file.readline()
        lineno, rest = skip_lines + 1, b""
        while chunk := file.read(size):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut:
                yield lineno, chunk[:cut]
                lineno += chunk.count(b"\n", 0, cut)
            rest = chunk[cut:]
        if rest:
            yield lineno, rest + b"\n"


def _blocks(paths: Iterable[Path], *, skip_lines: int = 0) -> Iterator[_Block]:
    """The lines of ``paths`` in order, in blocks of about ``_BLOCK_BYTES``.

    A large file is split over several blocks; small files (Netflix's 17,770
    ``mv_*.txt``) share one. ``skip_lines`` header lines are dropped from the
    start of every file; line numbers still count them.
    """
    size = _BLOCK_BYTES
    parts: list[bytes] = []
    spans: list[_Span] = []
    n_lines = n_bytes = 0
    for path in paths:
        for lineno, piece in _pieces(path, skip_lines, size):
            spans.append(_Span(n_lines, n_bytes, path, lineno))
            parts.append(piece)
            n_lines += piece.count(b"\n")
            n_bytes += len(piece)
            if n_bytes >= size:
                yield _Block(parts[0] if len(parts) == 1 else b"".join(parts), spans)
                parts, spans, n_lines, n_bytes = [], [], 0, 0
    if parts:
        yield _Block(parts[0] if len(parts) == 1 else b"".join(parts), spans)


# --------------------------------------------------------------------------
# Typed parsing of a block, with line-numbered errors
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """One field of a delimited line: its name in messages and its kind.

    Kinds: ``int``, ``float`` (finite), ``date`` (YYYY-MM-DD), ``str`` (an id,
    factorised) and ``skip`` (not read).
    """

    name: str
    kind: str


_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "date": pa.date32(), "str": pa.string()}
_INT = re.compile(r"\s*-?\d{1,18}\s*")
_FLOAT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        np.datetime64(text, "D")
    except ValueError:
        return False
    return True


_KIND_CHECKS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "int": ("an integer", lambda s: bool(_INT.fullmatch(s))),
    "float": ("a number", lambda s: bool(_FLOAT.fullmatch(s)) and math.isfinite(float(s))),
    "date": ("a date (YYYY-MM-DD)", _is_date),
}

# Values are stored as float32: a magnitude at or above this rounds to infinity.
_FLOAT32_LIMIT = 2.0**128 - 2.0**103


def _open_quote(line: str, sep: str) -> int | None:
    """The 0-based column of a quote that opens a field and is not closed on the line, or None.

    A field is quoted when it starts with ``"``; inside it ``""`` is a quote.
    Such a field that runs to the end of the line would swallow the lines
    after it (quoted fields may not span lines here).
    """
    i = 0
    while True:
        if line.startswith('"', i):
            j = i + 1
            while True:
                j = line.find('"', j)
                if j < 0:
                    return i
                if not line.startswith('"', j + 1):
                    break
                j += 2
            k = line.find(sep, j + 1)
        else:
            k = line.find(sep, i)
        if k < 0:
            return None
        i = k + len(sep)


def _csv_fields(line: str, sep: str) -> list[str]:
    """The fields of one quoted line, as pyarrow splits them (a stray ``\r`` is kept)."""
    try:
        return next(csv.reader([line], delimiter=sep))
    except csv.Error:  # a carriage return inside the line: split it without one
        return next(csv.reader([line.replace("\r", " ")], delimiter=sep))


def _show(text: str) -> str:
    """``text`` quoted on one line, shortened if long."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _sep_name(sep: str) -> str:
    return {"\t": "tab-separated", ",": "comma-separated"}.get(sep, f"{sep!r}-separated")


def _line_problem(fields: list[_Field], sep: str, quoted: bool, line: str) -> str | None:
    """What is wrong with one line of delimited fields, or None."""
    if "\x00" in line:
        return f"a NUL byte in the line (a binary file, or not a text table?): {_show(line)}"
    if "\r" in line:
        return f"a carriage return inside the line (only \\n or \\r\\n may end a line): {_show(line)}"
    if quoted and (col := _open_quote(line, sep)) is not None:
        return (
            f"a quote opened at column {col + 1} is not closed on this line "
            f"(a quoted field may not span lines): {_show(line)}"
        )
    parts = _csv_fields(line, sep) if quoted else line.split(sep)
    if len(parts) != len(fields):
        names = ", ".join(f.name for f in fields)
        return f"expected {len(fields)} {_sep_name(sep)} fields ({names}), got {_show(line)}"
    for field, part in zip(fields, parts):
        if field.kind in _KIND_CHECKS:
            description, ok = _KIND_CHECKS[field.kind]
            if not ok(part):
                return f"{field.name} is not {description}: {_show(part)}"
            if field.kind == "float" and not abs(float(part)) < _FLOAT32_LIMIT:
                return f"{field.name} is too large (beyond float32's ±3.4e38): {_show(part)}"
        elif field.kind == "str" and not part.strip(" \t\n\r\f"):
            return f"{field.name} is empty"
    return None


def _raise_bad_line(block: _Block, problem: Callable[[str], str | None], detail: str) -> None:
    """Re-scan a block that failed to parse and raise a DataError for its first bad line."""
    lines = block.data.split(b"\n")
    for i, raw in enumerate(lines):
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if not line:
            continue
        why = problem(line)
        if why is not None:
            path, lineno = block.locate(i)
            raise DataError(f"{path}:{lineno}: {why}")
    for i, raw in enumerate(lines):  # no line is malformed: text that is not UTF-8?
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            path, lineno = block.locate(i)
            raise DataError(
                f"{path}:{lineno}: not valid UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})"
            ) from None
    path, lineno = block.locate(0)
    detail = " ".join(detail.split())
    raise DataError(f"{path}:{lineno}: cannot parse the lines from here on: {detail}")


def _parse_block(
    block: _Block,
    fields: list[_Field],
    sep: str,
    *,
    quoted: bool = False,
    text: bytes | None = None,
    nulls_ok: bool = False,
    problem: Callable[[str], str | None] | None = None,
) -> list[pa.ChunkedArray | None]:
    """Parse a block into one column per field (None for skipped fields).

    ``text`` replaces the bytes given to the parser (a reader may rewrite
    separators first); ``problem`` replaces the line check used to find the
    bad line when parsing fails. Missing values fail unless ``nulls_ok``.
    """
    problem = problem or functools.partial(_line_problem, fields, sep, quoted)
    if text is None:
        text = block.data
        if len(sep) > 1:  # pyarrow splits on one character: rewrite '::' as a tab
            if b"\t" in text:
                _raise_bad_line(block, problem, "a tab in a file separated by " + repr(sep))
            text, sep = text.replace(sep.encode(), b"\t"), "\t"
    names = [f"f{i}" for i in range(len(fields))]
    types = {n: _ARROW_TYPES[f.kind] for n, f in zip(names, fields) if f.kind != "skip"}
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(delimiter=sep, quote_char='"' if quoted else False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, include_columns=list(types), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as e:
        _raise_bad_line(block, problem, str(e))
    if b"\x00" in block.data:
        _raise_bad_line(block, problem, "a NUL byte")
    if table.num_rows != _n_records(block.data):  # e.g. a quote that swallowed the lines after it
        _raise_bad_line(
            block, problem, f"{table.num_rows:,} rows parsed from {_n_records(block.data):,} lines"
        )
    columns = [table.column(n) if n in types else None for n in names]
    for field, column in zip(fields, columns):
        if column is None:
            continue
        missing = column.null_count > 0 and not nulls_ok
        infinite = field.kind == "float" and pc.all(pc.is_finite(column)).as_py() is False
        if missing or infinite:
            _raise_bad_line(block, problem, f"{field.name} has missing or infinite values")
        if field.kind == "float" and len(column):
            top = pc.max(pc.abs(column)).as_py()
            if top is not None and not top < _FLOAT32_LIMIT:
                _raise_bad_line(block, problem, f"{field.name} has values beyond float32's range")
        if field.kind == "str" and pc.any(pc.match_substring_regex(column, r"^\s*$")).as_py():
            _raise_bad_line(block, problem, f"{field.name} has empty values")
    return columns


def _n_records(data: bytes) -> int:
    """The non-blank lines of a block (blank: empty or only carriage returns), as pyarrow counts rows."""
    if data.startswith(b"\r") or b"\n\r" in data:  # a line that starts with \r: rare, count slowly
        return sum(1 for line in data.split(b"\n") if line.strip(b"\r"))
    a = np.frombuffer(data, dtype=np.uint8)
    if not len(a):
        return 0
    newline = a == 10
    blank = int(newline[0]) + int(np.count_nonzero(newline[1:] & newline[:-1]))
    return int(np.count_nonzero(newline)) + int(a[-1] != 10) - blank


class _Vocab:
    """A running string → code map; codes follow the order of first appearance."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """int64 codes of a column of strings, extending the vocabulary."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = column.dictionary_encode()  # dictionary in order of first appearance
        codes = self.codes
        lut = np.array(
            [codes.setdefault(s, len(codes)) for s in encoded.dictionary.to_pylist()],
            dtype=np.int64,
        )
        return lut[encoded.indices.to_numpy(zero_copy_only=False)]

    def ids(self) -> np.ndarray:
        """The vocabulary: ``ids()[code]`` is the string."""
        return np.array(list(self.codes), dtype=object)

    def as_integers(self) -> np.ndarray | None:
        """The vocabulary as int64 if every entry is an integer written plainly, else None.

        Plainly: as Python writes it (no leading zeros or ``+``; surrounding
        blanks allowed), so that ids such as ``00302`` and ``302`` stay two
        different ids.
        """
        if not all(_INT.fullmatch(s) and str(int(s)) == s.strip() for s in self.codes):
            return None
        return np.array([int(s) for s in self.codes], dtype=np.int64)


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """Concatenate pieces into one ``dtype`` array, emptying ``parts`` to free them early."""
    out = np.concatenate(parts, dtype=dtype) if parts else np.empty(0, dtype=dtype)
    parts.clear()
    return out


def _compact(values: np.ndarray) -> np.ndarray:
    """int64 values as int32 where they fit, to keep the pieces of a large file small."""
    fits = len(values) == 0 or (values.min() >= -(2**31) and values.max() < 2**31)
    return values.astype(np.int32) if fits else values


_NUMPY_TYPES = {"int": np.int64, "float": np.float32, "date": np.int32, "str": np.int64}


def _read_columns(
    paths: list[Path],
    fields: list[_Field],
    sep: str,
    *,
    skip_lines: int = 0,
    quoted: bool = False,
) -> tuple[list[np.ndarray | None], dict[int, _Vocab]]:
    """Parse delimited files block by block into one numpy array per field.

    ``int`` → int64, ``float`` → float32, ``date`` → int32 days since the
    epoch, ``str`` → int64 codes into the returned vocabulary of that field,
    ``skip`` → None.
    """
    vocabs = {i: _Vocab() for i, f in enumerate(fields) if f.kind == "str"}
    parts: list[list[np.ndarray]] = [[] for _ in fields]
    for block in _blocks(paths, skip_lines=skip_lines):
        columns = _parse_block(block, fields, sep, quoted=quoted)
        for i, (field, column) in enumerate(zip(fields, columns)):
            if column is None:
                continue
            if field.kind == "str":
                parts[i].append(vocabs[i].encode(column))
            elif field.kind == "date":
                parts[i].append(pc.cast(column, pa.int32()).to_numpy())
            else:
                values = column.to_numpy()
                values = _compact(values) if field.kind == "int" else values.astype(np.float32)
                parts[i].append(values)
    arrays = [
        None if f.kind == "skip" else _cat(p, _NUMPY_TYPES[f.kind]) for f, p in zip(fields, parts)
    ]
    if next(a for a in arrays if a is not None).size == 0:
        after = " after its header" if skip_lines else ""
        raise DataError(f"{paths[0]}: no interactions (the file has no non-blank line{after})")
    return arrays, vocabs


_HEADER_BYTES = 1 << 20  # a first line longer than this is not a header


def _read_header(path: Path, sep: str, quoted: bool = False) -> list[str]:
    """The fields of a file's first line; an empty or binary file is a DataError."""
    try:
        with open(path, "rb") as file:
            first = file.readline(_HEADER_BYTES + 1)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    if not first.strip():
        raise DataError(f"{path}:1: the file is empty (expected a header line)" if not first else f"{path}:1: the header line is blank")
    if len(first) > _HEADER_BYTES:
        raise DataError(f"{path}:1: the first line is longer than {_HEADER_BYTES:,} bytes (not a text table?)")
    if b"\x00" in first:
        raise DataError(f"{path}:1: a NUL byte in the header (a binary file, or not a text table?)")
    try:
        line = first.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}:1: the header is not valid UTF-8 text (byte {first[e.start]:#04x} at column {e.start + 1})") from None
    if "\r" in line:
        raise DataError(f"{path}:1: a carriage return inside the header line (only \\n or \\r\\n may end a line)")
    if quoted and (col := _open_quote(line, sep)) is not None:
        raise DataError(f"{path}:1: a quote opened at column {col + 1} is not closed on the header line")
    return _csv_fields(line, sep) if quoted else line.split(sep)


def _expect_header(path: Path, expected: list[str], sep: str, quoted: bool = False) -> None:
    got = _read_header(path, sep, quoted)
    if [g.strip() for g in got] != expected:
        raise DataError(
            f"{path}:1: expected the header {sep.join(expected)!r}, got {_show(sep.join(got))}"
        )


# --------------------------------------------------------------------------
# Small metadata files
# --------------------------------------------------------------------------


def _text_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of each non-blank line of a small text file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{lineno}: not valid {encoding} text") from None
    # split on "\n" only: str.splitlines would also split latin-1 titles at '\x85'
    for lineno, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = line.rstrip("\r")
        if line:
            yield lineno, line


def _int(text: str) -> int | None:
    return int(text) if _INT.fullmatch(text) else None


class _ItemTable:
    """Item metadata collected line by line: raw id → (title, genres)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[int, tuple[str, str]] = {}

    def add(self, lineno: int, id_text: str, title: str, genres: str) -> None:
        item = _int(id_text)
        if item is None:
            raise DataError(f"{self.path}:{lineno}: item id is not an integer: {_show(id_text)}")
        if item in self.rows:
            raise DataError(f"{self.path}:{lineno}: item {item} is listed twice")
        self.rows[item] = (title, genres)

    def frame(self) -> pd.DataFrame:
        return _items_frame(list(self.rows), [t for t, _ in self.rows.values()],
                            [g for _, g in self.rows.values()])  # fmt: skip


def _items_frame(ids: list[int], titles: list[str], genres: list[str]) -> pd.DataFrame:
    index = pd.Index(np.asarray(ids, dtype=np.int64), name="item")
    return pd.DataFrame({"title": titles, "genres": genres}, index=index)


def _split(path: Path, lineno: int, line: str, sep: str, names: list[str]) -> list[str]:
    """The fields of a metadata line, or a DataError if there are not ``len(names)``."""
    parts = line.split(sep)
    if len(parts) != len(names):
        raise DataError(
            f"{path}:{lineno}: expected {len(names)} {_sep_name(sep)} fields "
            f"({', '.join(names)}), got {_show(line)}"
        )
    return parts


# --------------------------------------------------------------------------
# MovieLens
# --------------------------------------------------------------------------

_ML_FIELDS = [_Field("user", "int"), _Field("item", "int"), _Field("rating", "float"),
              _Field("timestamp", "int")]  # fmt: skip


def read_ml100k(path: str | Path) -> Interactions:
    """MovieLens 100K (GroupLens, 1998): ``u.data`` with metadata from ``u.item``.

    ``u.data``: ``user \\t item \\t rating \\t timestamp`` (integer ids,
    ratings 1–5, Unix seconds). ``u.item`` (latin-1, optional):
    ``id|title|release date|video release date|IMDb URL|`` followed by one 0/1
    flag per genre, named by ``u.genre`` (``name|index`` lines) if present,
    else :data:`ML100K_GENRES`.

    Args:
        path: the ``ml-100k`` folder, or its ``u.data``.
    """
    folder, data = _locate(path, "u.data", "MovieLens-100K")
    (user, item, rating, timestamp), _ = _read_columns([data], _ML_FIELDS, "\t")
    sources = [data]
    items = None
    u_item = _optional(folder, "u.item")
    if u_item is not None:
        u_genre = _optional(folder, "u.genre")
        genre_names = list(ML100K_GENRES) if u_genre is None else _read_ml100k_genres(u_genre)
        items = _read_ml100k_items(u_item, genre_names)
        sources += [u_item] + ([u_genre] if u_genre is not None else [])
    return Interactions(user, item, rating, timestamp, items=items, sources=sources)


def _read_ml100k_genres(path: Path) -> list[str]:
    """Genre names of ``u.genre`` (``name|index``), in index order."""
    by_index: dict[int, str] = {}
    for lineno, line in _text_lines(path, "latin-1"):
        name, index_text = _split(path, lineno, line, "|", ["name", "index"])
        index = _int(index_text)
        if index is None:
            raise DataError(f"{path}:{lineno}: genre index is not an integer: {_show(index_text)}")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise DataError(f"{path}: genre indices are not 0..{len(by_index) - 1}")
    return [by_index[i] for i in range(len(by_index))]


def _read_ml100k_items(path: Path, genre_names: list[str]) -> pd.DataFrame:
    names = ["id", "title", "release date", "video release date", "IMDb URL"] + genre_names
    table = _ItemTable(path)
    for lineno, line in _text_lines(path, "latin-1"):
        parts = _split(path, lineno, line, "|", names)
        flags = parts[5:]
        if any(f not in ("0", "1") for f in flags):
            raise DataError(f"{path}:{lineno}: genre flags must be 0 or 1, got {_show(line)}")
        genres = "|".join(g for g, f in zip(genre_names, flags) if f == "1")
        table.add(lineno, parts[0], parts[1], genres)
    return table.frame()


def read_ml1m(path: str | Path, source: str = "auto") -> Interactions:
    """MovieLens 1M (GroupLens, 2003): ``ratings.dat`` or the derived CSV, with ``movies.dat``.

    ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp`` (ratings 1–5,
    Unix seconds); items are MovieIDs. ``movies.dat`` (latin-1, optional):
    ``MovieID::Title::Genres`` with genres joined by ``|``.

    The derived form (see ``ml-1m/PROVENANCE.md`` in the shared data),
    ``derived/ratings_without_timestamps.csv``, has the header
    ``UserID,ItemIndex,MovieID,Rating`` and no timestamps (``timestamp`` is
    None). Items are ItemIndex (1..3706, the rank of the MovieID among rated
    movies), because 110 ratings have no MovieID. Its metadata maps ItemIndex
    to MovieID through ``derived/item_index_to_MovieID.csv``
    (``item_index,MovieID,candidate_MovieIDs,n_ratings,evidence``) and then to
    ``movies.dat``; the 57 ambiguous items (empty MovieID) get an empty title
    and genres.

    Args:
        path: the ``ml-1m`` folder, its ``ratings.dat`` or the derived CSV.
        source: ``"auto"`` (``ratings.dat`` if present, else the derived CSV),
            ``"ratings.dat"`` or ``"derived"``.
    """
    if source not in ("auto", "ratings.dat", "derived"):
        raise ConfigError(f"source must be 'auto', 'ratings.dat' or 'derived', got {source!r}")
    path = Path(path)
    derived_name = Path("derived", "ratings_without_timestamps.csv")
    if path.is_file():
        is_derived = path.suffix == ".csv"
        if source != "auto" and (source == "derived") != is_derived:
            raise ConfigError(f"source={source!r} does not match the file {path}")
        folder = path.parent.parent if is_derived else path.parent
        file = path
    elif path.is_dir():
        folder = path
        if source == "auto":
            source = "ratings.dat" if (path / "ratings.dat").is_file() else "derived"
        is_derived = source == "derived"
        file = path / (derived_name if is_derived else "ratings.dat")
        if not file.is_file():
            wanted = "ratings.dat" if source != "derived" else str(derived_name)
            raise DataError(f"{file}: no such file (expected the MovieLens-1M ratings {wanted})")
    else:
        raise DataError(
            f"{path}: no such file or folder (expected the MovieLens-1M folder with ratings.dat "
            f"or {derived_name})"
        )
    movies = _optional(folder, "movies.dat")
    if not is_derived:
        (user, item, rating, timestamp), _ = _read_columns([file], _ML_FIELDS, "::")
        items = None if movies is None else _read_ml1m_movies(movies)
        sources = [file] + ([movies] if movies is not None else [])
        return Interactions(user, item, rating, timestamp, items=items, sources=sources)

    header = ["UserID", "ItemIndex", "MovieID", "Rating"]
    _expect_header(file, header, ",")
    fields = [_Field("UserID", "int"), _Field("ItemIndex", "int"), _Field("MovieID", "skip"),
              _Field("Rating", "float")]  # fmt: skip
    (user, item, _, rating), _ = _read_columns([file], fields, ",", skip_lines=1)
    sources = [file]
    items = None
    mapping = _optional(file.parent, "item_index_to_MovieID.csv")
    if mapping is not None and movies is not None:
        items = _ml1m_derived_items(mapping, _read_ml1m_movies(movies))
        sources += [mapping, movies]
    return Interactions(user, item, rating, None, items=items, sources=sources)


def _read_ml1m_movies(path: Path) -> pd.DataFrame:
    table = _ItemTable(path)
    for lineno, line in _text_lines(path, "latin-1"):
        movie_id, title, genres = _split(path, lineno, line, "::", ["MovieID", "Title", "Genres"])
        table.add(lineno, movie_id, title, genres)
    return table.frame()


def _ml1m_derived_items(path: Path, movies: pd.DataFrame) -> pd.DataFrame:
    """Metadata indexed by ItemIndex, through ``item_index_to_MovieID.csv``."""
    names = ["item_index", "MovieID", "candidate_MovieIDs", "n_ratings", "evidence"]
    _expect_header(path, names, ",")
    table = _ItemTable(path)
    for lineno, line in _text_lines(path, "utf-8"):
        if lineno == 1:
            continue
        index_text, movie_text, *_ = _split(path, lineno, line, ",", names)
        if movie_text == "":  # ambiguous: several candidate MovieIDs
            table.add(lineno, index_text, "", "")
            continue
        movie = _int(movie_text)
        if movie is None:
            raise DataError(f"{path}:{lineno}: MovieID is not an integer: {_show(movie_text)}")
        if movie in movies.index:
            table.add(lineno, index_text, movies.at[movie, "title"], movies.at[movie, "genres"])
        else:
            table.add(lineno, index_text, "", "")
    return table.frame()


def read_movielens_csv(path: str | Path) -> Interactions:
    """MovieLens 20M / 25M / latest(-small) (GroupLens): ``ratings.csv`` with ``movies.csv``.

    ``ratings.csv``: header ``userId,movieId,rating,timestamp``; ratings in
    half stars 0.5–5.0; Unix seconds. ``movies.csv`` (UTF-8, optional): header
    ``movieId,title,genres``, titles quoted when they contain commas, genres
    joined by ``|``; ``(no genres listed)`` becomes ``""``.

    Args:
        path: the dataset folder, or its ``ratings.csv``.
    """
    folder, data = _locate(path, "ratings.csv", "MovieLens")
    _expect_header(data, ["userId", "movieId", "rating", "timestamp"], ",", quoted=True)
    (user, item, rating, timestamp), _ = _read_columns(
        [data], _ML_FIELDS, ",", skip_lines=1, quoted=True
    )
    movies = _optional(folder, "movies.csv")
    items = None if movies is None else _read_movielens_movies_csv(movies)
    sources = [data] + ([movies] if movies is not None else [])
    return Interactions(user, item, rating, timestamp, items=items, sources=sources)


def _read_movielens_movies_csv(path: Path) -> pd.DataFrame:
    names = ["movieId", "title", "genres"]
    _expect_header(path, names, ",", quoted=True)
    table = _ItemTable(path)
    for lineno, line in _text_lines(path, "utf-8"):
        if lineno == 1:
            continue
        parts = _csv_fields(line, ",")
        if len(parts) != 3:
            raise DataError(
                f"{path}:{lineno}: expected 3 comma-separated fields (movieId, title, genres), "
                f"got {_show(line)}"
            )
        genres = "" if parts[2] == "(no genres listed)" else parts[2]
        table.add(lineno, parts[0], parts[1], genres)
    return table.frame()


# --------------------------------------------------------------------------
# Netflix prize
# --------------------------------------------------------------------------

_NETFLIX_FIELDS = [_Field("CustomerID", "int"), _Field("Rating", "float"), _Field("Date", "date")]


def _netflix_problem(line: str) -> str | None:
    if line.endswith(":"):
        if _INT.fullmatch(line[:-1]):
            return None
        return f"expected a 'MovieID:' line, got {_show(line)}"
    return _line_problem(_NETFLIX_FIELDS, ",", False, line)


def read_netflix(path: str | Path) -> Interactions:
    """The Netflix prize training data (Bennett & Lanning, 2007), in either published layout.

    * ``training_set/mv_XXXXXXX.txt``: one file per movie, first line
      ``MovieID:``, then ``CustomerID,Rating,YYYY-MM-DD`` lines.
    * Kaggle's ``combined_data_1.txt`` … ``combined_data_4.txt``: the same
      lines, several movies per file, each after its ``MovieID:`` line.

    Files are read in sorted name order; a folder holding both layouts (the
    same ratings twice) is an error naming both, never read by half. Items are MovieIDs, users CustomerIDs, timestamps the dates
    as seconds since the epoch (UTC midnight). Metadata from
    ``movie_titles.csv`` (Kaggle) or ``movie_titles.txt`` (latin-1,
    ``MovieID,YearOfRelease,Title``; the title may contain commas; the year
    may be ``NULL``) if present; genres are ``""``.

    The 100M ratings are parsed in blocks: a block's ``MovieID:`` lines are
    rewritten as ``MovieID,,`` so that pyarrow parses them with the ratings
    (their empty rating marks them), and each rating takes the movie of the
    last header above it.

    Args:
        path: the folder holding ``training_set/`` or ``combined_data_*.txt``,
            the ``training_set`` folder itself, or one such file.
    """
    path = Path(path)
    if path.is_file():
        files, folder = [path], path.parent
    elif path.is_dir():
        folder = path
        per_movie = sorted((path / "training_set").glob("mv_*.txt")) or sorted(path.glob("mv_*.txt"))
        combined = sorted(path.glob("combined_data_*.txt"))
        if per_movie and combined:
            raise DataError(
                f"{path}: holds both published forms of the Netflix data ({len(per_movie)} mv_*.txt files and "
                f"{len(combined)} combined_data_*.txt files) with the same ratings; point --data at one of them "
                f"(the training_set folder or one combined_data file) or move the other away"
            )
        files = per_movie or combined
        if not files:
            raise DataError(
                f"{path}: no such file (expected training_set/mv_*.txt or combined_data_*.txt)"
            )
    else:
        raise DataError(f"{path}: no such file or folder (expected the Netflix prize folder)")
    if folder.name == "training_set":
        folder = folder.parent

    users: list[np.ndarray] = []
    movies: list[np.ndarray] = []
    ratings: list[np.ndarray] = []
    days: list[np.ndarray] = []
    movie = -1  # the movie of ratings continuing from the previous block
    for block in _blocks(files):
        _check_netflix_file_starts(block)
        columns = _parse_block(
            block, _NETFLIX_FIELDS, ",", text=block.data.replace(b":", b",,"),
            nulls_ok=True, problem=_netflix_problem,
        )  # fmt: skip
        customer, rating, date = (c.combine_chunks() for c in columns)
        is_header = rating.is_null().to_numpy(zero_copy_only=False)
        customer_np = customer.to_numpy()
        if (
            customer.null_count
            or not np.array_equal(is_header, date.is_null().to_numpy(zero_copy_only=False))
            or is_header.sum() != block.data.count(b":")
        ):
            _raise_bad_line(block, _netflix_problem, "a rating or date is missing")
        # the movie of each row: the id on the last header line at or above it
        last_header = np.maximum.accumulate(np.where(is_header, np.arange(len(is_header)), -1))
        row_movie = np.where(last_header >= 0, customer_np[np.maximum(last_header, 0)], movie)
        keep = ~is_header
        users.append(_compact(customer_np[keep]))
        movies.append(_compact(row_movie[keep]))
        ratings.append(rating.fill_null(0).to_numpy()[keep].astype(np.float32))
        days.append(date.cast(pa.int32()).fill_null(0).to_numpy()[keep])
        if len(row_movie):
            movie = int(row_movie[-1])
    timestamp = _cat(days, np.int64)
    timestamp *= 86400  # days → seconds since the epoch, in place
    if not len(timestamp):
        raise DataError(f"{files[0] if len(files) == 1 else path}: no ratings (only 'MovieID:' lines or blank lines)")

    titles = _optional(folder, "movie_titles.csv", "movie_titles.txt")
    items = None if titles is None else _read_netflix_titles(titles)
    return Interactions(
        _cat(users, np.int64), _cat(movies, np.int64), _cat(ratings, np.float32), timestamp,
        items=items, sources=files + ([titles] if titles is not None else []),
    )  # fmt: skip


def _check_netflix_file_starts(block: _Block) -> None:
    """Every file must start with a ``MovieID:`` line."""
    for span in block.spans:
        if span.lineno != 1:
            continue
        end = block.data.index(b"\n", span.offset)
        first = block.data[span.offset : end].rstrip(b"\r").decode("utf-8", "replace")
        if not (first.endswith(":") and _INT.fullmatch(first[:-1])):
            raise DataError(f"{span.path}:1: expected a 'MovieID:' line first, got {_show(first)}")


def _read_netflix_titles(path: Path) -> pd.DataFrame:
    table = _ItemTable(path)
    for lineno, line in _text_lines(path, "latin-1"):
        parts = line.split(",", 2)
        if len(parts) != 3:
            raise DataError(
                f"{path}:{lineno}: expected 'MovieID,YearOfRelease,Title', got {_show(line)}"
            )
        if parts[1] != "NULL" and _int(parts[1]) is None:
            raise DataError(f"{path}:{lineno}: YearOfRelease is not a year: {_show(parts[1])}")
        table.add(lineno, parts[0], parts[2], "")
    return table.frame()


# --------------------------------------------------------------------------
# Implicit-feedback datasets
# --------------------------------------------------------------------------


def read_msd(path: str | Path) -> Interactions:
    """The Million Song Dataset taste profile (Echo Nest; Bertin-Mahieux et al., 2011).

    ``train_triplets.txt``: ``user \\t song \\t play_count`` with 40-hex user
    hashes and ``SO…`` song ids (48M lines). Both ids are strings: ``user`` and
    ``item`` are codes into ``user_ids`` and ``item_ids`` in order of first
    appearance. value = play count. No metadata.

    Args:
        path: the folder holding ``train_triplets.txt``, or the file.
    """
    _, data = _locate(path, "train_triplets.txt", "Million Song Dataset taste profile")
    fields = [_Field("user", "str"), _Field("song", "str"), _Field("play_count", "float")]
    (user, item, count), vocabs = _read_columns([data], fields, "\t")
    return Interactions(
        user, item, count, None, items=None, sources=[data],
        user_ids=vocabs[0].ids(), item_ids=vocabs[1].ids(),
    )  # fmt: skip


def read_citeulike(path: str | Path) -> Interactions:
    """citeulike-a (Wang, Chen & Li, IJCAI 2013): ``users.dat``.

    Line i (0-based) lists user i's library as ``count item item ...``, the
    items being 0-based article ids; the count must equal the number of items
    that follow. value = 1.0. No metadata here (titles are in the
    distribution's ``raw-data.csv``, which this reader does not use).

    Args:
        path: the ``citeulike-a`` folder, or its ``users.dat``.
    """
    _, data = _locate(path, "users.dat", "citeulike-a")
    try:
        lines = data.read_bytes().split(b"\n")
    except OSError as e:
        raise DataError(f"{data}: cannot read: {e.strerror}") from None
    if lines and lines[-1].strip() == b"":  # the final newline, if any
        lines.pop()
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    for user, raw in enumerate(lines):
        line = raw.decode("utf-8", "replace")
        tokens = line.split()
        if not tokens or any(not _INT.fullmatch(t) for t in tokens):
            raise DataError(
                f"{data}:{user + 1}: expected 'count item item ...' with integers, "
                f"got {_show(line)}"
            )
        if any(t.startswith("-") for t in tokens):
            raise DataError(f"{data}:{user + 1}: a negative count or item id: {_show(line)}")
        numbers = np.array(tokens, dtype=np.int64)
        if numbers[0] != len(numbers) - 1:
            raise DataError(
                f"{data}:{user + 1}: the count {numbers[0]} does not match the "
                f"{len(numbers) - 1} items that follow"
            )
        items.append(numbers[1:])
        users.append(np.full(len(numbers) - 1, user, dtype=np.int64))
    item = _cat(items, np.int64)
    if not len(item):
        raise DataError(f"{data}: no interactions (every library is empty, or the file is)")
    return Interactions(
        _cat(users, np.int64), item, np.ones(len(item), dtype=np.float32), None,
        items=None, sources=[data],
    )  # fmt: skip


def read_lastfm(path: str | Path) -> Interactions:
    """hetrec2011-lastfm-2k (Cantador, Brusilovsky & Kuflik, HetRec 2011): ``user_artists.dat``.

    ``user_artists.dat``: header ``userID \\t artistID \\t weight``, then one
    line per pair; value = weight (play count). Metadata from ``artists.dat``
    (UTF-8, header ``id \\t name \\t url \\t pictureURL``, names may contain
    quotes): title = name, genres ``""``.

    Args:
        path: the ``hetrec2011-lastfm-2k`` folder, or its ``user_artists.dat``.
    """
    folder, data = _locate(path, "user_artists.dat", "hetrec2011-lastfm-2k")
    _expect_header(data, ["userID", "artistID", "weight"], "\t")
    fields = [_Field("userID", "int"), _Field("artistID", "int"), _Field("weight", "float")]
    (user, item, weight), _ = _read_columns([data], fields, "\t", skip_lines=1)
    artists = _optional(folder, "artists.dat")
    items = None if artists is None else _read_lastfm_artists(artists)
    sources = [data] + ([artists] if artists is not None else [])
    return Interactions(user, item, weight, None, items=items, sources=sources)


def _read_lastfm_artists(path: Path) -> pd.DataFrame:
    names = ["id", "name", "url", "pictureURL"]
    _expect_header(path, names, "\t")
    table = _ItemTable(path)
    for lineno, line in _text_lines(path, "utf-8"):
        if lineno == 1:
            continue
        parts = _split(path, lineno, line, "\t", names)
        table.add(lineno, parts[0], parts[1], "")
    return table.frame()


# --------------------------------------------------------------------------
# Generic tables
# --------------------------------------------------------------------------


def read_table(
    path: str | Path,
    *,
    user: str | int,
    item: str | int,
    value: str | int | None = None,
    timestamp: str | int | None = None,
    sep: str | None = None,
    header: bool = True,
    string_ids: bool = False,
) -> Interactions:
    """A CSV, TSV or Parquet file with one interaction per row, in named columns.

    Text files: ``sep`` (one or more characters, not a quote or a line break)
    defaults to ``,`` for ``.csv`` and to a tab for ``.tsv``/``.txt``;
    ``.csv`` fields may be quoted (but not span lines; a quote left open is an
    error naming its line). With ``header=False`` the columns are given as
    0-based positions. Id columns whose every value is an integer written
    plainly (``302``, not ``00302``) stay integers; otherwise they are
    factorised into codes with a vocabulary (``user_ids``/``item_ids``) in
    order of first appearance; an empty id is an error. ``timestamp`` must
    hold integer seconds; ``value`` finite numbers within float32's range.

    Parquet (``.parquet``): the column types decide: integer ids stay
    integers (unsigned ones above 2**63 - 1 are factorised as strings),
    string ids are factorised; timestamps may be integers (seconds),
    timestamps or dates.

    The same column for users and items is a :class:`~aerec.errors.ConfigError`.

    Args:
        path: the file.
        user, item: the id columns.
        value: the rating / count column, or None for implicit pairs (1.0).
        timestamp: the time column, or None.
        sep: the field separator of a text file.
        header: whether a text file's first line names the columns.
        string_ids: keep every id as the string written in the file, never
            as an integer (ids matched against a vocabulary of strings, as
            :mod:`aerec.serve` does).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a table of interactions)")
    roles = {"user": user, "item": item, "value": value, "timestamp": timestamp}
    roles = {role: column for role, column in roles.items() if column is not None}
    if user == item:
        raise ConfigError(f"user={user!r} and item={item!r}: one column cannot be both the users and the items")
    if sep is not None and (sep == "" or any(c in sep for c in '"\r\n')):
        raise ConfigError(f"sep={sep!r}: a separator is one or more characters, not a quote or a line break")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, roles, string_ids)
    if sep is None:
        seps = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
        if path.suffix.lower() not in seps:
            raise ConfigError(f"cannot infer the separator of {path.name} (not .csv, .tsv, .txt or .parquet); pass sep= (aerec: --sep)")
        sep = seps[path.suffix.lower()]
    quoted = sep == ","

    if header:
        names = [n.strip() for n in _read_header(path, sep, quoted)]
        positions = {}
        for role, column in roles.items():
            if column not in names:
                raise DataError(
                    f"{path}:1: no column {column!r} in the header (columns: {', '.join(names)})"
                )
            if names.count(column) > 1:
                raise DataError(f"{path}:1: the header names the column {column!r} {names.count(column)} times")
            positions[role] = names.index(column)
    else:
        names = _first_line_fields(path, sep, quoted)
        positions = {}
        for role, column in roles.items():
            if not isinstance(column, int) or not 0 <= column < len(names):
                raise ConfigError(
                    f"{role}={column!r}: without a header, columns are positions "
                    f"0..{len(names) - 1}"
                )
            positions[role] = column
        names = [f"column {i}" for i in range(len(names))]
    kinds = {"user": "str", "item": "str", "value": "float", "timestamp": "int"}
    by_position = {p: role for role, p in positions.items()}
    fields = [
        _Field(name, kinds[by_position[i]] if i in by_position else "skip")
        for i, name in enumerate(names)
    ]
    arrays, vocabs = _read_columns([path], fields, sep, skip_lines=int(header), quoted=quoted)

    def ids(role: str) -> tuple[np.ndarray, np.ndarray | None]:
        codes, vocab = arrays[positions[role]], vocabs[positions[role]]
        integers = None if string_ids else vocab.as_integers()
        return (codes, vocab.ids()) if integers is None else (integers[codes], None)

    user_codes, user_ids = ids("user")
    item_codes, item_ids = ids("item")
    n = len(user_codes)
    values = arrays[positions["value"]] if "value" in positions else np.ones(n, np.float32)
    times = arrays[positions["timestamp"]] if "timestamp" in positions else None
    return Interactions(
        user_codes, item_codes, values, times, items=None, sources=[path],
        user_ids=user_ids, item_ids=item_ids,
    )  # fmt: skip


def _first_line_fields(path: Path, sep: str, quoted: bool) -> list[str]:
    """The fields of the first non-blank line (to count the columns of a headerless file)."""
    for block in _blocks([path]):
        for raw in block.data.split(b"\n"):
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if line:
                return _csv_fields(line, sep) if quoted else line.split(sep)
    raise DataError(f"{path}: the file is empty")


def _read_parquet(path: Path, roles: dict[str, str | int], string_ids: bool = False) -> Interactions:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        detail = " ".join(str(e).split())
        raise DataError(f"{path}: not a readable Parquet file: {detail}") from None
    schema = parquet.schema_arrow
    for column in roles.values():
        if column not in schema.names:
            raise DataError(f"{path}: no column {column!r} (columns: {', '.join(schema.names)})")
        if schema.names.count(column) > 1:
            raise DataError(f"{path}: the column {column!r} appears {schema.names.count(column)} times")

    def as_strings(role: str) -> bool:
        kind = schema.field(roles[role]).type
        if pa.types.is_dictionary(kind):  # e.g. a pandas categorical
            kind = kind.value_type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return True
        if not pa.types.is_integer(kind):
            return False
        return string_ids or (kind == pa.uint64() and _above_int64(parquet, roles[role]))

    vocabs = {role: _Vocab() for role in ("user", "item") if as_strings(role)}
    parts: dict[str, list[np.ndarray]] = {role: [] for role in roles}
    row = 0  # rows before this batch
    columns = list(dict.fromkeys(roles.values()))
    for batch in parquet.iter_batches(batch_size=1 << 20, columns=columns):
        for role, name in roles.items():
            parts[role].append(_parquet_values(path, row, role, name, batch.column(name), vocabs))
        row += batch.num_rows
    user = _cat(parts["user"], np.int64)
    item = _cat(parts["item"], np.int64)
    value = _cat(parts["value"], np.float32) if "value" in roles else np.ones(len(user), np.float32)
    times = _cat(parts["timestamp"], np.int64) if "timestamp" in roles else None
    return Interactions(
        user, item, value, times, items=None, sources=[path],
        user_ids=vocabs["user"].ids() if "user" in vocabs else None,
        item_ids=vocabs["item"].ids() if "item" in vocabs else None,
    )  # fmt: skip


def _parquet_values(
    path: Path, row: int, role: str, name: str, column: pa.Array, vocabs: dict[str, _Vocab]
) -> np.ndarray:
    """One batch of a Parquet column as numpy; ``row`` rows came before the batch."""
    kind = column.type
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{path}: row {row + first + 1}: {name} is missing")
    if role in vocabs:
        if not pa.types.is_string(kind):
            column = pc.cast(column, pa.string())  # integers as written (or above int64); categoricals
        blank = pc.match_substring_regex(column, r"^\s*$").to_numpy(zero_copy_only=False)
        if blank.any():
            raise DataError(f"{path}: row {row + int(np.flatnonzero(blank)[0]) + 1}: {name} is empty")
        return vocabs[role].encode(column)
    if role in ("user", "item"):
        if pa.types.is_integer(kind):
            return column.to_numpy().astype(np.int64, copy=False)
        raise DataError(f"{path}: column {name!r} has type {kind}; expected integers or strings")
    if role == "value":
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise DataError(f"{path}: column {name!r} has type {kind}; expected numbers")
        values = column.to_numpy().astype(np.float64, copy=False)
        bad = np.flatnonzero(~(np.abs(values) < _FLOAT32_LIMIT))
        if len(bad):
            first = int(bad[0])
            why = "is not finite" if not np.isfinite(values[first]) else "is too large (beyond float32's ±3.4e38)"
            raise DataError(f"{path}: row {row + first + 1}: {name} {why}: {values[first]}")
        return values.astype(np.float32)
    if kind == pa.uint64():
        values = column.to_numpy()
        if len(values) and values.max() >= 2**63:
            first = int(np.flatnonzero(values >= 2**63)[0])
            raise DataError(f"{path}: row {row + first + 1}: {name} {values[first]} is beyond int64 seconds")
    if pa.types.is_integer(kind):
        return column.to_numpy().astype(np.int64, copy=False)
    if pa.types.is_timestamp(kind):
        return pc.cast(column, pa.timestamp("s"), safe=False).cast(pa.int64()).to_numpy()
    if pa.types.is_date(kind):
        return pc.cast(column, pa.date32()).cast(pa.int32()).to_numpy().astype(np.int64) * 86400
    raise DataError(
        f"{path}: column {name!r} has type {kind}; expected seconds, timestamps or dates"
    )


def _above_int64(parquet, name: str) -> bool:
    """Whether a uint64 column of a Parquet file holds a value above 2**63 - 1 (read once, that column only)."""
    for batch in parquet.iter_batches(batch_size=1 << 20, columns=[name]):
        top = pc.max(batch.column(0)).as_py()
        if top is not None and top >= 2**63:
            return True
    return False


READERS: dict[str, Callable[..., Interactions]] = {
    "ml-100k": read_ml100k,
    "ml-1m": read_ml1m,
    "ml-20m": read_movielens_csv,
    "ml-latest-small": read_movielens_csv,
    "netflix": read_netflix,
    "msd": read_msd,
    "citeulike-a": read_citeulike,
    "lastfm-2k": read_lastfm,
}
